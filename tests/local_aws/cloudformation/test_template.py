"""Reading a template with the values it was deployed with."""

from __future__ import annotations

from typing import Any

import pytest

from local_aws.cloudformation.template import DeployedTemplate, ResourceRef, TemplateError

TEMPLATE: dict[str, Any] = {
    "Parameters": {
        "EnvironmentName": {"Type": "String", "Default": "demo"},
        "IngestPath": {"Type": "String", "Default": "direct"},
        "Topic": {"Type": "String", "Default": "/pressure/data"},
    },
    "Conditions": {
        "IsQueued": {"Fn::Equals": [{"Ref": "IngestPath"}, "queued"]},
        "IsDirect": {"Fn::Not": [{"Condition": "IsQueued"}]},
    },
    "Resources": {
        "Queue": {"Type": "AWS::SQS::Queue", "Condition": "IsQueued"},
        "Function": {"Type": "AWS::Lambda::Function"},
        "Rule": {
            "Type": "AWS::IoT::TopicRule",
            "Properties": {
                "RuleName": {"Fn::Sub": "${EnvironmentName}_pressure"},
                "Sql": {"Fn::Sub": "SELECT *, topic() AS topic FROM '${Topic}'"},
                "Actions": [
                    {
                        "Fn::If": [
                            "IsQueued",
                            {"Sqs": {"QueueUrl": {"Ref": "Queue"}}},
                            {"Ref": "AWS::NoValue"},
                        ]
                    },
                    {
                        "Fn::If": [
                            "IsDirect",
                            {"Lambda": {"FunctionArn": {"Fn::GetAtt": ["Function", "Arn"]}}},
                            {"Ref": "AWS::NoValue"},
                        ]
                    },
                ],
                "Name": {
                    "Fn::Join": ["-", [{"Ref": "AWS::Region"}, {"Fn::ImportValue": "demo-network-VpcId"}]]
                },
            },
        },
    },
}


def deployed(**parameters: str) -> DeployedTemplate:
    return DeployedTemplate(
        template=TEMPLATE,
        parameters=dict(parameters),
        region="us-east-1",
        account_id="123456789012",
        stack_name="demo-ingest",
        physical_ids={
            "Function": "demo-ingest",
            "Queue": "http://127.0.0.1:5000/123456789012/demo-ingest-queue",
        },
        exports={"demo-network-VpcId": "vpc-1"},
    )


def test_defaults_conditions_and_intrinsics_resolve() -> None:
    props = deployed().resolve(TEMPLATE["Resources"]["Rule"]["Properties"])
    assert props["RuleName"] == "demo_pressure"
    assert props["Sql"] == "SELECT *, topic() AS topic FROM '/pressure/data'"
    assert props["Actions"] == [{"Lambda": {"FunctionArn": ResourceRef("Function", "Arn")}}]
    assert props["Name"] == "us-east-1-vpc-1"


def test_deployed_parameters_win_over_defaults() -> None:
    template = deployed(IngestPath="queued", Topic="/p")
    props = template.resolve(TEMPLATE["Resources"]["Rule"]["Properties"])
    assert props["Actions"] == [{"Sqs": {"QueueUrl": ResourceRef("Queue")}}]
    assert set(template.of_type("AWS::SQS::Queue")) == {"Queue"}
    assert (
        template.physical(ResourceRef("Queue", "Arn"))
        == "arn:aws:sqs:us-east-1:123456789012:demo-ingest-queue"
    )
    assert not deployed().of_type("AWS::SQS::Queue")  # its condition is false on the direct path


def test_unknown_constructs_are_named() -> None:
    with pytest.raises(TemplateError, match="Fn::Base64 is not evaluated"):
        deployed().resolve({"Fn::Base64": "x"})
    with pytest.raises(TemplateError, match="export demo-x is not deployed"):
        deployed().resolve({"Fn::ImportValue": "demo-x"})
