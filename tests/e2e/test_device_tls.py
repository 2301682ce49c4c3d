"""A provisioned device over mutual TLS, through the local IoT endpoint, the rule and the function, into InfluxDB."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
from awscrt import mqtt5
from awsiot import mqtt5_client_builder
from ingest_to_influxdb.identity import PRINCIPAL_FIELD

from local_aws.iot.access import local_registry
from local_aws.iot.ca import LocalCa
from local_aws.iot.mqtt_wire import CLIENT_ID_PROPERTY
from sandbox.manager.deployment import rule_runner_stats
from sandbox.scenarios.accounting import Accounting, count_points, queue_depth
from simulator.api import FleetGroup, run_groups
from simulator.cli import aws_target
from simulator.provisioning import deprovision, provision
from tests.support.pipeline import Pipeline, reading

DEVICES, READINGS = 3, 5


def test_provisioned_devices_publish_over_mutual_tls_and_land_enriched(
    direct_pipeline: Pipeline, tmp_path: Path
) -> None:
    """Three devices publish where their policy allows; then one publishes where it does not, and none of that
    gets through: the accounting adds up among what the broker accepted, the denied readings counted apart."""
    pipeline = direct_pipeline
    queues = pipeline.endpoints.queues
    before = {name: queue_depth(queues[name]) for name in ("rejected", "dead_letter")}
    received_before = rule_runner_stats(pipeline.sandbox).get("received", 0)
    keys = tmp_path / "keys"
    with local_registry(pipeline.sandbox.endpoints_path) as ca_folder:
        list(provision("pressure", DEVICES, keys, issuer=LocalCa(ca_folder)))
    mqtt = pipeline.endpoints.mqtt
    assert mqtt.ca_file is not None
    target = aws_target(Path(mqtt.ca_file), keys, f"{mqtt.host}:{mqtt.tls_port}")
    since = datetime.now(UTC)
    try:
        deadline = time.monotonic() + 10
        while True:  # the endpoint applies the new registrations within a second
            try:
                summary = run_groups(
                    None, [FleetGroup("pressure", DEVICES)], rate=10, count=READINGS, target=target
                )
                break
            except ConnectionError:
                assert time.monotonic() < deadline
                time.sleep(0.3)
        assert (summary.acknowledged, summary.denied) == (DEVICES * READINGS, 0)
        until = datetime.now(UTC) + timedelta(minutes=1)
        deadline = time.monotonic() + 60
        while count_points(pipeline.endpoints, since, until).get("pressure") != DEVICES * READINGS:
            assert time.monotonic() < deadline, count_points(pipeline.endpoints, since, until)
            time.sleep(0.3)
        series = pipeline.query(
            f"SELECT count(\"pressureValue\") FROM pressure WHERE time >= '{since.isoformat()}' "
            "GROUP BY sensorID, manufacturer, family"
        )
        assert len(series) == DEVICES
        assert all(s["tags"]["manufacturer"] and s["tags"]["family"] for s in series)

        wrong = tmp_path / "wrong-topic.yaml"  # a pressure device publishing to the shelves' topic
        wrong.write_text(
            "name: pressure\ntopic: /shelf/data\nattributes:\n"
            "  pressure: {type: random_walk, min: 1, max: 2, step: 1}\n"
        )
        denied = run_groups(None, [FleetGroup(str(wrong), 1)], rate=10, count=2, target=target)
        assert (denied.acknowledged, denied.denied) == (0, 2)
        time.sleep(1)  # nothing of it arrives afterwards either
        counts = count_points(pipeline.endpoints, since, until)
        assert {m: n for m, n in counts.items() if n} == {"pressure": DEVICES * READINGS}  # no other kind
        assert rule_runner_stats(pipeline.sandbox)["received"] - received_before == DEVICES * READINGS
        accounting = Accounting(
            sent=summary.acknowledged + denied.acknowledged,
            written=sum(counts.values()),
            rejected=queue_depth(queues["rejected"]) - before["rejected"],
            dead_letters=queue_depth(queues["dead_letter"]) - before["dead_letter"],
        )
        assert accounting.lost == 0 and accounting.rejected == 0 and accounting.dead_letters == 0

        # clientid(): each reading is written as the thing whose connection published it, as on IoT Core (the
        # payload names another device); an MQTT 5 device that claims another's client id in the endpoint's own
        # user property is still written as itself.
        assert {s["tags"]["sensorID"] for s in series} == {f"pressure-{i:04d}" for i in range(DEVICES)}
        forged_since = datetime.now(UTC)
        _publish_claiming(pipeline, keys, "pressure-0000", claims="pressure-0001")
        deadline = time.monotonic() + 30
        while not (found := _sensors_since(pipeline, forged_since)):
            assert time.monotonic() < deadline, "the forged reading never arrived"
            time.sleep(0.3)
        assert found == {"pressure-0000": 1}

        # principal(): a rejected reading keeps the certificate id of the connection that published it, for audit.
        certificate_id = (keys / "pressure-0000" / "certificate.id").read_text().split()[0]
        rejected_at = datetime.now(UTC) + timedelta(days=2)  # a device clock far ahead: refused
        _publish_claiming(pipeline, keys, "pressure-0000", "pressure-0000", reading("audited", rejected_at))
        deadline = time.monotonic() + 30
        while (principal := _rejected_principal(queues["rejected"], "audited")) is None:
            assert time.monotonic() < deadline, "the rejected reading never reached the rejected queue"
            time.sleep(0.3)
        assert principal == certificate_id
    finally:
        with local_registry(pipeline.sandbox.endpoints_path):
            list(deprovision("pressure", DEVICES, keys))


def _rejected_principal(queue_url: str, deviceid: str) -> str | None:
    """The principal a rejected reading of `deviceid` was kept with, peeked (left visible for others)."""
    sqs = boto3.client("sqs")
    for _ in range(20):
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, VisibilityTimeout=0)
        for message in messages.get("Messages", []):
            kept = json.loads(message["Body"]).get("reading")
            if isinstance(kept, dict) and kept.get("deviceid") == deviceid:
                principal = kept.get(PRINCIPAL_FIELD)
                return principal if isinstance(principal, str) else ""
    return None


def _publish_claiming(
    pipeline: Pipeline, keys: Path, client_id: str, claims: str, payload: bytes | None = None
) -> None:
    """One reading over MQTT 5 and mutual TLS, carrying the endpoint's client-id user property with `claims`."""
    mqtt = pipeline.endpoints.mqtt
    assert mqtt.ca_file is not None
    connected = threading.Event()
    client = mqtt5_client_builder.mtls_from_path(
        endpoint=mqtt.host,
        port=mqtt.tls_port,
        cert_filepath=str(keys / client_id / "certificate.pem"),
        pri_key_filepath=str(keys / client_id / "private.key"),
        ca_filepath=mqtt.ca_file,
        client_id=client_id,
        on_lifecycle_connection_success=lambda _: connected.set(),
    )
    client.start()
    try:
        assert connected.wait(10)
        packet = mqtt5.PublishPacket(
            topic="/pressure/data",
            payload=payload or reading("forger", datetime.now(UTC)),
            qos=mqtt5.QoS.AT_LEAST_ONCE,
            user_properties=[mqtt5.UserProperty(CLIENT_ID_PROPERTY, claims)],
        )
        client.publish(packet).result(timeout=10)
    finally:
        client.stop()


def _sensors_since(pipeline: Pipeline, since: datetime) -> dict[str, int]:
    series = pipeline.query(
        f"SELECT count(\"pressureValue\") FROM pressure WHERE time >= '{since.isoformat()}' GROUP BY sensorID"
    )
    return {s["tags"]["sensorID"]: int(s["values"][0][1]) for s in series}
