"""The local broker as IoT Core: logins on the plain listener, mutual TLS and the IoT policies on the device endpoint.

Real mosquitto, the real mutual-TLS endpoint (local_aws/iot/endpoint.py) and moto's server as the IoT registry;
the devices connect with awsiotsdk exactly as they would to IoT Core.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from awscrt import io, mqtt
from awsiot import mqtt_connection_builder

from local_aws.iot.access import local_registry
from local_aws.iot.ca import LocalCa
from reach.endpoints import Endpoints
from reach.mqtt import plain_connection
from sandbox.cli import main as sandbox_cli
from sandbox.manager.services import Sandbox
from simulator.api import FleetGroup, run_groups
from simulator.cli import aws_target
from simulator.provisioning import deprovision, provision
from tests.support.device_policy import create_device_policy

TIMEOUT = 10


def _connects(connection: mqtt.Connection) -> bool:
    try:
        connection.connect().result(timeout=TIMEOUT)
    except Exception:
        return False
    connection.disconnect().result(timeout=TIMEOUT)
    return True


def test_the_plain_listener_lets_no_anonymous_client_in(endpoints: Endpoints) -> None:
    assert not _connects(plain_connection(endpoints, "anonymous", (None, None)))
    assert not _connects(plain_connection(endpoints, "guessing", (endpoints.mqtt.username, "wrong-password")))
    assert _connects(plain_connection(endpoints, "with-login"))


def test_the_password_file_and_keys_are_private(sandbox: Sandbox) -> None:
    for path in (
        sandbox.root / "config" / "mosquitto.passwd",
        sandbox.root / "config" / "iot-gateway.json",
        sandbox.ca.ca_key_file,
        sandbox.ca.server_key_file,
        sandbox.endpoints_path,
    ):
        assert path.stat().st_mode & 0o077 == 0, f"{path} is readable by others"
    passwords = (sandbox.root / "config" / "mosquitto.passwd").read_text()
    assert json.loads(sandbox.state_path.read_text())["passwords"]["sandbox"] not in passwords


class Subscriber:
    """Everything the broker passes on, seen from the plain listener (as the rule runner sees it)."""

    def __init__(self, endpoints: Endpoints, name: str) -> None:
        self.messages: list[tuple[str, bytes]] = []
        self.lock = threading.Lock()
        self.connection = plain_connection(endpoints, name)
        self.connection.on_message(self._on_message)
        self.connection.connect().result(timeout=TIMEOUT)
        self.connection.subscribe("#", mqtt.QoS.AT_LEAST_ONCE)[0].result(timeout=TIMEOUT)

    def _on_message(self, topic: str, payload: bytes, **_: Any) -> None:
        with self.lock:
            self.messages.append((topic, payload))

    def wait_for(self, count: int, timeout: float = 20) -> list[tuple[str, bytes]]:
        deadline = time.monotonic() + timeout
        while len(self.messages) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return list(self.messages)

    def close(self) -> None:
        self.connection.disconnect().result(timeout=TIMEOUT)


@dataclass
class Devices:
    sandbox: Sandbox
    endpoints: Endpoints
    keys: Path

    @property
    def endpoint(self) -> str:
        return f"{self.endpoints.mqtt.host}:{self.endpoints.mqtt.tls_port}"

    @property
    def ca_file(self) -> str:
        assert self.endpoints.mqtt.ca_file is not None
        return self.endpoints.mqtt.ca_file

    def connection(
        self, client_id: str, cert_of: str | None = None, cert: Path | None = None, key: Path | None = None
    ) -> mqtt.Connection:
        """A clean session that reconnects within seconds."""
        return self.mtls(
            client_id,
            cert_of,
            cert,
            key,
            clean_session=True,
            reconnect_min_timeout_secs=1,
            reconnect_max_timeout_secs=2,
        )

    def mtls(
        self,
        client_id: str,
        cert_of: str | None = None,
        cert: Path | None = None,
        key: Path | None = None,
        **options: Any,
    ) -> mqtt.Connection:
        """A connection to the mutual-TLS endpoint with a device's certificate and key (`cert_of`'s, else the
        client id's), and awscrt's `options`."""
        folder = self.keys / (cert_of or client_id)
        return mqtt_connection_builder.mtls_from_path(
            endpoint=self.endpoints.mqtt.host,
            port=self.endpoints.mqtt.tls_port,
            cert_filepath=str(cert or folder / "certificate.pem"),
            pri_key_filepath=str(key or folder / "private.key"),
            ca_filepath=self.ca_file,
            client_id=client_id,
            **options,
        )

    def wait_until_connects(self, client_id: str) -> None:
        """The endpoint applies a change of the registry within a second: wait for it, not a fixed time."""
        deadline = time.monotonic() + 10
        while not _connects(self.connection(client_id)):
            assert time.monotonic() < deadline, f"{client_id} never got in"
            time.sleep(0.2)

    def wait_until_refused(self, client_id: str) -> None:
        deadline = time.monotonic() + 10
        while _connects(self.connection(client_id)):
            assert time.monotonic() < deadline, f"{client_id} still gets in"
            time.sleep(0.2)


@pytest.fixture
def devices(sandbox: Sandbox, endpoints: Endpoints, moto_reset: None, tmp_path: Path) -> Iterator[Devices]:
    """Two pressure devices provisioned in the sandbox's IoT registry with certificates of its CA."""
    keys = tmp_path / "keys"
    with local_registry(sandbox.endpoints_path) as ca_folder:
        policy = create_device_policy("pressure")  # (the ingest stack's: moto was reset)
        assert list(provision("pressure", 2, keys, issuer=LocalCa(ca_folder), policy=policy)) == [
            "pressure-0000: provisioned",
            "pressure-0001: provisioned",
        ]
    found = Devices(sandbox, sandbox.endpoints(), keys)
    found.wait_until_connects("pressure-0000")
    yield found
    with local_registry(sandbox.endpoints_path):
        list(deprovision("pressure", 2, keys, policy=policy))


