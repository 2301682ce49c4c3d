"""Redeploying the ingest stack on a running deployment (moto's server, playing CloudFormation) works the first
time for every change a user makes: a kind added, a topic changed, a kind removed, IngestPath switched both ways.

moto updated a resource whose condition is false as if it were true, so the direct path's first redeploy failed
with "Fn::GetAtt references undefined resource IngestQueue" (infrastructure/compat.py says why and how the local
template avoids it); `test_moto_updates_a_resource_whose_condition_is_false` shows moto still does.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from catalog.loader import DEFAULT_FOLDER, FOLDER_VARIABLE
from infrastructure import artifacts, compat
from infrastructure.cli import main
from tests.support.kind_files import TEMPERATURE

BELOW_INGEST = ("network", "cluster", "storage", "influxdb", "relational")  # (the catalog writes to SQL)


@pytest.fixture
def kinds_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the catalog the test can add kinds to; the function's zip keeps the repository's kinds (what
    it packs does not change the stack update under test, and a zip per catalog would install its
    requirements again)."""
    folder = tmp_path / "device-kinds"
    shutil.copytree(DEFAULT_FOLDER, folder)
    artifact = artifacts.build_zip()
    monkeypatch.setattr(artifacts, "build_zip", lambda *args, **kwargs: artifact)
    monkeypatch.setenv(FOLDER_VARIABLE, str(folder))
    return folder


def deploy(endpoint: str, stack: str, *params: str) -> int:
    return main(["deploy", stack, "--yes", "--endpoint-url", endpoint, *(f"--param={p}" for p in params)])


def function_environment(endpoint: str) -> dict[str, str]:
    client = boto3.client("lambda", endpoint_url=endpoint)
    variables: dict[str, str] = client.get_function(FunctionName="demo-ingest")["Configuration"][
        "Environment"
    ]["Variables"]
    return variables


def outputs(endpoint: str) -> set[str]:
    (stack,) = boto3.client("cloudformation", endpoint_url=endpoint).describe_stacks(StackName="demo-ingest")[
        "Stacks"
    ]
    return {output["OutputKey"] for output in stack.get("Outputs", [])}


def queue_names(endpoint: str) -> set[str]:
    urls = boto3.client("sqs", endpoint_url=endpoint).list_queues().get("QueueUrls", [])
    return {url.rsplit("/", 1)[-1] for url in urls}


def test_every_change_to_the_ingest_stack_deploys_the_first_time(endpoint: str, kinds_folder: Path) -> None:
    for stack in BELOW_INGEST:
        assert deploy(endpoint, stack) == 0
    assert deploy(endpoint, "ingest", "IngestPath=direct") == 0

    (kinds_folder / "temperature.yaml").write_text(TEMPERATURE)
    assert deploy(endpoint, "ingest") == 0
    assert "temperature" in json.loads(function_environment(endpoint)["KIND_TOPICS"])

    assert deploy(endpoint, "ingest", "PressureTopic=/plant1/pressure") == 0
    assert json.loads(function_environment(endpoint)["KIND_TOPICS"])["pressure"] == "/plant1/pressure"

    (kinds_folder / "temperature.yaml").unlink()
    assert deploy(endpoint, "ingest") == 0
    assert "temperature" not in json.loads(function_environment(endpoint)["KIND_TOPICS"])

    assert deploy(endpoint, "ingest", "IngestPath=queued") == 0
    assert "demo-ingest" in queue_names(endpoint)
    # The outputs follow the update too (moto's change sets kept the previous ones: the sandbox then did not
    # see the new ingest queue and counted its readings as lost).
    assert "IngestQueueUrl" in outputs(endpoint)
    assert deploy(endpoint, "ingest", "IngestPath=direct") == 0
    assert "demo-ingest" not in queue_names(endpoint)
    assert "IngestQueueUrl" not in outputs(endpoint)
    assert deploy(endpoint, "ingest", "PressureTopic=/pressure/data") == 0  # and once more on the direct path


