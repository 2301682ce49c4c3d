"""A device's connection, one registered certificate and the two checks IoT Core makes most, in the account and
region of AWS's documented IoT policy examples, for the tests of the local IoT endpoint's policy evaluation."""

from __future__ import annotations

from typing import Any

from local_aws.iot.access import Access, Principal
from local_aws.iot.policy import Connection, client_arn, is_allowed, topic_arn

REGION, ACCOUNT = "us-east-1", "123456789012"
ARN = f"arn:aws:iot:{REGION}:{ACCOUNT}"
CERTIFICATE = "c1"  # the certificate id every connection here presents
FINGERPRINT = "fp"  # what the registry keys that certificate by


def as_client(client_id: str = "pressure-0000", attached: bool = True, **more: Any) -> Connection:
    """A connection as `client_id`; `attached`: a thing of that name is attached to the certificate."""
    return Connection(client_id, client_id if attached else None, CERTIFICATE, **more)


def principal(
    *policies: dict[str, Any],
    thing: str = "pressure-0000",
    status: str = "ACTIVE",
    certificate: str = CERTIFICATE,
) -> Principal:
    """A certificate registered with `policies`, `thing` attached to it."""
    return Principal(
        certificate_id=certificate,
        certificate_arn=f"{ARN}:cert/{certificate}",
        status=status,
        things=[thing],
        policies=list(policies),
    )


def registry(*policies: dict[str, Any], thing: str = "pressure-0000", status: str = "ACTIVE") -> Access:
    """The registry of one certificate (FINGERPRINT), as `principal` makes it."""
    return Access(
        region=REGION,
        account=ACCOUNT,
        principals={FINGERPRINT: principal(*policies, thing=thing, status=status)},
    )


def connects(policies: list[dict[str, Any]], device: Connection) -> bool:
    """iot:Connect as the connection's own client id, as IoT Core checks at CONNECT."""
    return is_allowed(policies, "iot:Connect", client_arn(REGION, ACCOUNT, device.client_id), device)


def publishes(policies: list[dict[str, Any]], topic: str, device: Connection) -> bool:
    """iot:Publish on `topic`."""
    return is_allowed(policies, "iot:Publish", topic_arn(REGION, ACCOUNT, topic), device)