def test_a_provisioned_device_publishes_over_mutual_tls_as_itself(devices: Devices) -> None:
    subscriber = Subscriber(devices.endpoints, "tls-watcher")
    try:
        summary = run_groups(
            None,
            [FleetGroup("pressure", 2)],
            rate=20,
            count=3,
            seed=1,
            target=aws_target(Path(devices.ca_file), devices.keys, devices.endpoint),
        )
        assert (summary.acknowledged, summary.denied, summary.failed) == (6, 0, 0)
        seen = subscriber.wait_for(6)
    finally:
        subscriber.close()
    assert len(seen) == 6 and {topic for topic, _ in seen} == {"/pressure/data"}


def test_who_cannot_connect(devices: Devices, tmp_path: Path) -> None:
    # No client certificate: the TLS handshake fails.
    options = io.TlsContextOptions()
    options.override_default_trust_store_from_path(None, devices.ca_file)
    no_certificate = mqtt.Connection(
        client=mqtt.Client(io.ClientBootstrap.get_or_create_static_default(), io.ClientTlsContext(options)),
        host_name=devices.endpoints.mqtt.host,
        port=devices.endpoints.mqtt.tls_port,
        client_id="pressure-0000",
    )
    assert not _connects(no_certificate)

    # A certificate for the same thing name from another authority.
    other = LocalCa(tmp_path / "other-ca").ensure()
    from simulator.provisioning import _key_and_csr

    key_pem, csr = _key_and_csr("pressure-0000")
    (tmp_path / "other.pem").write_text(other.sign(csr))
    (tmp_path / "other.key").write_text(key_pem)
    assert not _connects(
        devices.connection("pressure-0000", cert=tmp_path / "other.pem", key=tmp_path / "other.key")
    )

    # A good certificate under a client id other than its thing: another device's, or a made-up one.
    assert not _connects(devices.connection("pressure-0001", cert_of="pressure-0000"))
    assert not _connects(devices.connection("someone-else", cert_of="pressure-0000"))
    assert _connects(devices.connection("pressure-0000"))

    # A certificate revoked with another tool than the simulator: `python -m sandbox access` applies it.
    certificate_id = (devices.keys / "pressure-0001" / "certificate.id").read_text().split()[0]
    iot = devices.endpoints.aws.client("iot")
    iot.update_certificate(certificateId=certificate_id, newStatus="REVOKED")
    assert sandbox_cli(["access", "--root", str(devices.sandbox.root)]) == 0
    devices.wait_until_refused("pressure-0001")
    assert _connects(devices.connection("pressure-0000"))


