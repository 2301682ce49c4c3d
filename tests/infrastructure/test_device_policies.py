"""Device policies are the ingest stack's, per kind and environment: connect only as the attached thing, publish
only to the kind's topic of the environment (and its Basic Ingest rule when on), in any partition."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from catalog import load_catalog
from infrastructure import compat
from infrastructure.stacks import ingest
from tests.support.device_policy import policy_document


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(ingest.build().to_json())
    return document


def test_one_policy_per_kind_named_by_environment_and_output_once(template: dict[str, Any]) -> None:
    policies = {k: r for k, r in template["Resources"].items() if r["Type"] == "AWS::IoT::Policy"}
    catalog = load_catalog()
    assert len(policies) == len(list(catalog))
    for kind in catalog:
        name = {"Fn::Sub": f"${{EnvironmentName}}-{kind.name}-device-policy"}
        [policy] = [p for p in policies.values() if p["Properties"]["PolicyName"] == name]
        output = template["Outputs"][ingest.device_policy_output(kind).output]
        assert output["Value"] == name  # what the simulator attaches (simulator/provisioning.py reads it)
        text = json.dumps(policy["Properties"]["PolicyDocument"])
        assert "arn:aws:" not in text and "${AWS::Partition}" in text
        actions = {s["Action"] for s in policy["Properties"]["PolicyDocument"]["Statement"]}
        assert actions == {"iot:Connect", "iot:Publish"}, "no subscribe, receive or retained publish"


def test_the_default_environment_keeps_the_catalog_s_topics() -> None:
    for kind in load_catalog():
        document = policy_document("us-east-1", "123456789012", kind.topic, kind=kind.name)
        [publish] = [s for s in document["Statement"] if s["Action"] == "iot:Publish"]
        assert publish["Resource"] == [f"arn:aws:iot:us-east-1:123456789012:topic/{kind.topic}"]
        [connect] = [s for s in document["Statement"] if s["Action"] == "iot:Connect"]
        assert connect["Resource"].endswith(":client/${iot:Connection.Thing.ThingName}")
        assert connect["Condition"] == {"Bool": {"iot:Connection.Thing.IsAttached": "true"}}


def test_another_environment_s_devices_publish_only_to_its_own_topics() -> None:
    staging = policy_document("us-east-1", "123456789012", "/staging/pressure/data", True, "staging")
    [publish] = [s for s in staging["Statement"] if s["Action"] == "iot:Publish"]
    assert publish["Resource"] == [
        "arn:aws:iot:us-east-1:123456789012:topic//staging/pressure/data",
        "arn:aws:iot:us-east-1:123456789012:topic/$aws/rules/staging_ingest_pressure",
        "arn:aws:iot:us-east-1:123456789012:topic/$aws/rules/staging_ingest_pressure/*",
    ]


PSEUDO = {"AWS::Partition": "aws", "AWS::Region": "us-east-1", "AWS::AccountId": "123456789012"}


def values_of(template: dict[str, Any], **given: str) -> dict[str, str]:
    defaults = {k: str(p.get("Default", "")) for k, p in template["Parameters"].items()}
    return {**defaults, **PSEUDO, **given}


def test_locally_the_deploy_tool_makes_the_policies_as_cloudformation_would(template: dict[str, Any]) -> None:
    local = compat.local_template(template, values_of(template))
    assert not [r for r in local["Resources"].values() if r["Type"] == "AWS::IoT::Policy"]  # moto's gaps
    policies = compat.iot_policies(template, values_of(template, PressureBasicIngest="true"))
    assert policies["demo-pressure-device-policy"] == policy_document(
        "us-east-1", "123456789012", "/pressure/data", basic_ingest=True
    )


def test_put_creates_updates_and_prunes_versions_and_delete_removes(
    template: dict[str, Any], aws_env: dict[str, str], moto_reset: None
) -> None:
    iot = boto3.client("iot")
    names = compat.put_iot_policies(iot, template, values_of(template))
    assert "demo-pressure-device-policy" in names
    compat.put_iot_policies(iot, template, values_of(template, PressureTopic="/plant1/pressure"))
    versions = iot.list_policy_versions(policyName="demo-pressure-device-policy")["policyVersions"]
    assert len(versions) == 1, "older versions pruned, as CloudFormation does"
    document = json.loads(iot.get_policy(policyName="demo-pressure-device-policy")["policyDocument"])
    assert document["Statement"][1]["Resource"] == [
        "arn:aws:iot:us-east-1:123456789012:topic//plant1/pressure"
    ]
    assert compat.delete_iot_policies(iot, names) == []
    assert iot.list_policies()["policies"] == []
