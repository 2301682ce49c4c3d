"""Things, certificates and a least-privilege policy on AWS IoT for the simulated devices.

Each device may connect only with its own thing name as client id and publish only to its type's
topic. Keys are written under the keys folder with mode 0600; provisioning twice reuses what exists.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3

from simulator.device_types import resolve_type


def thing_name(type_name: str, index: int) -> str:
    return f"{type_name}-{index:04d}"  # also the device's MQTT client id (simulator.fleet.Device)


def policy_document(region: str, account: str, topic: str) -> dict[str, Any]:
    arn = f"arn:aws:iot:{region}:{account}"
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "iot:Connect",
                "Resource": f"{arn}:client/${{iot:Connection.Thing.ThingName}}",
            },
            {"Effect": "Allow", "Action": "iot:Publish", "Resource": f"{arn}:topic/{topic.lstrip('/')}"},
        ],
    }


def _ensure_policy(iot: Any, name: str, document: dict[str, Any]) -> None:
    try:
        iot.get_policy(policyName=name)
    except iot.exceptions.ResourceNotFoundException:
        iot.create_policy(policyName=name, policyDocument=json.dumps(document))


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    path.chmod(0o600)


def provision(type_name: str, devices: int, keys: Path) -> Iterator[str]:
    device_type = resolve_type(type_name)
    iot = boto3.client("iot")
    region = iot.meta.region_name
    account = boto3.client("sts").get_caller_identity()["Account"]
    policy = f"{device_type.name}-device-policy"
    _ensure_policy(iot, policy, policy_document(region, account, device_type.topic))
    for index in range(devices):
        name = thing_name(device_type.name, index)
        folder = keys / name
        if (folder / "certificate.id").exists():
            yield f"{name}: already provisioned"
            continue
        iot.create_thing(thingName=name)
        cert = iot.create_keys_and_certificate(setAsActive=True)
        _write_private(folder / "certificate.pem", cert["certificatePem"])
        _write_private(folder / "private.key", cert["keyPair"]["PrivateKey"])
        iot.attach_policy(policyName=policy, target=cert["certificateArn"])
        iot.attach_thing_principal(thingName=name, principal=cert["certificateArn"])
        _write_private(folder / "certificate.id", f"{cert['certificateId']}\n{cert['certificateArn']}\n")
        yield f"{name}: provisioned"


def deprovision(type_name: str, devices: int, keys: Path) -> Iterator[str]:
    device_type = resolve_type(type_name)
    iot = boto3.client("iot")
    policy = f"{device_type.name}-device-policy"
    for index in range(devices):
        name = thing_name(device_type.name, index)
        folder = keys / name
        if (folder / "certificate.id").exists():
            certificate_id, certificate_arn = (folder / "certificate.id").read_text().split()
            iot.detach_thing_principal(thingName=name, principal=certificate_arn)
            iot.detach_policy(policyName=policy, target=certificate_arn)
            iot.update_certificate(certificateId=certificate_id, newStatus="INACTIVE")
            iot.delete_certificate(certificateId=certificate_id)
        with contextlib.suppress(iot.exceptions.ResourceNotFoundException):
            iot.delete_thing(thingName=name)
        shutil.rmtree(folder, ignore_errors=True)
        yield f"{name}: removed"
    try:
        if not iot.list_targets_for_policy(policyName=policy).get("targets"):
            iot.delete_policy(policyName=policy)
    except iot.exceptions.ResourceNotFoundException:
        pass