def test_a_publish_the_policy_denies_gets_nothing_through_and_is_reported(
    devices: Devices, tmp_path: Path
) -> None:
    """A pressure device that publishes where its policy does not allow: IoT Core closes the connection."""
    wrong = tmp_path / "wrong-topic.yaml"
    wrong.write_text(
        "name: pressure\ntopic: /shelf/data\nattributes:\n  pressure: {type: random_walk, min: 1, max: 2, step: 1}\n"
    )
    subscriber = Subscriber(devices.endpoints, "denied-watcher")
    try:
        summary = run_groups(
            None,
            [FleetGroup(str(wrong), 1)],
            rate=10,
            count=2,
            target=aws_target(Path(devices.ca_file), devices.keys, devices.endpoint),
        )
        # The allowed device still gets through afterwards: only the offender was cut off.
        allowed = run_groups(
            None,
            [FleetGroup("pressure", 1)],
            rate=10,
            count=1,
            target=aws_target(Path(devices.ca_file), devices.keys, devices.endpoint),
        )
        subscriber.wait_for(1)
        time.sleep(0.5)  # nothing else comes after the allowed reading
        seen = list(subscriber.messages)
    finally:
        subscriber.close()
    assert (summary.acknowledged, summary.denied, summary.failed) == (0, 2, 0)
    assert summary.disconnects >= 3
    assert allowed.acknowledged == 1
    assert [topic for topic, _ in seen] == ["/pressure/data"]


def test_deprovisioning_removes_the_device_from_the_broker(devices: Devices) -> None:
    interrupted = threading.Event()
    connection = devices.mtls("pressure-0001", on_connection_interrupted=lambda *_, **__: interrupted.set())
    connection.connect().result(timeout=TIMEOUT)
    keys_copy = devices.keys / "pressure-0001"  # deprovision removes it: the device keeps a copy
    cert, key = (keys_copy / "certificate.pem").read_bytes(), (keys_copy / "private.key").read_bytes()
    with local_registry(devices.sandbox.endpoints_path):
        iot = boto3.client("iot")
        certificate_arn = (keys_copy / "certificate.id").read_text().split()[1]
        assert iot.list_principal_things(principal=certificate_arn)["things"] == ["pressure-0001"]
        lines = list(deprovision("pressure", 2, devices.keys, policy="demo-pressure-device-policy"))
    assert lines == ["pressure-0000: removed", "pressure-0001: removed"]
    assert interrupted.wait(10), "the connected device was not disconnected"
    connection.disconnect().result(timeout=TIMEOUT)
    # The old certificate and key (kept by the device) no longer get in.
    keys_copy.mkdir(parents=True)
    (keys_copy / "certificate.pem").write_bytes(cert)
    (keys_copy / "private.key").write_bytes(key)
    assert not _connects(devices.connection("pressure-0001"))


def _published(connection: mqtt.Connection, payload: bytes) -> bool:
    """Whether a QoS 1 publish got its PUBACK; False when the broker closed the connection instead (awscrt then
    cancels the clean session's publish: the publisher sees a failure)."""
    connection.connect().result(timeout=TIMEOUT)
    try:
        connection.publish("/pressure/data", payload, mqtt.QoS.AT_LEAST_ONCE)[0].result(timeout=TIMEOUT)
        return True
    except Exception:
        return False
    finally:
        connection.disconnect().result(timeout=TIMEOUT)


def test_a_message_over_128_kb_is_refused_by_closing_the_connection_never_acknowledged(
    devices: Devices,
) -> None:
    """IoT Core refuses a payload over 128 KB; the broker must not acknowledge one and drop it."""
    largest, over = b"x" * (128 * 1024), b"x" * (128 * 1024 + 1)
    subscriber = Subscriber(devices.endpoints, "size-watcher")
    try:
        assert _published(devices.connection("pressure-0000"), largest)
        assert not _published(devices.connection("pressure-0000"), over)  # the device endpoint: exact
        assert _published(plain_connection(devices.endpoints, "plain-largest"), largest)
        assert not _published(plain_connection(devices.endpoints, "plain-200kb"), b"x" * 200_000)  # mosquitto
        seen = subscriber.wait_for(2)
        time.sleep(0.5)  # nothing else comes after the two that were taken
        seen = list(subscriber.messages)
    finally:
        subscriber.close()
    assert [len(payload) for _, payload in seen] == [len(largest), len(largest)]


