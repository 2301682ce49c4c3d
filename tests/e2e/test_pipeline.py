"""Simulator -> broker -> IoT rule -> ingest function -> InfluxDB, on both ingest paths, nothing lost."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from sandbox.manager.deployment import rule_runner_stats
from sandbox.scenarios.accounting import Accounting, count_points, queue_depth
from simulator.api import FleetGroup, run_groups
from tests.support.pipeline import Pipeline

PRESSURE_DEVICES, SHELF_DEVICES, READINGS = 50, 10, 20


def test_every_reading_arrives_once_enriched_in_its_measurement(pipeline: Pipeline) -> None:
    queues = pipeline.endpoints.queues
    before = {name: queue_depth(queues[name]) for name in ("rejected", "dead_letter")}
    received_before = rule_runner_stats(pipeline.sandbox).get("received", 0)
    # The devices stamp their readings with their clock from now on, a kind that sends whole seconds up to a second
    # early: the window opens a second back, after a second's pause, so no earlier test's reading falls in it.
    time.sleep(1.0)
    since = datetime.now(UTC) - timedelta(seconds=1)
    summary = run_groups(
        pipeline.sandbox.endpoints_path,
        [FleetGroup("pressure", PRESSURE_DEVICES), FleetGroup("shelf", SHELF_DEVICES)],
        rate=20.0,
        count=READINGS,
    )
    expected = (PRESSURE_DEVICES + SHELF_DEVICES) * READINGS
    assert summary.acknowledged == expected

    until = datetime.now(UTC) + timedelta(minutes=1)
    expected_counts = {
        "pressure": PRESSURE_DEVICES * READINGS,
        "product_count": SHELF_DEVICES * READINGS,
        "button": 0,  # buttons report by webhook (tests/e2e/test_webhook.py)
    }
    deadline = time.monotonic() + 120
    while (
        counts := count_points(pipeline.endpoints, since, until)
    ) != expected_counts and time.monotonic() < deadline:
        time.sleep(0.5)
    assert counts == expected_counts
    time.sleep(1)  # nothing more arrives afterwards: each reading exactly once
    assert count_points(pipeline.endpoints, since, until) == expected_counts

    # Every device's readings carry its metadata: one series per sensor, tagged by its metadata item.
    window = f"time >= '{since.isoformat()}'"
    for measurement, field, devices in (
        ("pressure", "pressureValue", PRESSURE_DEVICES),
        ("product_count", "count", SHELF_DEVICES),
    ):
        series = pipeline.query(
            f'SELECT count("{field}") FROM "{measurement}" WHERE {window} GROUP BY sensorID, manufacturer, family'
        )
        assert len(series) == devices
        for one in series:
            assert one["tags"]["manufacturer"] and one["tags"]["family"], one["tags"]
            assert one["values"][0][1] == READINGS

    accounting = Accounting(
        sent=summary.acknowledged,
        written=sum(counts.values()),
        rejected=queue_depth(queues["rejected"]) - before["rejected"],
        dead_letters=queue_depth(queues["dead_letter"]) - before["dead_letter"],
    )
    assert accounting.lost == 0 and accounting.rejected == 0 and accounting.dead_letters == 0
    assert rule_runner_stats(pipeline.sandbox)["received"] - received_before == expected
