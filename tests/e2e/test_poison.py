"""Poison through the broker, on both paths: each record alone is rejected with its reason, the rest of
its batch is written, and replay exits 0 and files nothing twice."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from awscrt.exceptions import AwsCrtError

from catalog.loader import PROJECT_ROOT
from sandbox.manager.deployment import rule_runner_stats
from sandbox.scenarios.accounting import queue_depth
from tests.support.pipeline import Pipeline, count_for, drain, reading


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


def _codes(pipeline: Pipeline, queue: str) -> list[str]:
    """The rejection codes of what a queue holds, taken off it; read as text, since a body may nest too deep to
    decode (a dead letter's event as it came)."""
    sqs, url, codes = boto3.client("sqs"), pipeline.endpoints.queues[queue], []
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages"):
        for message in messages:
            found = re.search(r'"code": "(\w+)"', message["Body"])
            codes.append(found.group(1) if found else "dead letter")
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return codes


def test_no_single_reading_stops_a_path(pipeline: Pipeline) -> None:
    """Valid readings that carry a value nested up to what the runner's decoder takes, in a field the kind
    ignores, each end as an outcome; the valid readings around them are written, and the runner stays up. A
    reading over IoT Core's 128 KB is refused: the publisher sees its publish fail, and nothing is kept."""
    for queue in ("rejected", "dead_letter"):
        _codes(pipeline, queue)
    now = datetime.now(UTC) - timedelta(minutes=1)
    depths = (100, 400, 600, 900, 980)
    payloads = []
    for i, depth in enumerate(depths):
        payloads.append(reading(f"deepok{i}", now + timedelta(milliseconds=i)))
        deep = reading(f"deepbad{i}", now)[:-1] + b', "extra": ' + b"[" * depth + b"]" * depth + b"}"
        payloads.append(deep)
    pipeline.publish("/pressure/data", [*payloads, reading("deepok-last", now)])
    with pytest.raises(AwsCrtError):  # the broker closed the connection instead of acknowledging it
        pipeline.publish(
            "/pressure/data", [reading("toolarge", now)[:-1] + b', "pad": "' + b"x" * 200_000 + b'"}']
        )
    pipeline.wait_drained()

    assert count_for(pipeline, "deepok") == len(depths) + 1
    outcomes = _codes(pipeline, "rejected") + _codes(pipeline, "dead_letter")
    # One each, and nothing for the refused one: the function rejects each (it takes 32 levels), none had to
    # become a dead letter on the way (the runner's decoder, its encoding, the container's decoder).
    assert outcomes == ["too_deep"] * len(depths), outcomes
    workers = rule_runner_stats(pipeline.sandbox)["workers"]
    assert not [name for name, worker in workers.items() if worker["state"] == "dead"], workers
