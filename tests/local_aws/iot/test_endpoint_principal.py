"""The mutual-TLS endpoint stamps every publish with the connection's principal, which the rules engine reads as
`principal()`: for an X.509 certificate, the certificate id (the hex SHA-256 of its DER), as on AWS IoT."""

from __future__ import annotations

import hashlib
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from infrastructure.certificate_authority import new_authority
from local_aws.iot.access import Access, fingerprint
from local_aws.iot.endpoint import Gateway, GatewayConfig, principal_of
from local_aws.iot.mqtt_wire import (
    CLIENT_ID_PROPERTY,
    MQTT5,
    PRINCIPAL_PROPERTY,
    Connect,
    Packet,
    Publish,
    string,
    user_property,
)
from tests.support import iot_access
from tests.support.device_policy import policy_document
from tests.support.iot_access import ACCOUNT, REGION
from tests.support.mqtt_packets import qos1_publish, user_properties

TOPIC = "/pressure/data"


def _certificate() -> tuple[str, bytes]:
    pem, _key = new_authority("pressure-0000")
    der = x509.load_pem_x509_certificate(pem).public_bytes(serialization.Encoding.DER)
    return pem.decode(), der


def _gateway(principal: str, tmp_path: Path) -> Gateway:
    config = GatewayConfig(
        host="127.0.0.1", port=0, upstream_host="127.0.0.1", upstream_port=0, username="gateway",
        password="secret", ca_file=tmp_path / "ca.pem", cert_file=tmp_path / "cert.pem",
        key_file=tmp_path / "key.pem", access_file=tmp_path / "access.json",
    )  # fmt: skip
    gateway = Gateway(config)
    registered = iot_access.principal(policy_document(REGION, ACCOUNT, TOPIC), certificate=principal)
    gateway.access = Access(region=REGION, account=ACCOUNT, principals={principal: registered})
    return gateway


def test_the_principal_is_the_certificate_id_the_registry_keys_it_by() -> None:
    pem, der = _certificate()
    assert principal_of(der) == hashlib.sha256(der).hexdigest() == fingerprint(pem)
    assert len(principal_of(der)) == 64


def test_a_publish_is_stamped_with_the_connections_principal_not_the_devices_claim(tmp_path: Path) -> None:
    _pem, der = _certificate()
    principal = principal_of(der)
    gateway = _gateway(principal, tmp_path)
    assert gateway.access is not None
    connection, why = gateway.access.connect(principal, "pressure-0000", None)
    assert connection is not None, why
    forged = user_property(PRINCIPAL_PROPERTY, "cd" * 32)
    relayed, denied = gateway._relayed(qos1_publish(TOPIC, forged), connection, principal, MQTT5)
    assert denied is None
    stamped = dict(user_properties(Publish.parse(relayed, MQTT5).properties))
    assert stamped == {CLIENT_ID_PROPERTY: "pressure-0000", PRINCIPAL_PROPERTY: principal}


def test_the_will_carries_the_principal_too() -> None:
    will = string(TOPIC.encode()) + string(b"gone")
    body = string(b"MQTT") + bytes([4, 0x04]) + b"\x00\x3c" + string(b"pressure-0000") + will
    upstream = Connect.parse(Connect.parse(Packet(1 << 4, body)).upstream("gateway", "secret", "ab" * 32))
    assert dict(user_properties(upstream.will_properties)) == {
        CLIENT_ID_PROPERTY: "pressure-0000",
        PRINCIPAL_PROPERTY: "ab" * 32,
    }
