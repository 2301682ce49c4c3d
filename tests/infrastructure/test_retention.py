"""What a deleted stack keeps, asserted on the synthesized templates, and how the deploy tool takes it back
(infrastructure/reattach.py: found by name; infrastructure/compat.py: named directly on moto)."""

from __future__ import annotations

import io
import json
from types import SimpleNamespace
from typing import Any

import pytest
from botocore.exceptions import ClientError
from rich.console import Console
from troposphere import GetAtt, Output, Parameter, Ref, Sub, Template, sqs

from infrastructure import compat, reattach
from infrastructure.deploy import Deployer
from infrastructure.reattach import Found
from infrastructure.registry import StackDefinition
from infrastructure.retention import RETAIN

# stack -> the resources it keeps when deleted or replaced: the data, the key that reads them, the readings not
# yet replayed, the audit logs, and the secrets the retained data and a registered service depend on.
RETAINED = {
    "network": {"DataKey", "DataKeyAlias", "FlowLogGroup"},
    "storage": {"FileSystem"},
    "edge": {"LogsBucket"},
    "influxdb": {"AdminSecret", "WriterSecret", "ReaderSecret", "BackupBucket"},
    "ingest": {"MetadataTable", "DeadLetterQueue", "RejectedQueue", "StreamFailureBucket"},
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


class ImportingCloudFormation:
    """Stands in for CloudFormation's API, which cannot run here (moto takes no IMPORT change set), answering as
    its documentation says: an IMPORT change set on a new stack name creates the stack with only the imported
    resources (IMPORT_COMPLETE); the next UPDATE change set adds the rest (UPDATE_COMPLETE)."""

    def __init__(self) -> None:
        self.change_sets: list[dict[str, Any]] = []
        self.status: str | None = None
        self.template = ""

    def describe_stacks(self, **request: str) -> dict[str, Any]:
        if self.status is None:
            raise ClientError(
                {"Error": {"Code": "ValidationError", "Message": "does not exist"}}, "DescribeStacks"
            )
        return {"Stacks": [{"StackName": request["StackName"], "StackStatus": self.status, "Parameters": []}]}

    def create_change_set(self, **request: Any) -> dict[str, str]:
        self.change_sets.append(request)
        return {"Id": request["ChangeSetName"]}

    def get_waiter(self, name: str) -> Any:
        return SimpleNamespace(wait=lambda **kwargs: None)

    def describe_change_set(self, **kwargs: Any) -> dict[str, Any]:
        return {"Changes": []}

    def execute_change_set(self, **kwargs: Any) -> None:
        request = self.change_sets[-1]
        self.status = f"{request['ChangeSetType']}_COMPLETE"
        self.template = request["TemplateBody"]

    def describe_stack_events(self, **request: str) -> dict[str, Any]:
        return {"StackEvents": []}

    def get_template(self, **request: str) -> dict[str, Any]:
        return {"TemplateBody": self.template}


def kept_queue_stack() -> Template:
    template = Template()
    template.add_parameter(Parameter("EnvironmentName", Type="String", Default="demo"))
    queue = template.add_resource(sqs.Queue("Kept", QueueName=Sub("${EnvironmentName}-kept"), **RETAIN))
    template.add_resource(
        sqs.Queue(
            "Work",
            RedrivePolicy=sqs.RedrivePolicy(deadLetterTargetArn=GetAtt(queue, "Arn"), maxReceiveCount=5),
        )
    )
    template.add_output(Output("KeptUrl", Value=Ref(queue)))
    return template


def test_on_aws_a_create_imports_what_was_retained_then_adds_the_rest(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url = "https://sqs.eu-west-1.amazonaws.com/123456789012/demo-kept"
    services = {
        "sts": SimpleNamespace(get_caller_identity=lambda: {"Account": "123456789012"}),
        "sqs": SimpleNamespace(
            get_queue_url=lambda **request: {"QueueUrl": url},
            get_queue_attributes=lambda **kwargs: {
                "Attributes": {"QueueArn": "arn:aws:sqs:eu-west-1:123456789012:demo-kept"}
            },
        ),
    }
    deployer = Deployer(
        environment="demo",
        region="eu-west-1",
        assume_yes=True,
        poll_seconds=0,
        console=Console(file=io.StringIO()),
        stacks={"kept": StackDefinition(name="kept", build=kept_queue_stack, depends_on=())},
    )
    cloudformation = ImportingCloudFormation()
    deployer.cloudformation = cloudformation
    monkeypatch.setattr(deployer, "client", lambda service: services[service])

    assert deployer.deploy("kept") == "deployed"
    imported, update = cloudformation.change_sets
    assert imported["ChangeSetType"] == "IMPORT"
    assert imported["ResourcesToImport"] == [
        {
            "ResourceType": "AWS::SQS::Queue",
            "LogicalResourceId": "Kept",
            "ResourceIdentifier": {"QueueUrl": url},
        }
    ]
    body = json.loads(imported["TemplateBody"])
    assert set(body["Resources"]) == {"Kept"} and "Outputs" not in body  # an import adds no output
    assert update["ChangeSetType"] == "UPDATE"
    assert set(json.loads(update["TemplateBody"])["Resources"]) == {"Kept", "Work"}
