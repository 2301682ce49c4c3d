"""deploy --all, again (no changes), destroy --all and deploy --all again (taking back what was retained)
against moto's server.

moto plays the AWS APIs here (the cloud itself cannot run in a test). It does not model CloudFront, Secrets
Manager secrets, Cloud Map, IoT topic rules, CloudWatch alarms or ECS capacity providers: those resources are in
the templates (asserted in test_security.py / test_ingest_template.py) but cannot be seen through moto's APIs.
"""

from __future__ import annotations

import io
import json
from typing import Any
from urllib.parse import urlparse

import boto3
import pytest
from rich.console import Console
from troposphere import Template, ssm

from infrastructure import compat
from infrastructure.cli import main
from infrastructure.deploy import INLINE_TEMPLATE_LIMIT, Deployer
from infrastructure.registry import StackDefinition


def text(capsys: pytest.CaptureFixture[str]) -> str:
    captured = capsys.readouterr()  # errors go to standard error
    return " ".join((captured.out + captured.err).split())  # rich wraps long lines


def run(*argv: str) -> int:
    return main(list(argv))


def test_deploy_all_again_destroy_and_deploy_again(endpoint: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("deploy", "--all", "--yes", "--endpoint-url", endpoint) == 0

    def client(name: str) -> Any:
        return boto3.client(name, endpoint_url=endpoint)  # type: ignore[call-overload]

    cloudformation = client("cloudformation")
    stacks = {s["StackName"]: s["StackStatus"] for s in cloudformation.describe_stacks()["Stacks"]}
    assert "demo-chronograf" not in stacks  # no login given: --all leaves it out
    login = [
        "--param=OAuthSecretArn=arn:aws:secretsmanager:us-east-1:123456789012:secret:demo/chronograf/oauth-AbCdEf",
        *(
            f"--param=OAuth{n}Url=https://login.example.com/oauth2/{n.lower()}"
            for n in ("Auth", "Token", "Api")
        ),
        "--param=OAuthDomains=example.com",
    ]
    assert run("deploy", "chronograf", "--yes", "--endpoint-url", endpoint, *login) == 0
    stacks = {s["StackName"]: s["StackStatus"] for s in cloudformation.describe_stacks()["Stacks"]}
    expected = {
        f"demo-{n}"
        for n in ("network", "cluster", "storage", "edge", "influxdb", "grafana", "chronograf", "ingest")
    }
    assert {name: stacks.get(name) for name in expected} == dict.fromkeys(expected, "CREATE_COMPLETE")

    ec2 = client("ec2")
    (vpc,) = [v for v in ec2.describe_vpcs()["Vpcs"] if v["CidrBlock"] == "10.0.0.0/16"]
    assert len(ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]}])["Subnets"]) == 4
    assert client("ecs").describe_clusters(clusters=["demo-cluster"])["clusters"][0]["status"] == "ACTIVE"
    services = client("ecs").list_services(cluster="demo-cluster")["serviceArns"]
    assert {arn.rsplit("/", 1)[-1] for arn in services} == {"influxdb", "grafana", "chronograf"}
    efs = client("efs")
    (file_system,) = efs.describe_file_systems()["FileSystems"]
    assert file_system["Encrypted"]
    assert len(efs.describe_access_points(FileSystemId=file_system["FileSystemId"])["AccessPoints"]) == 3
    elbv2 = client("elbv2")
    (balancer,) = elbv2.describe_load_balancers()["LoadBalancers"]
    (listener,) = elbv2.describe_listeners(LoadBalancerArn=balancer["LoadBalancerArn"])["Listeners"]
    paths = {
        value
        for rule in elbv2.describe_rules(ListenerArn=listener["ListenerArn"])["Rules"]
        for condition in rule["Conditions"]
        if condition["Field"] == "path-pattern"
        for value in condition.get("PathPatternConfig", {}).get("Values", condition.get("Values", []))
    }
    assert paths == {"/grafana*", "/chronograf*"}
    console_bucket = next(b["Name"] for b in client("s3").list_buckets()["Buckets"] if "console" in b["Name"])
    page = client("s3").get_object(Bucket=console_bucket, Key="index.html")
    assert page["ContentType"] == "text/html" and b'href="/grafana/"' in page["Body"].read()
    table = client("dynamodb").describe_table(TableName="demo-DeviceMetaData")["Table"]
    assert table["KeySchema"] == [{"AttributeName": "metakey", "KeyType": "HASH"}]
    function = client("lambda").get_function(FunctionName="demo-ingest")["Configuration"]
    assert function["Runtime"] == "python3.12"
    queues = client("sqs").list_queues()["QueueUrls"]
    assert {url.rsplit("/", 1)[-1] for url in queues} >= {"demo-ingest-dead-letters", "demo-ingest-rejected"}
    roles = {r["RoleName"] for r in client("iam").list_roles()["Roles"]}
    assert any("FunctionRole" in name for name in roles) and any("InfluxdbTaskRole" in name for name in roles)
    capsys.readouterr()

    assert run("deploy", "--all", "--yes", "--endpoint-url", endpoint) == 0
    assert "every stack: no changes" in text(capsys)

    kept = retained_state(client)
    client("dynamodb").put_item(TableName="demo-DeviceMetaData", Item={"metakey": {"S": "kept"}})
    dead_letters = client("sqs").get_queue_url(QueueName="demo-ingest-dead-letters")["QueueUrl"]
    client("sqs").send_message(QueueUrl=dead_letters, MessageBody='{"reading": "not replayed yet"}')

    assert run("destroy", "--all", "--yes", "--endpoint-url", endpoint) == 0
    left = [
        s["StackName"]
        for s in cloudformation.describe_stacks()["Stacks"]
        if s["StackStatus"] != "DELETE_COMPLETE"
    ]
    assert not [name for name in left if name in expected]
    # The key and its alias are still there (moto deletes a stack's key at once; DescribeKey fails on a key
    # moto's CloudFormation made: infrastructure/compat.py).
    aliases = {a["AliasName"]: a.get("TargetKeyId") for a in client("kms").list_aliases()["Aliases"]}
    key_id = kept["key"].rsplit("/", 1)[-1]
    assert aliases["alias/demo-data"] == key_id
    assert key_id in {k["KeyId"] for k in client("kms").list_keys()["Keys"]}

    # The next create takes back what the stacks kept: the same key, file system, table and queues.
    capsys.readouterr()
    assert run("deploy", "--all", "--yes", "--endpoint-url", endpoint) == 0
    assert "takes back the retained DataKey" in text(capsys)
    assert retained_state(client) == kept
    assert len(client("efs").describe_file_systems()["FileSystems"]) == 1
    item = client("dynamodb").get_item(TableName="demo-DeviceMetaData", Key={"metakey": {"S": "kept"}})
    assert "Item" in item
    messages = client("sqs").receive_message(QueueUrl=dead_letters).get("Messages", [])
    assert [m["Body"] for m in messages] == ['{"reading": "not replayed yet"}']
    groups = client("logs").describe_log_groups(logGroupNamePrefix="/demo/vpc-flow-logs")["logGroups"]
    assert len(groups) == 1
    assert run("deploy", "--all", "--yes", "--endpoint-url", endpoint) == 0  # and again: no changes
    assert "every stack: no changes" in text(capsys)


