"""Things, certificates and a least-privilege policy on AWS IoT for the simulated devices.

Each device may connect only with its own thing name as client id, and only with the certificate
attached to that thing, so it publishes only as itself; and only to its type's topic. Each device's
private key is made here and never leaves the keys folder (mode 0600): AWS IoT signs its certificate
signing request (CreateCertificateFromCsr), or, with an `issuer`, the account's own registered CA
does and the certificate is registered (RegisterCACertificate, RegisterCertificate): that is how the
local sandbox's CA is used, through the same calls as on AWS. Provisioning twice reuses what exists.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

import boto3
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from ingest_to_influxdb import basic_ingest

from simulator.device_types import resolve_type


class CertificateIssuer(Protocol):
    """An account's own certificate authority (registered with AWS IoT) that signs device CSRs."""

    @property
    def ca_pem(self) -> str: ...

    def sign(self, csr_pem: str) -> str: ...


def thing_name(type_name: str, index: int) -> str:
    return f"{type_name}-{index:04d}"  # also the device's MQTT client id (simulator.fleet.Device)


def policy_document(
    region: str, account: str, topic: str, basic_ingest_rule: str | None = None
) -> dict[str, Any]:
    """Connect only as the thing the certificate is attached to; publish only to the type's topic, or with
    `basic_ingest_rule` only to that rule's Basic Ingest topics (`$aws/rules/<rule>` and its levels).

    A topic's ARN is `topic/` followed by the topic as it is: `/pressure/data` is `topic//pressure/data`.
    """
    arn = f"arn:aws:iot:{region}:{account}"
    topics = [topic] if basic_ingest_rule is None else list(basic_ingest.policy_topics(basic_ingest_rule))
    resources = [f"{arn}:topic/{t}" for t in topics]
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "iot:Connect",
                "Resource": f"{arn}:client/${{iot:Connection.Thing.ThingName}}",
                "Condition": {"Bool": {"iot:Connection.Thing.IsAttached": "true"}},
            },
            {
                "Effect": "Allow",
                "Action": "iot:Publish",
                "Resource": resources[0] if len(resources) == 1 else resources,
            },
        ],
    }


def _ensure_policy(iot: Any, name: str, document: dict[str, Any]) -> None:
    """Create the policy, or make its default version this document (an older, wrong one is replaced)."""
    text = json.dumps(document)
    try:
        current = iot.get_policy(policyName=name)
    except iot.exceptions.ResourceNotFoundException:
        iot.create_policy(policyName=name, policyDocument=text)
        return
    if json.loads(current["policyDocument"]) != document:
        versions = iot.list_policy_versions(policyName=name)["policyVersions"]
        for version in versions:  # AWS keeps at most five versions
            if not version["isDefaultVersion"] and len(versions) >= 5:
                iot.delete_policy_version(policyName=name, policyVersionId=version["versionId"])
                break
        iot.create_policy_version(policyName=name, policyDocument=text, setAsDefault=True)


def _key_and_csr(common_name: str) -> tuple[str, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    csr = x509.CertificateSigningRequestBuilder().subject_name(subject).sign(key, hashes.SHA256())
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return key_pem.decode(), csr.public_bytes(serialization.Encoding.PEM).decode()


def _register_ca(iot: Any, issuer: CertificateIssuer) -> None:
    """Register the issuer as the account's CA (SNI_ONLY: no verification certificate; devices send SNI)."""
    with contextlib.suppress(iot.exceptions.ResourceAlreadyExistsException):  # registered before
        iot.register_ca_certificate(
            caCertificate=issuer.ca_pem,
            setAsActive=True,
            allowAutoRegistration=False,
            certificateMode="SNI_ONLY",
        )


def _new_certificate(iot: Any, name: str, issuer: CertificateIssuer | None) -> tuple[dict[str, str], str]:
    """(certificateId, certificateArn, certificatePem) and the private key of a new device certificate."""
    key_pem, csr = _key_and_csr(name)
    if issuer is None:
        made = iot.create_certificate_from_csr(certificateSigningRequest=csr, setAsActive=True)
        return made, key_pem
    pem = issuer.sign(csr)
    made = iot.register_certificate(certificatePem=pem, caCertificatePem=issuer.ca_pem, status="ACTIVE")
    return {**made, "certificatePem": pem}, key_pem


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    path.chmod(0o600)


def _still_registered(iot: Any, name: str, folder: Path) -> bool:
    """Whether the registry still has this device's certificate, active and attached to its thing."""
    certificate_id, certificate_arn = (folder / "certificate.id").read_text().split()
    try:
        status = iot.describe_certificate(certificateId=certificate_id)["certificateDescription"]["status"]
        things = iot.list_principal_things(principal=certificate_arn).get("things", [])
    except iot.exceptions.ResourceNotFoundException:
        return False
    return bool(status == "ACTIVE" and name in things)


def provision(
    type_name: str,
    devices: int,
    keys: Path,
    issuer: CertificateIssuer | None = None,
    basic_ingest_rule: str | None = None,
) -> Iterator[str]:
    """`basic_ingest_rule`: the devices publish through Basic Ingest to that rule (the kind's ingest rule, when the
    stack's <Kind>BasicIngest parameter is true), and their policy allows only that."""
    device_type = resolve_type(type_name)
    iot = boto3.client("iot")
    region = iot.meta.region_name
    account = boto3.client("sts").get_caller_identity()["Account"]
    policy = f"{device_type.name}-device-policy"
    _ensure_policy(iot, policy, policy_document(region, account, device_type.topic, basic_ingest_rule))
    if issuer is not None:
        _register_ca(iot, issuer)
    for index in range(devices):
        name = thing_name(device_type.name, index)
        folder = keys / name
        if (folder / "certificate.id").exists():
            if _still_registered(iot, name, folder):
                yield f"{name}: already provisioned"
                continue
            shutil.rmtree(
                folder
            )  # keys of a registry that forgot them (a restarted local sandbox): start again
        with contextlib.suppress(iot.exceptions.ResourceAlreadyExistsException):
            iot.create_thing(thingName=name)
        cert, private_key = _new_certificate(iot, name, issuer)
        _write_private(folder / "certificate.pem", cert["certificatePem"])
        _write_private(folder / "private.key", private_key)
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
            for version in iot.list_policy_versions(policyName=policy)["policyVersions"]:
                if not version["isDefaultVersion"]:  # AWS refuses to delete a policy that has others
                    iot.delete_policy_version(policyName=policy, policyVersionId=version["versionId"])
            iot.delete_policy(policyName=policy)
    except iot.exceptions.ResourceNotFoundException:
        pass
