"""The security defaults, each asserted on the synthesized templates."""

from __future__ import annotations

import json
from typing import Any

import pytest

from infrastructure.stacks import edge, influxdb
from tests.support.templates import of_type, one


def test_efs_encrypted_an_access_point_per_service_reachable_only_from_the_cluster(
    templates: dict[str, Any],
) -> None:
    storage = templates["storage"]
    assert one(storage, "AWS::EFS::FileSystem")["Encrypted"] is True
    points = of_type(storage, "AWS::EFS::AccessPoint")
    assert {p["Properties"]["RootDirectory"]["Path"] for p in points.values()} == {
        "/influxdb",
        "/grafana",
        "/chronograf",
    }
    mount = storage["Resources"]["MountTargetSecurityGroup"]["Properties"]
    sources = [rule["SourceSecurityGroupId"] for rule in mount["SecurityGroupIngress"]]
    assert sources == [
        {"Fn::ImportValue": {"Fn::Sub": "${EnvironmentName}-cluster-HostSecurityGroupId"}},
        {"Ref": "ClientSecurityGroup"},
    ]
    assert all("CidrIp" not in rule for rule in mount["SecurityGroupIngress"])
    for service in ("influxdb", "grafana", "chronograf"):
        volume = one(templates[service], "AWS::ECS::TaskDefinition")["Volumes"][0]["EFSVolumeConfiguration"]
        assert volume["TransitEncryption"] == "ENABLED"
        assert volume["AuthorizationConfig"]["AccessPointId"] == {
            "Fn::ImportValue": {
                "Fn::Sub": f"${{EnvironmentName}}-storage-{service.capitalize()}AccessPointId"
            }
        }


def test_influxdb_port_only_from_ingest_grafana_and_chronograf(templates: dict[str, Any]) -> None:
    group = templates["influxdb"]["Resources"]["InfluxdbSecurityGroup"]["Properties"]
    assert [(r["FromPort"], r["SourceSecurityGroupId"]) for r in group["SecurityGroupIngress"]] == [
        (8086, {"Ref": f"{client.capitalize()}ClientSecurityGroup"})
        for client in ("ingest", "grafana", "chronograf")
    ]
    function = one(templates["ingest"], "AWS::Lambda::Function")
    assert function["VpcConfig"]["SecurityGroupIds"] == [
        influxdb.client_security_group("ingest").imported().to_dict()
    ]
    for service in ("grafana", "chronograf"):
        groups = one(templates[service], "AWS::ECS::Service")["NetworkConfiguration"]["AwsvpcConfiguration"]
        assert influxdb.client_security_group(service).imported().to_dict() in groups["SecurityGroups"]


@pytest.mark.parametrize("service", ["influxdb", "grafana", "chronograf"])
def test_exactly_one_task_and_no_autoscaling(templates: dict[str, Any], service: str) -> None:
    props = one(templates[service], "AWS::ECS::Service")
    assert props["DesiredCount"] == 1
    assert props["DeploymentConfiguration"]["MaximumPercent"] == 100
    assert props["DeploymentConfiguration"]["MinimumHealthyPercent"] == 0
    assert not any(
        r["Type"].startswith("AWS::ApplicationAutoScaling::")
        for r in templates[service]["Resources"].values()
    )


def test_credentials_generated_in_secrets_manager_and_handed_as_secrets(templates: dict[str, Any]) -> None:
    secrets = of_type(templates["influxdb"], "AWS::SecretsManager::Secret")
    names = {s["Properties"]["Name"]["Fn::Sub"] for s in secrets.values()}
    assert names == {f"${{EnvironmentName}}/influxdb/{role}" for role in ("admin", "writer", "reader")}
    for secret in secrets.values():
        generated = secret["Properties"]["GenerateSecretString"]
        assert generated["GenerateStringKey"] == "password"
        assert set(json.loads(generated["SecretStringTemplate"])) == {"username"}
    for service in ("influxdb", "grafana", "chronograf"):
        container = one(templates[service], "AWS::ECS::TaskDefinition")["ContainerDefinitions"][0]
        plain = {e["Name"] for e in container["Environment"]}
        handed = {s["Name"] for s in container["Secrets"]}
        assert not {n for n in plain if "PASSWORD" in n or n.endswith("_TOKEN")}, service
        assert {n for n in handed if "PASSWORD" in n or n == "INFLUXDB_READER"}, service
        for secret in container["Secrets"]:
            if (
                secret["Name"] == "INFLUXDB_READER"
            ):  # the reader's whole secret: a token or username and password
                assert secret["ValueFrom"] == {
                    "Fn::ImportValue": {"Fn::Sub": "${EnvironmentName}-influxdb-ReaderSecretArn"}
                }
                continue
            assert secret["ValueFrom"]["Fn::Sub"][0].endswith(
                # certificate:: and private_key::: InfluxDB's TLS (its certificate and CA, its key), which the deploy
                # tool makes (infrastructure/influx_tls.py)
                (
                    "username::",
                    "password::",
                    "client_id::",
                    "client_secret::",
                    "token_secret::",
                    "certificate::",
                    "private_key::",
                )
            )
    assert not any("assword" in name for t in templates.values() for name in t["Parameters"])


