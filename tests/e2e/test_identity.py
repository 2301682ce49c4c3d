"""A reading is bound to the connection that published it, not to the device its payload names.

The rules hand the function `clientid()` (lambda/ingest_to_influxdb/identity.py): on AWS IoT the thing name the
device policy pins the connection to, which becomes the sensor id. Locally the device endpoint hands the rules the
client id of each device's connection (tests/e2e/test_device_tls.py); a message published on the broker's plain
listener, which no device reaches, has none, so `clientid()` is null: the payload's identity is used, and a payload
still cannot put a connection identity of its own choosing in the rule's column. Where the runner is handed a client
id, as IoT Core hands it, the reading is written as that thing whatever its payload claims.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from awscrt import mqtt
from ingest_to_influxdb.identity import CONNECTION_FIELD

from local_aws.iot.mqtt_session import BrokerMessage
from local_aws.lambda_.event_store import EventStore
from local_aws.rule_runner import RuleRunner, load_rules
from local_aws.runner import deployed_template, local_overrides
from reach.mqtt import plain_connection
from sandbox.scenarios.accounting import wait_until_settled
from tests.support.pipeline import WRITER_SECRET, Pipeline, drain, reading

pytestmark = pytest.mark.e2e


def sensors(pipeline: Pipeline, pattern: str, since: datetime | None = None) -> dict[str, int]:
    """Points per sensor whose id matches `pattern` (since `since`: other tests write as pressure-0000 too)."""
    window = f" AND time >= '{since.isoformat()}'" if since else ""
    series = pipeline.query(
        f"SELECT count(pressureValue) FROM pressure WHERE sensorID =~ /{pattern}/{window} GROUP BY sensorID"
    )
    return {s["tags"]["sensorID"]: int(s["values"][0][1]) for s in series}


def claiming(deviceid: str, claimed_connection: str, when: datetime | None = None) -> bytes:
    """A reading that names a device and also tries to set the connection identity the rule adds."""
    body = json.loads(reading(deviceid, when or datetime.now(UTC)))
    body[CONNECTION_FIELD] = claimed_connection
    return json.dumps(body).encode()


def test_through_the_real_broker_a_payload_cannot_choose_its_connection_identity(
    direct_pipeline: Pipeline,
) -> None:
    pipeline = direct_pipeline
    # To the millisecond, as the readings carry their time: a reading sent within the same millisecond is not
    # before the window.
    now = datetime.now(UTC)
    since = now.replace(microsecond=now.microsecond // 1000 * 1000)
    connection = plain_connection(pipeline.endpoints, "pressure-0001")
    connection.connect().result(timeout=10)
    try:
        future, _ = connection.publish(
            "/pressure/data", claiming("brokerspoof", "pressure-0000"), mqtt.QoS.AT_LEAST_ONCE
        )
        future.result(timeout=10)
    finally:
        connection.disconnect().result(timeout=10)
    spoofed = "^(brokerspoof|pressure-0000)"
    deadline = time.monotonic() + 60  # a busy machine takes its time: wait for the reading, then for quiet
    while not sensors(pipeline, spoofed, since):
        assert time.monotonic() < deadline, "the reading was never written"
        time.sleep(0.2)
    wait_until_settled(lambda: sensors(pipeline, spoofed, since), timeout=30)
    # The plain listener vouches for no client id, so the payload's own identity is used; the identity the
    # payload put where the rule's clientid() goes was overwritten by the rule (null), never believed.
    assert sensors(pipeline, spoofed, since) == {"brokerspoof-brokerspoof-client": 1}


def run_in_process(pipeline: Pipeline, messages: list[tuple[bytes, str]], store: Path) -> None:
    """The deployed rules, played by a runner fed as IoT Core feeds its rules: each message with the client id
    of the connection that published it."""
    endpoints = pipeline.endpoints
    deployed = deployed_template(
        pipeline.templates / "ingest.json", "demo-ingest", endpoints.aws.region, endpoints.aws.account_id
    )
    rules, mappings = load_rules(deployed, local_overrides(endpoints, WRITER_SECRET))
    runner = RuleRunner(rules, mappings, endpoints.aws.region, EventStore(store))
    runner.start()
    try:
        for payload, client_id in messages:
            runner.on_delivery(
                BrokerMessage("/pressure/data", payload, ack=lambda: None, client_id=client_id)
            )
        deadline = time.monotonic() + 30
        while not runner.idle() and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        runner.stop()
    assert runner.counters.snapshot()["in_flight"] == 0


def test_through_the_rule_runner_the_thing_is_the_sensor_whatever_the_payload_claims(
    direct_pipeline: Pipeline, tmp_path: Path
) -> None:
    pipeline = direct_pipeline
    drain(pipeline, "rejected")
    now = datetime.now(UTC)
    run_in_process(
        pipeline,
        [
            # pressure-0102 names another device and another connection in its payload
            (claiming("victimdev", "pressure-0101", now - timedelta(seconds=2)), "pressure-0102"),
            (reading("victimdev", now - timedelta(seconds=1)), "pressure-0102"),
            # published over HTTPS, not MQTT: IoT's clientid() is "n/a", and no thing vouches for it
            (reading("httpsdev", now), "n/a"),
        ],
        tmp_path / "events.sqlite",
    )
    assert sensors(pipeline, "^(victimdev|pressure-010|httpsdev)") == {"pressure-0102": 2}
    rejected: list[dict[str, Any]] = drain(pipeline, "rejected")
    assert [(r["code"], r["reading"]["deviceid"]) for r in rejected] == [("no_identity", "httpsdev")]