def retained_state(client: Any) -> dict[str, str]:
    """What the stacks export of the resources they keep when deleted (a queue by its URL's path: moto's
    CloudFormation and its GetQueueUrl give the same queue different hosts)."""
    exports = {e["Name"]: e["Value"] for e in client("cloudformation").list_exports()["Exports"]}
    return {
        "key": exports["demo-network-DataKeyArn"],
        "file system": exports["demo-storage-FileSystemId"],
        "table": exports["demo-ingest-MetadataTableArn"],
        "dead letters": urlparse(exports["demo-ingest-DeadLetterQueueUrl"]).path,
        "rejected": urlparse(exports["demo-ingest-RejectedQueueUrl"]).path,
    }


def test_a_missing_dependency_names_the_stack_to_deploy_first(
    endpoint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run("deploy", "storage", "--yes", "--endpoint-url", endpoint) == 1
    assert "needs demo-network, which is not deployed: deploy network first" in text(capsys)


def test_local_pass_replaces_only_references_to_types_moto_skips() -> None:
    template = {
        "Resources": {"D": {"Type": "AWS::CloudFront::Distribution"}, "Q": {"Type": "AWS::SQS::Queue"}},
        "Outputs": {
            "A": {"Value": {"Fn::GetAtt": ["D", "DomainName"]}},
            "B": {"Value": {"Ref": "D"}},
            "C": {"Value": {"Fn::GetAtt": ["Q", "Arn"]}},
        },
    }
    local = compat.local_template(template)
    assert local["Outputs"] == {
        "A": {"Value": "d.domainname.local"},
        "B": {"Value": "d.local"},
        "C": {"Value": {"Fn::GetAtt": ["Q", "Arn"]}},
    }
    assert compat.is_local("http://127.0.0.1:45000") and not compat.is_local(None)
    assert not compat.is_local("https://cloudformation.us-east-1.amazonaws.com")


def large_template() -> Template:
    """A template above CloudFormation's 51,200-byte inline limit (SSM parameters moto can create)."""
    template = Template(Description="more than fifty kilobytes of template")
    for number in range(16):
        template.add_resource(
            ssm.Parameter(f"Large{number}", Name=f"/large/{number}", Type="String", Value="x" * 4000)
        )
    return template


def test_a_template_above_the_inline_limit_deploys_through_s3(endpoint: str) -> None:
    assert len(json.dumps(json.loads(large_template().to_json())).encode()) > INLINE_TEMPLATE_LIMIT
    deployer = Deployer(
        environment="large",
        endpoint_url=endpoint,
        assume_yes=True,
        stacks={"large": StackDefinition(name="large", build=large_template, depends_on=())},
        console=Console(file=io.StringIO()),
    )
    assert deployer.deploy("large") == "deployed"
    cloudformation = boto3.client("cloudformation", endpoint_url=endpoint)
    assert (
        cloudformation.describe_stacks(StackName="large-large")["Stacks"][0]["StackStatus"]
        == "CREATE_COMPLETE"
    )
    s3 = boto3.client("s3", endpoint_url=endpoint)
    bucket = deployer.artifacts_bucket()
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="templates/")["Contents"]]
    assert len(keys) == 1 and keys[0].startswith("templates/large-large-")
    assert deployer.deploy("large") == "no changes"  # the stored copy is what is deployed
    assert deployer.template_source("small", {"Resources": {}}) == {"TemplateBody": '{"Resources": {}}'}
