"""Provisioning on AWS IoT's control plane (moto's server plays it; the cloud itself cannot run here): things and
certificates with the ingest stack's policy attached, never a policy of its own."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import boto3
import pytest

from simulator.provisioning import ProvisioningError, deprovision, provision
from tests.support.device_policy import create_device_policy


def test_provision_attaches_the_stack_s_policy_idempotently_and_reversibly(
    aws_env: dict[str, str], moto_reset: None, tmp_path: Path
) -> None:
    policy = create_device_policy("pressure")  # (the ingest stack's, as CloudFormation makes it)
    keys = tmp_path / "keys"
    lines = list(provision("pressure", 3, keys, policy=policy))
    assert lines == [f"pressure-000{i}: provisioned" for i in range(3)]
    iot = boto3.client("iot")
    assert sorted(t["thingName"] for t in iot.list_things()["things"]) == [
        "pressure-0000",
        "pressure-0001",
        "pressure-0002",
    ]
    for name in ("pressure-0000", "pressure-0001", "pressure-0002"):
        for secret in ("certificate.pem", "private.key"):
            mode = stat.S_IMODE((keys / name / secret).stat().st_mode)
            assert mode == 0o600, f"{name}/{secret} is {oct(mode)}"
        (principal,) = iot.list_thing_principals(thingName=name)["principals"]
        assert [p["policyName"] for p in iot.list_attached_policies(target=principal)["policies"]] == [policy]
    assert [p["policyName"] for p in iot.list_policies()["policies"]] == [policy], "no policy of its own"
    # Each private key was made here; AWS IoT only saw its certificate signing request.
    assert "BEGIN PRIVATE KEY" in (keys / "pressure-0000" / "private.key").read_text()

    # Twice: nothing new.
    assert all(line.endswith("already provisioned") for line in provision("pressure", 3, keys, policy=policy))
    assert len(iot.list_certificates()["certificates"]) == 3

    assert len(list(deprovision("pressure", 3, keys, policy=policy))) == 3
    assert iot.list_things()["things"] == []
    assert not keys.joinpath("pressure-0000").exists()
    assert [p["policyName"] for p in iot.list_policies()["policies"]] == [policy], "the stack's policy stays"


def test_the_policy_is_read_from_the_environment_s_ingest_stack(
    aws_env: dict[str, str], moto_reset: None, tmp_path: Path
) -> None:
    with pytest.raises(ProvisioningError, match=r"staging-ingest is not deployed .* deploy it first"):
        list(provision("pressure", 1, tmp_path, environment="staging"))
    template: dict[str, Any] = {
        "Resources": {"Nothing": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {"PressureDevicePolicyName": {"Value": "staging-pressure-device-policy"}},
    }
    cloudformation = boto3.client("cloudformation")
    cloudformation.create_stack(StackName="staging-ingest", TemplateBody=json.dumps(template))
    create_device_policy("pressure", environment="staging")
    assert list(provision("pressure", 1, tmp_path, environment="staging")) == ["pressure-0000: provisioned"]
    with pytest.raises(ProvisioningError, match="has no output ShelfDevicePolicyName"):
        list(provision("shelf", 1, tmp_path, environment="staging"))