def test_moto_does_not_make_again_what_an_update_removed(
    endpoint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Queued, then not, then queued again: moto lists the queue but never makes it again (a sandbox switched back
    to the queued path had no ingest queue, and its rule runner stopped on QueueDoesNotExist). The deploy tool
    finds it, and says in one line what to do (the sandbox does it: restarts moto, which deploys afresh)."""
    client: Any = boto3.client("cloudformation", endpoint_url=endpoint)

    def clients(service: str) -> Any:
        return boto3.client(service, endpoint_url=endpoint)  # type: ignore[call-overload]

    def local(queued: str) -> str:
        return json.dumps(compat.local_template(conditional_template("policy"), {"Queued": queued}))

    queued = [{"ParameterKey": "Queued", "ParameterValue": "yes"}]
    client.create_stack(StackName="again", TemplateBody=local("yes"), Parameters=queued)
    assert compat.lost_resources(client, clients, "again") == []
    client.update_stack(StackName="again", TemplateBody=local("no"))
    client.update_stack(StackName="again", TemplateBody=local("yes"), Parameters=queued)
    listed = client.describe_stack_resource(StackName="again", LogicalResourceId="Queue")[
        "StackResourceDetail"
    ]
    with pytest.raises(ClientError, match="NonExistentQueue"):
        boto3.client("sqs", endpoint_url=endpoint).get_queue_attributes(QueueUrl=listed["PhysicalResourceId"])
    assert compat.lost_resources(client, clients, "again") == ["Queue"]


def test_a_deploy_that_leaves_moto_without_the_ingest_queue_says_what_to_do(
    endpoint: str, kinds_folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for stack in BELOW_INGEST:
        assert deploy(endpoint, stack) == 0
    for path in ("queued", "direct"):
        assert deploy(endpoint, "ingest", f"IngestPath={path}") == 0
    capsys.readouterr()
    assert deploy(endpoint, "ingest", "IngestPath=queued") != 0
    captured = capsys.readouterr()
    printed = " ".join((captured.out + captured.err).split())
    assert f"demo-ingest: {compat.MOTO_LOST} IngestQueue in an update" in printed
    assert "run 'make down', then 'make demo'" in printed


def conditional_template(queue_policy_name: str) -> dict[str, Any]:
    """A queue that exists only when Queued is "yes", and a policy of it under that condition."""
    return {
        "Parameters": {"Queued": {"Type": "String", "Default": "no"}},
        "Conditions": {"IsQueued": {"Fn::Equals": [{"Ref": "Queued"}, "yes"]}},
        "Resources": {
            "Queue": {"Type": "AWS::SQS::Queue", "Condition": "IsQueued"},
            "Role": {
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "AssumeRolePolicyDocument": {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Principal": {"Service": "lambda.amazonaws.com"},
                                "Action": "sts:AssumeRole",
                            }
                        ],
                    }
                },
            },
            "QueuePolicy": {
                "Type": "AWS::IAM::Policy",
                "Condition": "IsQueued",
                "Properties": {
                    "PolicyName": queue_policy_name,
                    "Roles": [{"Ref": "Role"}],
                    "PolicyDocument": {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Action": "sqs:*",
                                "Resource": {"Fn::GetAtt": ["Queue", "Arn"]},
                            }
                        ],
                    },
                },
            },
        },
    }


def test_moto_updates_a_resource_whose_condition_is_false(endpoint: str) -> None:
    """The moto limitation compat.without_false_conditions works around: an update that changes a resource of a
    false condition fails in moto (CloudFormation leaves such a resource alone); without it, it deploys."""
    client = boto3.client("cloudformation", endpoint_url=endpoint)
    client.create_stack(StackName="conditional", TemplateBody=json.dumps(conditional_template("first")))
    with pytest.raises(ClientError, match="GetAtt references undefined resource Queue"):
        client.update_stack(StackName="conditional", TemplateBody=json.dumps(conditional_template("second")))
    local = compat.local_template(conditional_template("third"), {"Queued": "no"})
    assert set(local["Resources"]) == {"Role"}
    client.update_stack(StackName="conditional", TemplateBody=json.dumps(local))
    status = client.describe_stacks(StackName="conditional")["Stacks"][0]["StackStatus"]
    assert status == "UPDATE_COMPLETE"


def test_conditions_are_evaluated_from_parameter_values() -> None:
    template = {
        "Conditions": {
            "IsQueued": {"Fn::Equals": [{"Ref": "IngestPath"}, "queued"]},
            "IsDirect": {"Fn::Not": [{"Condition": "IsQueued"}]},
            "Both": {"Fn::And": [{"Condition": "IsQueued"}, {"Condition": "IsDirect"}]},
            "Either": {"Fn::Or": [{"Condition": "IsQueued"}, {"Condition": "IsDirect"}]},
            "Unknown": {"Fn::Equals": [{"Fn::ImportValue": "x"}, "y"]},
        },
        "Resources": {
            "Queue": {"Type": "AWS::SQS::Queue", "Condition": "IsQueued"},
            "Other": {"Type": "AWS::SQS::Queue", "Condition": "Unknown"},
            "Always": {"Type": "AWS::SQS::Queue"},
        },
    }
    direct = compat.evaluate_conditions(template, {"IngestPath": "direct"})
    assert direct == {"IsQueued": False, "IsDirect": True, "Both": False, "Either": True}
    assert set(compat.without_false_conditions(template, {"IngestPath": "direct"})["Resources"]) == {
        "Other",
        "Always",
    }
    queued = compat.without_false_conditions(template, {"IngestPath": "queued"})
    assert set(queued["Resources"]) == {"Queue", "Other", "Always"}


def test_every_parameter_of_a_sub_is_also_given_as_a_ref() -> None:
    """moto updates a resource for a changed parameter only when it finds a `Ref` to it."""
    template = {
        "Parameters": {"Topic": {"Type": "String"}, "Other": {"Type": "String"}},
        "Resources": {
            "F": {
                "Type": "AWS::Lambda::Function",
                "Properties": {
                    "A": {"Fn::Sub": '{"p": "${Topic}", "r": "${AWS::Region}", "q": "${Q.Arn}"}'},
                    "B": {"Fn::Sub": ["${Other}-${X}", {"X": "x"}]},
                    "C": {"Fn::Sub": "plain"},
                },
            }
        },
    }
    properties = compat.explicit_parameter_refs(template)["Resources"]["F"]["Properties"]
    assert properties["A"] == {
        "Fn::Sub": ['{"p": "${Topic}", "r": "${AWS::Region}", "q": "${Q.Arn}"}', {"Topic": {"Ref": "Topic"}}]
    }
    assert properties["B"] == {"Fn::Sub": ["${Other}-${X}", {"X": "x", "Other": {"Ref": "Other"}}]}
    assert properties["C"] == {"Fn::Sub": "plain"}


def test_types_moto_does_not_model_are_left_out_and_named_by_placeholders() -> None:
    """moto fails to remove such a resource once it has "updated" it (a removed kind's rule)."""
    template = {
        "Resources": {
            "Rule": {"Type": "AWS::IoT::TopicRule"},
            "Queue": {"Type": "AWS::SQS::Queue", "DependsOn": ["Rule"]},
            "Service": {
                "Type": "AWS::ECS::Service",
                "Properties": {"Registry": {"Fn::Sub": "arn:${Rule}:${Rule.Arn}:${Queue}"}},
            },
        }
    }
    local = compat.local_template(template)
    assert set(local["Resources"]) == {"Queue", "Service"}
    assert "DependsOn" not in local["Resources"]["Queue"]
    assert local["Resources"]["Service"]["Properties"]["Registry"] == {
        "Fn::Sub": "arn:rule.local:rule.arn.local:${Queue}"
    }