def _with_will(devices: Devices, topic: str, retain: bool) -> mqtt.Connection:
    return devices.mtls(
        "pressure-0000",
        clean_session=True,
        will=mqtt.Will(topic=topic, qos=mqtt.QoS.AT_LEAST_ONCE, payload=b"gone", retain=retain),
    )


def test_the_will_and_the_retain_flag_are_authorized_as_on_iot_core(devices: Devices) -> None:
    """IoT Core checks iot:Publish on the will's topic at CONNECT, and iot:RetainPublish on a retained message (and
    a retained will); the device policy grants neither another kind's topic nor retaining."""
    assert _connects(_with_will(devices, "/pressure/data", retain=False))
    assert not _connects(_with_will(devices, "/shelf/data", retain=False))  # another kind's topic
    assert not _connects(_with_will(devices, "/pressure/data", retain=True))
    subscriber = Subscriber(devices.endpoints, "retain-watcher")
    connection = devices.connection("pressure-0000")
    try:
        connection.connect().result(timeout=TIMEOUT)
        retained, _ = connection.publish("/pressure/data", b"{}", mqtt.QoS.AT_LEAST_ONCE, retain=True)
        with pytest.raises(Exception):  # noqa: B017 - the connection is closed under it: awscrt's error varies
            retained.result(timeout=TIMEOUT)
        with contextlib.suppress(Exception):
            connection.disconnect().result(timeout=TIMEOUT)
        assert _published(devices.connection("pressure-0000"), b"{}")  # the same, not retained, passes
        subscriber.wait_for(1)
        time.sleep(0.5)  # nothing else comes after it
        seen = list(subscriber.messages)
    finally:
        subscriber.close()
    assert seen == [("/pressure/data", b"{}")]


def test_a_string_not_equals_deny_is_enforced_and_an_unknown_operator_refused_at_load(
    devices: Devices, capsys: pytest.CaptureFixture[str]
) -> None:
    """A Deny under StringNotEquals once was skipped (failing open); a policy the endpoint cannot evaluate is now
    refused when the access rules are read from the registry, naming the policy and the operator."""
    iot = devices.endpoints.aws.client("iot")
    certificate_arn = (devices.keys / "pressure-0000" / "certificate.id").read_text().split()[1]
    statement = {"Effect": "Deny", "Action": "iot:Publish", "Resource": "*"}
    documents = {
        "test-deny-but-operators": {"StringNotEquals": {"iot:ClientId": ["operator-1", "operator-2"]}},
        "test-numeric": {"NumericLessThan": {"iot:ClientId": "3"}},
    }
    access = ["access", "--root", str(devices.sandbox.root)]
    attached = []
    try:
        for name, condition in documents.items():
            document = {"Version": "2012-10-17", "Statement": [{**statement, "Condition": condition}]}
            iot.create_policy(policyName=name, policyDocument=json.dumps(document))
            iot.attach_policy(policyName=name, target=certificate_arn)
            attached.append(name)
            if name == "test-deny-but-operators":
                assert sandbox_cli(access) == 0
                deadline = time.monotonic() + 10
                while _published(devices.connection("pressure-0000"), b"{}"):
                    assert time.monotonic() < deadline, "the Deny under StringNotEquals was not enforced"
                    time.sleep(0.2)
        capsys.readouterr()
        assert sandbox_cli(access) == 1
        error = " ".join(capsys.readouterr().out.split())
        assert "IoT policy 'test-numeric'" in error and "condition operator 'NumericLessThan'" in error
        # The access rules in force stay what they were: the other device still publishes, this one is denied.
        assert _published(devices.connection("pressure-0001"), b"{}")
        assert not _published(devices.connection("pressure-0000"), b"{}")
    finally:
        for name in attached:
            iot.detach_policy(policyName=name, target=certificate_arn)
            iot.delete_policy(policyName=name)
        sandbox_cli(access)
