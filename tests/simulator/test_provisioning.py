"""Provisioning on AWS IoT's control plane (moto's server plays it; the cloud itself cannot run here)."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import boto3

from simulator.provisioning import deprovision, policy_document, provision


def test_provision_is_least_privilege_idempotent_and_reversible(
    aws_env: dict[str, str], moto_reset: None, tmp_path: Path
) -> None:
    keys = tmp_path / "keys"
    assert list(provision("pressure", 3, keys)) == [f"pressure-000{i}: provisioned" for i in range(3)]
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
        assert len(iot.list_thing_principals(thingName=name)["principals"]) == 1

    document = json.loads(iot.get_policy(policyName="pressure-device-policy")["policyDocument"])
    assert document == policy_document("us-east-1", "123456789012", "/pressure/data")
    actions = {s["Action"]: s["Resource"] for s in document["Statement"]}
    assert actions == {
        "iot:Connect": "arn:aws:iot:us-east-1:123456789012:client/${iot:Connection.Thing.ThingName}",
        # The topic is '/pressure/data': its ARN keeps the leading slash after 'topic/'.
        "iot:Publish": "arn:aws:iot:us-east-1:123456789012:topic//pressure/data",
    }
    connect = next(s for s in document["Statement"] if s["Action"] == "iot:Connect")
    assert connect["Condition"] == {"Bool": {"iot:Connection.Thing.IsAttached": "true"}}
    # Each private key was made here; AWS IoT only saw its certificate signing request.
    assert "BEGIN PRIVATE KEY" in (keys / "pressure-0000" / "private.key").read_text()

    # An older, wrong document is replaced by a new default version.
    iot.create_policy_version(
        policyName="pressure-device-policy",
        policyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}),
        setAsDefault=True,
    )
    list(provision("pressure", 3, keys))
    current = json.loads(iot.get_policy(policyName="pressure-device-policy")["policyDocument"])
    assert current == policy_document("us-east-1", "123456789012", "/pressure/data")

    # Twice: nothing new.
    assert all(line.endswith("already provisioned") for line in provision("pressure", 3, keys))
    assert len(iot.list_certificates()["certificates"]) == 3

    assert len(list(deprovision("pressure", 3, keys))) == 3
    assert iot.list_things()["things"] == []
    assert not keys.joinpath("pressure-0000").exists()
