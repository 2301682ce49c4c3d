"""`python -m ingest_tools.queues list`: the rejected readings and the dead letters with their reasons and ages,
read from the ingest stack's outputs, and nothing removed from the queues."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest
from ingest_to_influxdb.dead_letters import dead_letter_body

from infrastructure.names import stack_name
from infrastructure.stacks import ingest
from ingest_tools import queues
from reach.endpoints import endpoints_file
from reach.queues import age_text, describe, partial_letters
from tests.support.function_env import FunctionEnv
from tests.support.queue_letters import EVENTS, REJECTED_DEVICE, fill_queues, waiting


def message(body: str) -> dict[str, object]:
    return {"MessageId": "m1", "Body": body, "Attributes": {"SentTimestamp": "1795341600200"}}


def test_each_shape_gives_its_reason() -> None:
    lambda_record = describe(message((EVENTS / "lambda_destination_record.json").read_text()))
    assert lambda_record.shape == "lambda-on-failure" and lambda_record.device == "Xk3a9Qz"
    assert lambda_record.reason.startswith("RetriesExhausted after 3 attempts: InfluxDB: ")
    error_action = describe(message((EVENTS / "rule_error_action.json").read_text()))
    assert error_action.shape == "iot-error-action" and error_action.topic == "/pressure/data"
    assert "LambdaAction: Failed to invoke lambda function" in error_action.reason
    rejected = describe(
        message(
            json.dumps(
                {
                    "reason": "x is not a number",
                    "code": "bad_field",
                    "reading": {"deviceid": "d1"},
                    "topic": "/pressure/data",
                    "rejected_at": "2026-11-22T10:00:00.000Z",
                }
            )
        )
    )
    assert (rejected.shape, rejected.reason, rejected.device) == (
        "rejected",
        "bad_field: x is not a number",
        "d1",
    )
    partial = describe(
        message(
            dead_letter_body({"deviceid": "d3"}, "/pressure/data", "pressure", ["sql"], "SQL: unavailable")
        )
    )
    assert (partial.shape, partial.reason, partial.device, partial.sinks, partial.kind) == (
        "missing-sinks",
        "not in sql: SQL: unavailable",
        "d3",
        ("sql",),
        "pressure",
    )
    assert describe(message("not json")).shape == "unreadable"
    assert describe(message('{"deviceid": "d2", "pressure": 1}')).shape == "redriven"
    assert rejected.sent is not None and age_text(90) == "90 s" and age_text(7200) == "2 h"


def test_list_reads_the_stack_outputs_and_removes_nothing(
    function: FunctionEnv, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    endpoints = fill_queues(function)
    endpoints.save(endpoints_file(tmp_path))
    # The ingest stack's two outputs, as the deployed stack gives them (the whole stack is not needed here).
    outputs = {
        ingest.REJECTED_QUEUE_URL.output: function.rejected_url,
        ingest.DEAD_LETTER_QUEUE_URL.output: function.dead_letter_url,
    }
    template = {
        "Resources": {"Queue": {"Type": "AWS::SQS::Queue"}},
        "Outputs": {key: {"Value": url} for key, url in outputs.items()},
    }
    boto3.client("cloudformation").create_stack(
        StackName=stack_name("demo", ingest.NAME), TemplateBody=json.dumps(template)
    )
    before = [waiting(url) for url in outputs.values()]
    monkeypatch.setenv("COLUMNS", "250")
    assert queues.main(["list", "--endpoints", str(endpoints_file(tmp_path))]) == 0
    out = capsys.readouterr().out
    assert "The rejected queue (1 waiting" in out and "The dead-letter queue (2 waiting" in out
    assert REJECTED_DEVICE in out and "bad_field" in out
    assert (
        "RetriesExhausted" in out and "LambdaAction" in out and " s " in out
    )  # reasons, and ages in seconds
    assert [waiting(url) for url in outputs.values()] == before  # peeked, not consumed
    assert queues.main(["list", "--queue", "dead-letter", "--endpoints", str(endpoints_file(tmp_path))]) == 0
    only = capsys.readouterr().out
    assert "The dead-letter queue" in only and "The rejected queue" not in only


def test_the_dead_letters_some_sinks_hold_are_counted_per_kind_and_sink(function: FunctionEnv) -> None:
    fill_queues(function)  # two whole dead letters: named by no sink
    sqs = boto3.client("sqs")
    for sinks in (["sql"], ["sql"], ["influxdb"]):
        body = dead_letter_body({"deviceid": "d"}, "/pressure/data", "pressure", sinks, "down")
        sqs.send_message(QueueUrl=function.dead_letter_url, MessageBody=body)
    partial = partial_letters(sqs, function.dead_letter_url)
    assert partial.letters == 3
    assert partial.missing == {("pressure", "sql"): 2, ("pressure", "influxdb"): 1}
    assert waiting(function.dead_letter_url) == 5  # peeked, not consumed
