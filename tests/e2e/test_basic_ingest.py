"""Basic Ingest through the real broker and rule runner: pressure devices, with the stack's PressureBasicIngest
on, publish to `$aws/rules/demo_ingest_pressure/...` and their readings land enriched as pressure; shelf readings
sent the same way while ShelfBasicIngest is off are kept in the rejected queue with the reason, not lost."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from ingest_to_influxdb import basic_ingest

from sandbox.manager.deployment import SAMPLE_METADATA, aws_environment, deploy_local, rule_runner_stats
from sandbox.manager.services import Sandbox
from sandbox.scenarios.accounting import count_points
from simulator.api import FleetGroup, run_groups
from simulator.cli import basic_ingest_group
from tests.support.pipeline import Pipeline

DEVICES, READINGS = 3, 4
SHELF_READING = {
    "count": 3,
    "product_id": "sku-tea-100g",
    "deviceid": "shelf01",
    "clientid": "c-1",
    "metakey": "shelf-01",
}


@pytest.fixture(scope="module")
def basic_ingest_pipeline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    root = tmp_path_factory.mktemp("basic-ingest")
    sandbox = Sandbox(root / "sandbox")
    try:
        endpoints = deploy_local(
            sandbox, templates=root / "templates", parameters={"PressureBasicIngest": "true"}
        )
        with aws_environment(endpoints):
            yield Pipeline(sandbox, endpoints, root / "templates")
    finally:
        sandbox.down()


def test_basic_ingest_readings_land_enriched_as_their_rules_kind(basic_ingest_pipeline: Pipeline) -> None:
    pipeline = basic_ingest_pipeline
    group = basic_ingest_group(FleetGroup("pressure", DEVICES), "demo")
    assert group.topic == "$aws/rules/demo_ingest_pressure/pressure/data"
    since = datetime.now(UTC) - timedelta(seconds=5)
    summary = run_groups(pipeline.sandbox.endpoints_path, [group], rate=20.0, count=READINGS, seed=3)
    assert summary.acknowledged == DEVICES * READINGS
    # Shelf's rule, with its Basic Ingest off: kept with the reason.
    shelf = {**SHELF_READING, "sensordatetime": datetime.now(UTC).isoformat(timespec="milliseconds")}
    pipeline.publish(
        basic_ingest.device_topic("demo_ingest_shelf", "/shelf/data"), [json.dumps(shelf).encode()]
    )

    until = datetime.now(UTC) + timedelta(minutes=1)
    deadline = time.monotonic() + 120
    while (counts := count_points(pipeline.endpoints, since, until))["pressure"] < DEVICES * READINGS:
        assert time.monotonic() < deadline, counts
        time.sleep(0.5)
    assert {m: n for m, n in counts.items() if n} == {"pressure": DEVICES * READINGS}  # no other kind
    series = pipeline.query(
        f'SELECT count("pressureValue") FROM pressure WHERE time >= {int(since.timestamp() * 1000)}ms '
        "GROUP BY sensorID, manufacturer"
    )
    assert len(series) == DEVICES
    manufacturers = {item["manufacturer"] for item in json.loads(SAMPLE_METADATA.read_text())}
    for one in series:  # each device's readings, enriched with its metadata
        assert one["tags"]["manufacturer"] in manufacturers
        assert one["values"][0][1] == READINGS
    # The rule runner took them all off the broker: the pressure readings and the shelf one.
    while rule_runner_stats(pipeline.sandbox).get("acknowledged", 0) < DEVICES * READINGS + 1:
        assert time.monotonic() < deadline, rule_runner_stats(pipeline.sandbox)
        time.sleep(0.5)

    sqs = boto3.client("sqs")
    rejected: list[dict[str, Any]] = []
    while not rejected:
        assert time.monotonic() < deadline, "the shelf reading was not rejected"
        messages = sqs.receive_message(
            QueueUrl=pipeline.endpoints.queues["rejected"], MaxNumberOfMessages=10, WaitTimeSeconds=1
        ).get("Messages", [])
        rejected += [json.loads(m["Body"]) for m in messages]
    (shelf_rejected,) = rejected
    assert shelf_rejected["reading"]["deviceid"] == "shelf01"
    assert "Basic Ingest" in shelf_rejected["reason"] and "demo_ingest_shelf" in shelf_rejected["reason"]
