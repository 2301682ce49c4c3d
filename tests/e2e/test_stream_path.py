"""The stream path through the real broker and rule runner: readings land; a poison reading is rejected alone while
the rest of its batch lands; an InfluxDB outage sends the failing batches to the on-failure bucket with their
records, and replay writes them once, however often it runs."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta

from catalog.loader import PROJECT_ROOT
from reach.endpoints import STREAM_FAILURES_KEY, STREAM_KEY
from sandbox.manager.deployment import rule_runner_stats
from sandbox.scenarios.accounting import failed_stream_records, queue_depth, queue_depths
from tests.support.pipeline import Pipeline, count_for, reading


def _replay(pipeline: Pipeline) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ingest_tools.replay", "--endpoints", str(pipeline.sandbox.endpoints_path),
         "--ledger", str(pipeline.sandbox.root / "replay-ledger.txt")],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip


def shelf_reading(device: str, when: datetime) -> bytes:
    body = {**json.loads(reading(device, when)), "count": 7, "product_id": "sku-tea-100g"}
    del body["pressure"], body["viscosity"]
    return json.dumps(body).encode()


def shelf_count(pipeline: Pipeline, device_prefix: str) -> int:
    series = pipeline.query(f'SELECT count("count") FROM product_count WHERE sensorID =~ /^{device_prefix}/')
    return int(series[0]["values"][0][1]) if series else 0


def test_readings_land_through_the_stream_and_a_poison_reading_is_rejected_alone(
    stream_pipeline: Pipeline,
) -> None:
    pipeline, prefix = stream_pipeline, f"st{uuid.uuid4().hex[:6]}"
    streamed_before = int(rule_runner_stats(pipeline.sandbox).get("streamed", 0))
    rejected_before = queue_depth(pipeline.endpoints.queues["rejected"])
    when = datetime.now(UTC) - timedelta(minutes=2)
    good = [reading(f"{prefix}ok{i}", when + timedelta(milliseconds=i)) for i in range(12)]
    poison = json.dumps({**json.loads(good[0]), "deviceid": f"{prefix}bad", "pressure": "NaN"}).encode()
    pipeline.publish("/pressure/data", [*good[:6], poison, *good[6:]])
    pipeline.wait_drained()
    assert count_for(pipeline, f"{prefix}ok") == len(good)
    assert queue_depth(pipeline.endpoints.queues["rejected"]) == rejected_before + 1
    assert int(rule_runner_stats(pipeline.sandbox)["streamed"]) == streamed_before + len(good) + 1
    assert queue_depths(pipeline.endpoints, pipeline.sandbox.root)[STREAM_KEY] == 0  # every checkpoint passed


def test_an_outage_keeps_the_records_in_the_bucket_and_replay_writes_them_once(
    stream_pipeline: Pipeline,
) -> None:
    # Shelf readings: a kind that writes to InfluxDB alone, so none of its sinks takes a reading while InfluxDB is
    # down and the batch fails whole (a kind with a second sink has it there and on the dead letters for
    # InfluxDB: tests/e2e/test_drill.py).
    pipeline, prefix = stream_pipeline, f"so{uuid.uuid4().hex[:6]}"
    bucket = pipeline.endpoints.queues[STREAM_FAILURES_KEY]
    assert failed_stream_records(bucket) == 0
    when = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=3)
    readings = [shelf_reading(f"{prefix}{i}", when + timedelta(seconds=i)) for i in range(8)]
    pipeline.publish("/shelf/data", readings[:2])
    pipeline.wait_drained()
    assert shelf_count(pipeline, prefix) == 2
    pipeline.sandbox.stop_service("influxdb")
    try:
        pipeline.publish("/shelf/data", readings)  # the first two again: a device's retry of written ones
        deadline = time.monotonic() + 90
        while failed_stream_records(bucket) < len(readings):  # five retries, then the destination
            assert time.monotonic() < deadline, "the failed batches never reached the on-failure bucket"
            time.sleep(1)
    finally:
        pipeline.sandbox.start_service("influxdb")
    pipeline.wait_drained()
    assert failed_stream_records(bucket) == len(readings)  # kept, none lost
    first = _replay(pipeline)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "stream's failed batches" in first.stdout
    assert shelf_count(pipeline, prefix) == len(readings)  # each once, the retried two included
    assert failed_stream_records(bucket) == 0
    again = _replay(pipeline)
    assert again.returncode == 0 and shelf_count(pipeline, prefix) == len(readings)
