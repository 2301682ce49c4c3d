"""What the local IoT endpoint lets each device do, read from the IoT registry (moto) like IoT Core reads its own.

`snapshot()` reads every certificate with its status, the things attached to it and its policies'
documents; `write()` keeps that as the endpoint's access file (local_aws/iot/endpoint.py reloads it
when it changes, with no restart). `simulator provision|deprovision --target local` and `sandbox up`
call `sync()`, so a change of provisioning reaches the broker at once.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from pydantic import BaseModel, ConfigDict, field_validator

from local_aws.iot.policy import (
    LAST_WILL,
    PERSISTENT_CONNECT,
    Connection,
    PolicyError,
    check_policy,
    client_arn,
    is_allowed,
    topic_arn,
    topic_filter_arn,
)
from reach.endpoints import AwsEndpoint, Endpoints, environment_set

ACCESS_FILE = "iot-access.json"


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Principal(_Model):
    certificate_id: str
    certificate_arn: str
    status: str  # ACTIVE, INACTIVE, REVOKED, PENDING_TRANSFER, ...
    things: list[str]
    policies: list[dict[str, Any]]

    @field_validator("policies")
    @classmethod
    def _evaluable(cls, policies: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Every policy must be one the endpoint evaluates as IoT Core does: never one it would half read."""
        for policy in policies:
            check_policy(policy)
        return policies


@dataclass(frozen=True)
class Will:
    """The Last Will of a CONNECT: IoT Core publishes it for the device, so the device must be allowed to."""

    topic: str
    retain: bool


class Access(_Model):
    """Every registered certificate, by the SHA-256 of its DER form (what a TLS handshake shows)."""

    region: str
    account: str
    principals: dict[str, Principal] = {}

    @classmethod
    def load(cls, path: Path) -> Access | None:
        try:
            return cls.model_validate_json(path.read_text())
        except FileNotFoundError:
            return None

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(self.model_dump_json(indent=1) + "\n")
        tmp.replace(path)

    # -- the checks IoT Core makes -----------------------------------------------------------------
    def connect(
        self,
        fingerprint: str,
        client_id: str,
        common_name: str | None,
        *,
        source_ip: str | None = None,
        will: Will | None = None,
        persistent: bool = False,
    ) -> tuple[Connection | None, str]:
        """The connection if iot:Connect is allowed for this certificate and client id, and the Last Will (if
        any) may be published by it (iot:Publish, and iot:RetainPublish for a retained will, on its topic, as
        IoT Core checks at CONNECT), else (None, why). `persistent`: the CONNECT asks to keep its session."""
        principal = self.principals.get(fingerprint)
        if principal is None:
            return None, "the certificate is not registered with IoT (never provisioned, or deleted)"
        if principal.status != "ACTIVE":
            return None, f"the certificate is {principal.status}"
        attributes = ([PERSISTENT_CONNECT] if persistent else []) + ([LAST_WILL] if will else [])
        connection = Connection(
            client_id=client_id,
            thing_name=client_id if client_id in principal.things else None,
            certificate_id=principal.certificate_id,
            common_name=common_name,
            source_ip=source_ip,
            connect_attributes=tuple(attributes),
        )
        if not is_allowed(
            principal.policies, "iot:Connect", client_arn(self.region, self.account, client_id), connection
        ):
            return None, f"no policy of the certificate allows iot:Connect as client id '{client_id}'"
        if will is not None and not self.may_publish(connection, will.topic, will.retain):
            right = "iot:Publish and iot:RetainPublish" if will.retain else "iot:Publish"
            return None, f"its Last Will goes to '{will.topic}', where no policy allows it {right}"
        return connection, ""

    def _principal(self, connection: Connection) -> Principal | None:
        return next(
            (p for p in self.principals.values() if p.certificate_id == connection.certificate_id), None
        )

    def still_connects(self, connection: Connection) -> bool:
        principal = self._principal(connection)
        if principal is None or principal.status != "ACTIVE":
            return False
        fresh = replace(
            connection, thing_name=connection.client_id if connection.client_id in principal.things else None
        )
        resource = client_arn(self.region, self.account, connection.client_id)
        return is_allowed(principal.policies, "iot:Connect", resource, fresh)

    def may(self, connection: Connection, action: str, resource: str) -> bool:
        """Whether the connection may do `action` after CONNECT (whose attributes are only in iot:Connect's
        request context)."""
        principal = self._principal(connection)
        return principal is not None and is_allowed(
            principal.policies, action, resource, replace(connection, connect_attributes=None)
        )

    def may_publish(self, connection: Connection, topic: str, retain: bool = False) -> bool:
        """iot:Publish on the topic, and iot:RetainPublish too for a retained message (IoT developer guide,
        "Retained message policy examples")."""
        resource = topic_arn(self.region, self.account, topic)
        if not self.may(connection, "iot:Publish", resource):
            return False
        return not retain or self.may(connection, "iot:RetainPublish", resource)

    def may_subscribe(self, connection: Connection, topic_filter: str) -> bool:
        return self.may(
            connection, "iot:Subscribe", topic_filter_arn(self.region, self.account, topic_filter)
        )


def fingerprint(certificate_pem: str) -> str:
    der = x509.load_pem_x509_certificate(certificate_pem.encode()).public_bytes(serialization.Encoding.DER)
    return hashlib.sha256(der).hexdigest()


def snapshot(aws: AwsEndpoint) -> Access:
    """The registry as it is now: certificates, their status, things and policy documents."""
    iot = aws.client("iot")
    principals: dict[str, Principal] = {}
    documents: dict[str, dict[str, Any]] = {}
    for page in iot.get_paginator("list_certificates").paginate():
        for summary in page["certificates"]:
            arn, certificate_id = summary["certificateArn"], summary["certificateId"]
            description = iot.describe_certificate(certificateId=certificate_id)["certificateDescription"]
            things = iot.list_principal_things(principal=arn).get("things", [])
            policies = []
            for policy in iot.list_attached_policies(target=arn).get("policies", []):
                name = policy["policyName"]
                if name not in documents:
                    documents[name] = json.loads(iot.get_policy(policyName=name)["policyDocument"])
                    try:
                        check_policy(documents[name])
                    except PolicyError as error:
                        raise PolicyError(
                            f"IoT policy '{name}' cannot be played by the local IoT endpoint: {error}"
                        ) from None
                policies.append(documents[name])
            try:
                key = fingerprint(description["certificatePem"])
            except ValueError:
                continue  # not an X.509 certificate: no TLS handshake can present it
            principals[key] = Principal(
                certificate_id=certificate_id,
                certificate_arn=arn,
                status=description["status"],
                things=sorted(things),
                policies=policies,
            )
    return Access(region=aws.region, account=aws.account_id, principals=principals)


def sync(path: Path, aws: AwsEndpoint) -> Access:
    """Write the access file from the registry; the local IoT endpoint applies it within a second."""
    access = snapshot(aws)
    access.write(path)
    return access


@contextmanager
def local_registry(endpoints_path: Path) -> Iterator[Path]:
    """Point boto3 at the sandbox's IoT registry (moto) for the duration, then bring the broker's access rules
    up to date with what was changed; yields the folder of the sandbox's certificate authority."""
    endpoints = Endpoints.load(endpoints_path)
    if endpoints.mqtt.ca_file is None:
        raise FileNotFoundError(
            f"{endpoints_path} names no local CA: restart the sandbox with 'python -m sandbox up'"
        )
    try:
        with environment_set(endpoints.aws.env()):
            yield Path(endpoints.mqtt.ca_file).parent
    finally:
        sync(endpoints_path.parent / ACCESS_FILE, endpoints.aws)
