"""Things and certificates on AWS IoT for the simulated devices, with their kind's policy attached.

The policy is the ingest stack's (`<env>-<kind>-device-policy`, infrastructure/stacks/ingest.py): each device may
connect only with its own thing name as client id, and only with the certificate attached to that thing, so it
publishes only as itself; and only to its kind's topic of that environment. Provisioning attaches it and never
makes or changes one. Each device's
private key is made here and never leaves the keys folder (mode 0600): AWS IoT signs its certificate
signing request (CreateCertificateFromCsr), or, with an `issuer`, the account's own registered CA
does and the certificate is registered (RegisterCACertificate, RegisterCertificate): that is how the
local sandbox's CA is used, through the same calls as on AWS. Provisioning twice reuses what exists.
"""

from __future__ import annotations

import contextlib
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

from catalog import CatalogError, load_catalog
from infrastructure.names import DEFAULT_ENVIRONMENT, stack_name
from infrastructure.stacks import ingest
from simulator.device_types import resolve_type


class CertificateIssuer(Protocol):
    """An account's own certificate authority (registered with AWS IoT) that signs device CSRs."""

    @property
    def ca_pem(self) -> str: ...

    def sign(self, csr_pem: str) -> str: ...


def thing_name(type_name: str, index: int) -> str:
    return f"{type_name}-{index:04d}"  # also the device's MQTT client id (simulator.fleet.Device)


class ProvisioningError(RuntimeError):
    """Provisioning cannot start: the message says what to deploy or pass first."""


def device_policy(kind_name: str, environment: str = DEFAULT_ENVIRONMENT, cloudformation: Any = None) -> str:
    """The name of the kind's device policy, from the environment's ingest stack (its `<Kind>DevicePolicyName`
    output): the stack makes the policy, provisioning only attaches it."""
    try:
        kind = load_catalog().kind(kind_name)
    except (CatalogError, KeyError) as error:
        raise ProvisioningError(
            f"{kind_name}: not a kind of the catalog, so no stack makes its policy ({error})"
        ) from None
    output = ingest.device_policy_output(kind)
    stack = stack_name(environment, ingest.NAME)
    client = cloudformation or boto3.client("cloudformation")
    try:
        stacks = client.describe_stacks(StackName=stack)["Stacks"]
    except client.exceptions.ClientError as error:
        raise ProvisioningError(
            f"{stack} is not deployed ({error}): deploy it first (make deploy STACK=ingest ENVIRONMENT={environment}); "
            "it makes the device policies"
        ) from None
    outputs = {o["OutputKey"]: o["OutputValue"] for o in (stacks[0].get("Outputs") or [])} if stacks else {}
    if output.output not in outputs:
        raise ProvisioningError(
            f"{stack} has no output {output.output}: deploy the ingest stack again with this version "
            f"(make deploy STACK=ingest ENVIRONMENT={environment}); it makes the {kind_name} device policy"
        )
    return outputs[output.output]


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
    environment: str = DEFAULT_ENVIRONMENT,
    policy: str | None = None,
) -> Iterator[str]:
    """Things and certificates for `devices` of the kind, each with the environment's policy for the kind
    attached (`policy`: its name, when known; else read from the environment's ingest stack). Whether the
    devices may also publish through Basic Ingest is the stack's <Kind>BasicIngest parameter's to say."""
    device_type = resolve_type(type_name)
    iot = boto3.client("iot")
    policy = policy or device_policy(device_type.name, environment)
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


def deprovision(
    type_name: str,
    devices: int,
    keys: Path,
    environment: str = DEFAULT_ENVIRONMENT,
    policy: str | None = None,
) -> Iterator[str]:
    """Detach, deactivate and delete each device's certificate and its thing; the policy stays the stack's."""
    device_type = resolve_type(type_name)
    iot = boto3.client("iot")
    policy = policy or device_policy(device_type.name, environment)
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