def test_load_balancer_only_from_cloudfront_and_only_with_the_origin_verify_header(
    templates: dict[str, Any],
) -> None:
    group = templates["edge"]["Resources"]["LoadBalancerSecurityGroup"]["Properties"]
    (rule,) = group["SecurityGroupIngress"]
    assert rule["SourcePrefixListId"] == {"Ref": "CloudFrontPrefixListId"} and "CidrIp" not in rule
    listener = one(templates["edge"], "AWS::ElasticLoadBalancingV2::Listener")
    assert listener["DefaultActions"][0]["FixedResponseConfig"]["StatusCode"] == "403"
    distribution = one(templates["edge"], "AWS::CloudFront::Distribution")["DistributionConfig"]
    behaviours = [distribution["DefaultCacheBehavior"], *distribution["CacheBehaviors"]]
    assert {b["ViewerProtocolPolicy"] for b in behaviours} == {"https-only"}
    alb_origin = next(o for o in distribution["Origins"] if o["Id"] == "alb")
    (header,) = alb_origin["OriginCustomHeaders"]
    assert header["HeaderName"] == edge.ORIGIN_VERIFY_HEADER
    for service in ("grafana", "chronograf"):
        conditions = one(templates[service], "AWS::ElasticLoadBalancingV2::ListenerRule")["Conditions"]
        checked = next(c["HttpHeaderConfig"] for c in conditions if c["Field"] == "http-header")
        assert checked["HttpHeaderName"] == edge.ORIGIN_VERIFY_HEADER
        assert "{{resolve:secretsmanager:${Secret}:SecretString:token}}" in json.dumps(checked["Values"])


def test_console_bucket_private_behind_origin_access_control(templates: dict[str, Any]) -> None:
    bucket = templates["edge"]["Resources"]["ConsoleBucket"]["Properties"]
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    distribution = one(templates["edge"], "AWS::CloudFront::Distribution")["DistributionConfig"]
    console = next(o for o in distribution["Origins"] if o["Id"] == "console")
    assert console["OriginAccessControlId"] == {"Ref": "ConsoleOriginAccessControl"}
    policy = templates["edge"]["Resources"]["ConsoleBucketPolicy"]["Properties"]["PolicyDocument"]
    allow = next(s for s in policy["Statement"] if s["Effect"] == "Allow")
    assert allow["Principal"] == {"Service": "cloudfront.amazonaws.com"}
    assert "AWS:SourceArn" in allow["Condition"]["StringEquals"]


def test_imdsv2_flow_logs_log_retention_and_encrypted_queues(templates: dict[str, Any]) -> None:
    launch = one(templates["cluster"], "AWS::EC2::LaunchTemplate")["LaunchTemplateData"]
    assert launch["MetadataOptions"]["HttpTokens"] == "required"
    assert one(templates["network"], "AWS::EC2::FlowLog")["TrafficType"] == "ALL"
    groups = [g for t in templates.values() for g in of_type(t, "AWS::Logs::LogGroup").values()]
    assert len(groups) >= 5 and all(g["Properties"]["RetentionInDays"] > 0 for g in groups)
    queues = of_type(templates["ingest"], "AWS::SQS::Queue")
    assert len(queues) == 3 and all("KmsMasterKeyId" in q["Properties"] for q in queues.values())


def test_no_policy_allows_every_action_on_every_resource(templates: dict[str, Any]) -> None:
    for name, template in templates.items():
        for logical_id, resource in template["Resources"].items():
            if resource["Type"] == "AWS::KMS::Key":
                continue  # a key policy's "*" resource is the key itself
            for statement in _statements(resource):
                actions = statement.get("Action", [])
                actions = actions if isinstance(actions, list) else [actions]
                if statement.get("Effect") == "Allow" and statement.get("Resource") in ("*", ["*"]):
                    assert not any(a == "*" or a.endswith(":*") for a in actions), (name, logical_id)


def _statements(node: Any) -> list[dict[str, Any]]:
    found = []
    if isinstance(node, dict):
        if "Statement" in node and isinstance(node["Statement"], list):
            found += node["Statement"]
        for value in node.values():
            found += _statements(value)
    elif isinstance(node, list):
        for item in node:
            found += _statements(item)
    return found
