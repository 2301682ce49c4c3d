"""What the deploy tool asks the account before a deploy, against moto's server (the cloud cannot run here):
the edge stack's CloudFront prefix list and VPC-origin group, and that environments keep their topics apart."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from infrastructure.deploy import DeployError
from infrastructure.stacks import edge, ingest
from tests.support.deployer import deployer


def stack_with(endpoint: str, name: str, parameters: dict[str, str], outputs: dict[str, str]) -> None:
    """STAND-IN for a deployed stack: only its parameters and outputs matter here."""
    template: dict[str, Any] = {
        "Parameters": {key: {"Type": "String"} for key in parameters},
        "Resources": {"Nothing": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {key: {"Value": value} for key, value in outputs.items()},
    }
    boto3.client("cloudformation", endpoint_url=endpoint).create_stack(
        StackName=name,
        TemplateBody=json.dumps(template),
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
    )


def test_an_environment_may_not_read_another_environment_s_topics(endpoint: str) -> None:
    stack_with(endpoint, "demo-ingest", {"PressureTopic": "/pressure/data", "ShelfTopic": "/shelf/data"}, {})
    tool = deployer(endpoint, "staging")
    template = json.loads(ingest.build().to_json())
    with pytest.raises(DeployError) as refused:
        tool.check_topics_apart(template, [], None)  # the defaults: the catalog's topics, demo's too
    message = str(refused.value)
    assert "\n" not in message and "demo-ingest's rules read too" in message
    assert "--param PressureTopic=/staging/pressure/data" in message
    own = [
        {"ParameterKey": "PressureTopic", "ParameterValue": "/staging/pressure/data"},
        {"ParameterKey": "ShelfTopic", "ParameterValue": "/staging/shelf/data"},
    ]
    tool.check_topics_apart(template, own, None)  # its own topics: deployed
    deployer(endpoint, "demo").check_topics_apart(template, [], None)  # its own stack is no other


def test_the_edge_parameters_come_from_the_account(endpoint: str) -> None:
    tool = deployer(endpoint, "demo")
    assert tool.edge_lookups() == {}  # locally: the template's defaults (moto has neither)
    tool.local = False  # as on AWS, against moto's EC2
    ec2 = boto3.client("ec2", endpoint_url=endpoint)
    vpc = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
    stack_with(endpoint, "demo-network", {}, {"VpcId": vpc})
    assert edge.VPC_ORIGIN_GROUP_PARAMETER not in tool.edge_lookups()  # CloudFront has made no group yet
    # AWS's list (moto has it as AWS has it in every region), not one of the same name an account made.
    lists = ec2.describe_managed_prefix_lists(
        Filters=[{"Name": "prefix-list-name", "Values": [edge.PREFIX_LIST_NAME]}]
    )["PrefixLists"]
    [listed] = [p["PrefixListId"] for p in lists]
    ec2.create_managed_prefix_list(PrefixListName=edge.PREFIX_LIST_NAME, AddressFamily="IPv4", MaxEntries=5)
    # STAND-IN for the group CloudFront makes in the VPC with the first VPC origin.
    group = ec2.create_security_group(
        GroupName=edge.VPC_ORIGIN_GROUP_NAME, Description="CloudFront VPC origins", VpcId=vpc
    )["GroupId"]
    ec2.create_security_group(GroupName=edge.VPC_ORIGIN_GROUP_NAME, Description="another VPC's")
    assert tool.edge_lookups() == {edge.PREFIX_LIST_PARAMETER: listed, edge.VPC_ORIGIN_GROUP_PARAMETER: group}


def test_the_vpc_origin_group_is_admitted_once_known() -> None:
    template = json.loads(edge.build().to_json())
    ingress = template["Resources"]["VpcOriginIngress"]
    assert ingress["Condition"] == edge.HAS_VPC_ORIGIN_GROUP
    assert ingress["Properties"]["SourceSecurityGroupId"] == {"Ref": edge.VPC_ORIGIN_GROUP_PARAMETER}
    assert (ingress["Properties"]["FromPort"], ingress["Properties"]["ToPort"]) == (80, 80)
    group = template["Resources"]["LoadBalancerSecurityGroup"]["Properties"]
    assert {(r["FromPort"], r["ToPort"]) for r in group["SecurityGroupEgress"]} == {
        (3000, 3000),
        (8888, 8888),
    }
    assert template["Parameters"][edge.VPC_ORIGIN_GROUP_PARAMETER]["Default"] == ""
