"""Poison through the broker, on both paths: each record alone is rejected with its reason, the rest of
its batch is written, and replay exits 0 and files nothing twice."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta

from sandbox.accounting import queue_depth
from sandbox.services import PROJECT_ROOT
from tests.e2e.conftest import Pipeline, reading
from tests.e2e.test_faults import count_for, drain


def _replay(pipeline: Pipeline) -> subprocess.CompletedProcess[str]:
    ledger = pipeline.sandbox.root / "replay-ledger.txt"
    return subprocess.run(
        [sys.executable, "-m", "ingest_tools.replay", "--endpoints", str(pipeline.sandbox.endpoints_path),
         "--ledger", str(ledger)],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip


def _shelf(deviceid: str, when: datetime, count: object) -> bytes:
    stamp = when.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    body = {"count": count, "product_id": "p", "sensordatetime": stamp, "deviceid": deviceid, "clientid": "c"}
    return json.dumps(body).encode()


def test_poison_is_rejected_alone_and_replay_files_it_once(pipeline: Pipeline) -> None:
    drain(pipeline, "rejected")
    drain(pipeline, "dead_letter")
    now = datetime.now(UTC) - timedelta(minutes=1)
    good = [reading(f"poisonok{i}", now + timedelta(milliseconds=i)) for i in range(6)]
    valid = json.loads(good[0])
    surrogate = json.dumps({**valid, "deviceid": "poison\ud800"}).encode()  # the escape, valid JSON
    not_utf8 = json.dumps({**valid, "deviceid": "poisonRAW"}).encode().replace(b"RAW", b"\xed\xa0\x80")
    deep = json.dumps(valid)[:-1].encode() + b', "deep": ' + b"[" * 2000 + b"]" * 2000 + b"}"
    pressure = [good[0], surrogate, good[1], not_utf8, good[2], deep, good[3]]
    pipeline.publish("/pressure/data", pressure)
    pipeline.publish("/shelf/data", [_shelf("poisonbig", now, 2**53 + 1), _shelf("poisonshelf", now, 2**53)])
    pipeline.publish("/pressure/data", good[4:])
    pipeline.wait_drained()

    first = _replay(pipeline)
    assert first.returncode == 0, first.stdout + first.stderr
    pipeline.wait_drained()
    assert count_for(pipeline, "poisonok") == len(good)  # the rest of every batch is written
    shelf = pipeline.query("SELECT count FROM product_count WHERE sensorID = 'poisonshelf-c'")
    assert shelf[0]["values"][0][1] == 2**53
    assert queue_depth(pipeline.endpoints.queues["dead_letter"]) == 0

    again = _replay(pipeline)  # nothing left to place: no error, nothing filed twice
    assert again.returncode == 0, again.stdout + again.stderr
    rejected = drain(pipeline, "rejected")
    reasons = sorted(r["code"] for r in rejected)
    # The raw bytes of a surrogate read as one (Python's JSON reader is lenient): both are bad identifiers.
    assert reasons == ["bad_field", "bad_identifier", "bad_identifier", "too_deep"], rejected
    assert all("surrogate" in r["reason"] for r in rejected if r["code"] == "bad_identifier")
    assert all("2**53" in r["reason"] for r in rejected if r["code"] == "bad_field")
