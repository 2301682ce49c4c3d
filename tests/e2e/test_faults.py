"""The pipeline under faults: a rule's WHERE, an InfluxDB outage and replay, hostile readings."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from catalog.loader import PROJECT_ROOT
from sandbox.manager import processes
from sandbox.manager.deployment import RULE_RUNNER, start_rule_runner
from sandbox.scenarios.accounting import queue_depth
from tests.support.pipeline import WRITER_SECRET, Pipeline, count_for, drain, reading


def with_where(sql: Any, where: str) -> Any:
    if isinstance(sql, dict):
        return {key: with_where(value, where) for key, value in sql.items()}
    if isinstance(sql, list):
        return [with_where(value, where) for value in sql]
    return f"{sql} WHERE {where}" if isinstance(sql, str) and sql.startswith("SELECT") else sql


def test_a_rule_with_where_delivers_only_matching_readings(direct_pipeline: Pipeline, tmp_path: Any) -> None:
    pipeline = direct_pipeline
    templates = tmp_path / "templates"
    shutil.copytree(pipeline.templates, templates)
    template = json.loads((templates / "ingest.json").read_text())
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::IoT::TopicRule":
            payload = resource["Properties"]["TopicRulePayload"]
            payload["Sql"] = with_where(payload["Sql"], "pressure > 1000 AND viscosity >= 50")
    (templates / "ingest.json").write_text(json.dumps(template))
    start_rule_runner(pipeline.sandbox, templates, "demo", WRITER_SECRET)
    try:
        now = datetime.now(UTC)
        pressures = [900, 1000, 1001, 1200, 1500, 700]
        pipeline.publish(
            "/pressure/data",
            [reading(f"where{p}", now - timedelta(seconds=i), pressure=p) for i, p in enumerate(pressures)]
            + [reading("whereviscous", now, pressure=1400, viscosity=1)],
        )
        pipeline.wait_drained()
        written = pipeline.query("SELECT pressureValue FROM pressure WHERE sensorID =~ /^where/")
        assert sorted(v[1] for v in written[0]["values"]) == [1001, 1200, 1500]
    finally:
        start_rule_runner(pipeline.sandbox, pipeline.templates, "demo", WRITER_SECRET)


def test_an_influxdb_outage_loses_nothing_after_replay(pipeline: Pipeline) -> None:
    """Direct path: Lambda's retries, then the on-failure destination. Queued path: the batch's failures come
    back after their visibility until the ingest queue's redrive policy moves them to the dead letters."""
    sandbox = pipeline.sandbox
    prefix = f"outage{uuid.uuid4().hex[:6]}"
    start = datetime.now(UTC) - timedelta(minutes=5)
    batches = [
        [reading(f"{prefix}{b}x{i}", start + timedelta(seconds=b * 10 + i)) for i in range(5)]
        for b in range(3)
    ]
    dead_before = queue_depth(pipeline.endpoints.queues["dead_letter"])
    pipeline.publish("/pressure/data", batches[0])
    pipeline.wait_drained()
    assert count_for(pipeline, prefix) == 5

    sandbox.stop_service("influxdb")
    try:
        pipeline.publish("/pressure/data", batches[1])
        deadline = time.monotonic() + 120
        while (
            queue_depth(pipeline.endpoints.queues["dead_letter"]) < dead_before + 5
            and time.monotonic() < deadline
        ):
            time.sleep(0.5)
    finally:
        sandbox.start_service("influxdb")
    assert queue_depth(pipeline.endpoints.queues["dead_letter"]) == dead_before + 5

    pipeline.publish("/pressure/data", batches[2])
    replay = subprocess.run(
        [sys.executable, "-m", "ingest_tools.replay", "--endpoints", str(sandbox.endpoints_path)],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert replay.returncode == 0, replay.stdout + replay.stderr
    pipeline.wait_drained()
    assert count_for(pipeline, prefix) == 15  # every reading once: replays overwrite, never duplicate
    assert queue_depth(pipeline.endpoints.queues["dead_letter"]) == 0


HOSTILE: list[bytes] = [
    b"not json at all",
    b"[1, 2, 3]",
    b'{"pressure": "NaN", "viscosity": 50, "sensordatetime": "2026-11-22T10:00:00Z", "deviceid": "h1", "clientid": "c"}',
    b'{"pressure": true, "viscosity": 50, "sensordatetime": "2026-11-22T10:00:00Z", "deviceid": "h2", "clientid": "c"}',
    b'{"viscosity": 50, "sensordatetime": "2026-11-22T10:00:00Z", "deviceid": "h3", "clientid": "c"}',
    b'{"pressure": 900, "viscosity": 50, "sensordatetime": "yesterday", "deviceid": "h4", "clientid": "c"}',
    b'{"pressure": 900, "viscosity": 50, "sensordatetime": "2026-11-22T10:00:00Z", "deviceid": "", "clientid": "c"}',
    json.dumps(
        {
            "pressure": 1,
            "viscosity": 2,
            "sensordatetime": "2026-11-22T10:00:00Z",
            "deviceid": "x" * 100_000,
            "clientid": "c",
        }
    ).encode(),
]
# Written, with their awkward characters intact and nothing else disturbed.
AWKWARD_IDS = ["hostile a,b=c d", 'hostile "quoted" \\ back', "hostile ünïcødé ✓"]
# Line protocol cannot carry a newline in a tag: this one is rejected with its reason.
UNWRITABLE_IDS = ["hostile\nnewline"]


def test_hostile_readings_are_written_correctly_or_kept_with_a_reason(direct_pipeline: Pipeline) -> None:
    pipeline = direct_pipeline
    drain(pipeline, "rejected")
    drain(pipeline, "dead_letter")
    when = datetime.now(UTC) - timedelta(minutes=1)
    awkward = [
        reading(d, when + timedelta(milliseconds=i)) for i, d in enumerate(AWKWARD_IDS + UNWRITABLE_IDS)
    ]
    pipeline.publish("/pressure/data", HOSTILE + awkward)
    pipeline.wait_drained()
    rejected = drain(pipeline, "rejected")
    dead = drain(pipeline, "dead_letter")
    # Not JSON objects: IoT cannot evaluate the rule's SQL, so its error action keeps them (replayable).
    assert len(dead) == 2 and all("base64OriginalPayload" in d for d in dead)
    # The rest of the invalid ones: rejected by the function, each with a reason.
    assert len(rejected) == len(HOSTILE) - 2 + len(UNWRITABLE_IDS)
    assert all(r["reason"] for r in rejected)
    assert any("newline" in json.dumps(r["reading"]) and "control" in r["reason"] for r in rejected)

    written = pipeline.query(
        "SELECT pressureValue, viscosity FROM pressure WHERE sensorID =~ /^hostile/ GROUP BY sensorID"
    )
    assert sorted(s["tags"]["sensorID"] for s in written) == sorted(f"{d}-{d}-client" for d in AWKWARD_IDS)
    for series in written:
        assert series["values"][0][1:] == [800, 50]

    # Both keep running: a good reading after all that still arrives.
    record = processes.running(pipeline.sandbox.pid_file(RULE_RUNNER))
    assert record is not None
    pipeline.publish("/pressure/data", [reading("afterhostile", datetime.now(UTC))])
    pipeline.wait_drained()
    assert count_for(pipeline, "afterhostile") == 1
