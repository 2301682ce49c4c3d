"""Device policies are the ingest stack's, per kind and environment: connect only as the attached thing, publish
only to the kind's topic of the environment (and its Basic Ingest rule when on), in any partition."""

from __future__ import annotations

import json
from typing import Any

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


def test_moto_gets_the_document_as_text_with_its_conditions_decided(template: dict[str, Any]) -> None:
    values = {k: str(p.get("Default", "")) for k, p in template["Parameters"].items()}
    values["PressureBasicIngest"] = "true"
    local = compat.local_template(template, values)
    sub = local["Resources"]["PressureDevicePolicy"]["Properties"]["PolicyDocument"]["Fn::Sub"]
    text = sub[0] if isinstance(sub, list) else sub
    document = json.loads(text)  # JSON text once Fn::Sub fills it in
    [publish] = [s for s in document["Statement"] if s["Action"] == "iot:Publish"]
    assert len(publish["Resource"]) == 3 and "${!iot:Connection.Thing.ThingName}" in text
