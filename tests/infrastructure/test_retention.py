"""What a deleted stack keeps, asserted on the synthesized templates, and how the deploy tool takes it back
(infrastructure/reattach.py: found by name; infrastructure/compat.py: named directly on moto)."""

from __future__ import annotations

from typing import Any

import pytest

from infrastructure import compat, reattach
from infrastructure.reattach import Found

# stack -> the resources it keeps when deleted or replaced: the data, the key that reads them, the readings not
# yet replayed, the audit logs, and the secrets the retained data and a registered service depend on.
RETAINED = {
    "network": {"DataKey", "DataKeyAlias", "FlowLogGroup"},
    "storage": {"FileSystem"},
    "edge": {"LogsBucket"},
    "influxdb": {"AdminSecret", "WriterSecret", "ReaderSecret"},
    "ingest": {"MetadataTable", "DeadLetterQueue", "RejectedQueue"},
    "webhook": {"AccessLogGroup", "CallbackSecret"},
}
VALUES = {
    "EnvironmentName": "demo",
    "AWS::Region": "eu-west-1",
    "AWS::AccountId": "123456789012",
    "AWS::Partition": "aws",
}


def kept(resource: dict[str, Any]) -> bool:
    return resource.get("DeletionPolicy") == "Retain" and resource.get("UpdateReplacePolicy") == "Retain"


@pytest.mark.parametrize("stack", sorted(RETAINED))
def test_each_retention_point_keeps_its_resource_on_delete_and_on_replacement(
    templates: dict[str, Any], stack: str
) -> None:
    resources = templates[stack]["Resources"]
    assert {name for name, resource in resources.items() if kept(resource)} == RETAINED[stack]
    # no half-kept resource: DeletionPolicy alone still loses it when an update replaces it
    assert {name for name, r in resources.items() if "DeletionPolicy" in r} == RETAINED[stack]


def test_no_stack_but_those_keeps_anything(templates: dict[str, Any]) -> None:
    for stack, template in templates.items():
        if stack not in RETAINED:
            assert not reattach.retained(template), stack


def test_the_metadata_table_is_protected_from_deletion(templates: dict[str, Any]) -> None:
    table = templates["ingest"]["Resources"]["MetadataTable"]
    assert table["Properties"]["DeletionProtectionEnabled"] is True


def test_the_data_key_is_found_again_by_its_retained_alias(templates: dict[str, Any]) -> None:
    resources = templates["network"]["Resources"]
    alias = resources["DataKeyAlias"]["Properties"]
    assert alias["TargetKeyId"] == {"Ref": "DataKey"}
    assert reattach.resolve(alias["AliasName"], VALUES) == "alias/demo-data"
    # the file system and the table are encrypted with it
    assert templates["storage"]["Resources"]["FileSystem"]["Properties"]["KmsKeyId"] == {
        "Fn::ImportValue": {"Fn::Sub": "${EnvironmentName}-network-DataKeyArn"}
    }


@pytest.mark.parametrize("stack", sorted(RETAINED))
def test_every_retained_resource_with_a_fixed_name_can_be_found_by_it(
    templates: dict[str, Any], stack: str
) -> None:
    """So no fixed name blocks the next create: the deploy tool takes the resource back instead."""
    for name, resource in reattach.retained(templates[stack]).items():
        kind, properties = resource["Type"], resource.get("Properties", {})
        if kind == "AWS::KMS::Key":
            continue  # no name: found by the alias above
        if kind == "AWS::EFS::FileSystem":
            assert reattach.resolve(reattach._name_tag(properties), VALUES) == "demo-services"
        elif kind == "AWS::S3::Bucket":
            assert "BucketName" not in properties, f"{name}: a fixed bucket name would block the next create"
        else:
            prop, _finder = reattach._BY_NAME[kind]
            resolved = reattach.resolve(properties[prop], VALUES)
            assert resolved and "${" not in resolved, (name, resolved)


def found(logical_id: str, ref: str, **attributes: str) -> Found:
    return Found(logical_id, "AWS::SQS::Queue", {"QueueUrl": ref}, ref, attributes)


TEMPLATE: dict[str, Any] = {
    "Parameters": {"EnvironmentName": {"Type": "String"}},
    "Resources": {
        "Key": {"Type": "AWS::KMS::Key", "DeletionPolicy": "Retain"},
        "Dead": {
            "Type": "AWS::SQS::Queue",
            "DeletionPolicy": "Retain",
            "Properties": {"KmsMasterKeyId": "k"},
        },
        "Work": {
            "Type": "AWS::SQS::Queue",
            "DependsOn": ["Dead", "Key"],
            "Properties": {
                "RedrivePolicy": {"deadLetterTargetArn": {"Fn::GetAtt": ["Dead", "Arn"]}},
                "Tags": [{"Key": "dead", "Value": {"Fn::Sub": "${Dead} ${Dead.QueueName} ${Work.Arn}"}}],
            },
        },
        "Uses": {"Type": "AWS::SQS::Queue", "DeletionPolicy": "Retain", "Properties": {"X": {"Ref": "Work"}}},
    },
    "Outputs": {"DeadUrl": {"Value": {"Ref": "Dead"}}},
}


def test_moto_takes_retained_resources_named_directly() -> None:
    """moto takes no IMPORT change set: the found resource leaves the template and is named where it was
    referred to."""
    local = compat.attach_retained(
        TEMPLATE, [found("Dead", "https://q/dead", Arn="arn:dead", QueueName="dead")]
    )
    assert set(local["Resources"]) == {"Key", "Work", "Uses"}
    work = local["Resources"]["Work"]
    assert work["DependsOn"] == ["Key"]
    assert work["Properties"]["RedrivePolicy"] == {"deadLetterTargetArn": "arn:dead"}
    assert work["Properties"]["Tags"][0]["Value"] == {"Fn::Sub": "https://q/dead dead ${Work.Arn}"}
    assert local["Outputs"] == {"DeadUrl": {"Value": "https://q/dead"}}


def test_an_import_holds_only_found_resources_that_refer_to_no_other() -> None:
    items = [found("Dead", "u1"), found("Uses", "u2")]
    assert [item.logical_id for item in reattach.importable(TEMPLATE, items)] == ["Dead"]
    body = reattach.import_template(TEMPLATE, [items[0]])
    assert set(body["Resources"]) == {"Dead"} and "Outputs" not in body
    assert body["Parameters"] == TEMPLATE["Parameters"]
    assert items[0].to_import() == {
        "ResourceType": "AWS::SQS::Queue",
        "LogicalResourceId": "Dead",
        "ResourceIdentifier": {"QueueUrl": "u1"},
    }


def test_names_resolve_from_parameters_or_not_at_all() -> None:
    assert reattach.resolve({"Fn::Sub": "${EnvironmentName}-x-${AWS::Region}"}, VALUES) == "demo-x-eu-west-1"
    assert reattach.resolve({"Ref": "EnvironmentName"}, VALUES) == "demo"
    assert reattach.resolve({"Fn::Sub": "${Unknown}-x"}, VALUES) is None
    given = {
        "Fn::Sub": ["${EnvironmentName}-${X}", {"X": "y", "EnvironmentName": {"Ref": "EnvironmentName"}}]
    }
    assert reattach.resolve(given, VALUES) == "demo-y"
    assert reattach.resolve({"Fn::Join": ["-", ["a"]]}, VALUES) is None
