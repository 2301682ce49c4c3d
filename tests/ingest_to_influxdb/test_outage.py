"""InfluxDB stopped: nothing is lost. The direct path raises, the batch path reports every record failed;
the dead letters (in the three shapes AWS gives them) are replayed through the same code, exactly once."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from ingest_to_influxdb.handler import IngestFailed

from local_aws.lambda_.events import sqs_batch_event
from sandbox.manager.services import Sandbox
from tests.support.function_env import PROJECT_ROOT, FunctionEnv, replay


def reading(device: str, when: datetime, topic: str | None = "/pressure/data") -> dict[str, Any]:
    body = {
        "pressure": 900,
        "viscosity": 40,
        "sensordatetime": when.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "deviceid": device,
        "clientid": "c",
        "metakey": "123456789",
    }
    return {**body, "topic": topic} if topic else body


def destination_record(event: dict[str, Any], error: Exception) -> dict[str, Any]:
    """What Lambda's on-failure destination sends after the retries of an asynchronous invocation."""
    return {
        "version": "1.0",
        "timestamp": datetime.now(UTC).isoformat(),
        "requestContext": {
            "requestId": str(uuid.uuid4()),
            "functionArn": "arn:aws:lambda:us-east-1:123456789012:function:test-ingest:$LATEST",
            "condition": "RetriesExhausted",
            "approximateInvokeCount": 3,
        },
        "requestPayload": event,
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "responsePayload": {"errorMessage": str(error), "errorType": type(error).__name__},
    }


def error_action(payload: dict[str, Any]) -> dict[str, Any]:
    """What an IoT rule's error action sends: the payload as published, before the rule added `topic`."""
    return {
        "ruleName": "test_ingest_pressure",
        "topic": "/pressure/data",
        "clientId": payload["deviceid"],
        "base64OriginalPayload": base64.b64encode(json.dumps(payload).encode()).decode(),
        "failures": [{"failedAction": "LambdaAction", "errorMessage": "Received Server error from Lambda"}],
    }


def count(function: FunctionEnv, prefix: str) -> int:
    series = function.query(f"SELECT count(pressureValue) FROM pressure WHERE sensorID =~ /^{prefix}/")
    return int(series[0]["values"][0][1]) if series else 0


def test_an_outage_loses_nothing_and_replay_restores_exactly_once(
    function: FunctionEnv, sandbox: Sandbox, tmp_path: Path
) -> None:
    prefix = f"out{uuid.uuid4().hex[:6]}"
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)
    before = [reading(f"{prefix}w{i}", start + timedelta(seconds=i)) for i in range(3)]
    for event in before:
        assert function.invoke(event)["written"] == 1
    direct = [reading(f"{prefix}d{i}", start + timedelta(seconds=10 + i)) for i in range(3)]
    queued = [reading(f"{prefix}q{i}", start + timedelta(seconds=20 + i)) for i in range(4)]
    unsent = [reading(f"{prefix}e{i}", start + timedelta(seconds=30 + i), topic=None) for i in range(3)]
    sqs = boto3.client("sqs")

    def dead_letter(body: dict[str, Any]) -> None:
        sqs.send_message(QueueUrl=function.dead_letter_url, MessageBody=json.dumps(body))

    sandbox.stop_service("influxdb")
    try:
        for event in [*direct, before[0]]:  # the last: a retry of a reading written before the outage
            with pytest.raises(IngestFailed) as raised:
                function.invoke(event)
            dead_letter(destination_record(event, raised.value))
        batch = sqs_batch_event([json.dumps(r) for r in queued])
        failures = function.invoke(batch)["batchItemFailures"]
        assert sorted(f["itemIdentifier"] for f in failures) == sorted(
            r["messageId"] for r in batch["Records"]
        )
        for body in queued:  # what the ingest queue's redrive policy moves after the retries
            dead_letter(body)
        for payload in unsent:  # IoT could not invoke the function: its error action keeps the payload
            dead_letter(error_action(payload))
    finally:
        sandbox.start_service("influxdb")
    assert count(function, prefix) == len(before)
    assert function.drain(function.rejected_url) == []  # failures are not rejections

    result = replay(function, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Replay of the dead-letter queue" in result.stdout
    total = len(before) + len(direct) + len(queued) + len(unsent)
    assert count(function, prefix) == total  # every reading once: a replay overwrites, never duplicates
    again = replay(function, tmp_path)
    assert again.returncode == 0 and count(function, prefix) == total
    assert sqs.receive_message(QueueUrl=function.dead_letter_url).get("Messages") is None


def test_replay_of_rejected_readings_writes_the_fixed_and_keeps_the_rest_once(
    function: FunctionEnv, tmp_path: Path
) -> None:
    prefix = f"rej{uuid.uuid4().hex[:6]}"
    when = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=20)
    now_valid = reading(f"{prefix}ok", when)
    still_invalid = {**reading(f"{prefix}bad", when), "pressure": "NaN"}
    sqs = boto3.client("sqs")
    for body, reason in (
        (now_valid, "no reading kind listens on the topic"),
        (still_invalid, "pressure is NaN"),
    ):
        message = {"reason": reason, "code": "x", "kind": "pressure", "topic": "/pressure/data",
                   "reading": body, "rejected_at": "2026-01-01T00:00:00.000Z"}  # fmt: skip
        sqs.send_message(QueueUrl=function.rejected_url, MessageBody=json.dumps(message))

    result = replay(function, tmp_path, "--queue", "rejected")
    assert result.returncode == 0, result.stdout + result.stderr
    assert count(function, prefix) == 1
    [kept] = function.drain(function.rejected_url)
    assert kept["reading"]["deviceid"] == f"{prefix}bad" and kept["code"] == "bad_field"


@pytest.mark.processes
def test_replay_without_a_sandbox_says_what_to_do(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "ingest_tools.replay", "--endpoints", str(tmp_path / "none.json")],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0 and "make demo" in result.stderr
