"""A kind with two sinks, InfluxDB (the real influxd) and SQL (through a fake of the AWS RDS Data API,
tests/support/data_api_fake.py: it stands in for the AWS service; the sandbox's tests use MariaDB through the
local stand-in). A reading counts as written only when both hold it; a sink that is down sends it to the dead
letters naming that sink, and replay writes it there only."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from ingest_to_influxdb import handler, kinds
from ingest_to_influxdb.dead_letters import MISSING_SINKS
from ingest_to_influxdb.errors import ConfigError

from ingest_tools.replay import ingestor_handle, read_record
from local_aws.lambda_.events import sqs_batch_event
from sandbox.manager.services import Sandbox
from tests.support.data_api_fake import FakeDataApi, client_error
from tests.support.function_env import FunctionEnv, pressure
from tests.support.kind_files import packed_with_sinks

CLUSTER = "arn:aws:rds:us-east-1:123456789012:cluster:demo-relational"
SQL_SECRET = "arn:aws:secretsmanager:us-east-1:123456789012:secret:demo/sql/writer"


@pytest.fixture
def two_sinks(
    function: FunctionEnv, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[FunctionEnv, FakeDataApi]]:
    """The pressure kind writes to InfluxDB and SQL; the function has the SQL variables and the dead letters."""
    path = packed_with_sinks(tmp_path, {"pressure": ["influxdb", "sql"]})
    api = FakeDataApi()
    monkeypatch.setattr(handler, "data_api_client", lambda: api)
    for name, value in {
        kinds.FILE_VARIABLE: str(path),
        "SQL_RESOURCE_ARN": CLUSTER,
        "SQL_SECRET_ARN": SQL_SECRET,
        "SQL_DATABASE": "telemetry",
        "DEAD_LETTER_QUEUE_URL": function.dead_letter_url,
    }.items():
        monkeypatch.setenv(name, value)
    kinds.reset()
    handler.reset()
    try:
        yield function, api
    finally:
        kinds.reset()
        handler.reset()


def count(function: FunctionEnv, prefix: str) -> int:
    series = function.query(f"SELECT count(pressureValue) FROM pressure WHERE sensorID =~ /^{prefix}/")
    return int(series[0]["values"][0][1]) if series else 0


def readings(prefix: str, n: int) -> list[dict[str, Any]]:
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)
    return [
        {**pressure(f"{prefix}-{i}", start + timedelta(seconds=i)), "topic": "/pressure/data"}
        for i in range(n)
    ]


def rows(api: FakeDataApi, prefix: str) -> set[tuple[str, str, str]]:
    return {(sensor, field, ts) for sensor, _, field, ts in api.events if sensor.startswith(prefix)}


def test_every_reading_reaches_both_sinks_with_its_tags(two_sinks: tuple[FunctionEnv, FakeDataApi]) -> None:
    function, api = two_sinks
    prefix = f"both{uuid.uuid4().hex[:6]}"
    batch = readings(prefix, 3)
    answer = function.invoke(sqs_batch_event([json.dumps(r) for r in batch]))
    assert answer == {"batchItemFailures": []}
    assert count(function, prefix) == 3
    assert len(rows(api, prefix)) == 6  # pressureValue and viscosity of each
    when = batch[0]["sensordatetime"].replace("T", " ").removesuffix("Z")  # UTC, milliseconds
    assert api.events[(f"{prefix}-0-client", "pressure", "pressureValue", when)] == 812.0
    tags = {name: value for (sensor, _, _, name), value in api.tags.items() if sensor == f"{prefix}-0-client"}
    assert tags["manufacturer"] == "Acme Devices Ltd."  # the device's metadata, as on InfluxDB's point


def test_sql_down_puts_the_readings_on_the_dead_letters_for_sql_only_and_replay_writes_them_there(
    two_sinks: tuple[FunctionEnv, FakeDataApi],
) -> None:
    function, api = two_sinks
    prefix = f"sqldown{uuid.uuid4().hex[:6]}"
    batch = readings(prefix, 4)
    api.errors = [client_error("DatabaseNotFoundException", "the cluster is gone")]
    answer = function.invoke(sqs_batch_event([json.dumps(r) for r in batch]))
    assert answer == {"batchItemFailures": []}  # acknowledged: InfluxDB holds them, the dead letters the rest
    assert count(function, prefix) == 4 and rows(api, prefix) == set()
    sqs = boto3.client("sqs")
    messages = sqs.receive_message(QueueUrl=function.dead_letter_url, MaxNumberOfMessages=10)["Messages"]
    assert len(messages) == 4
    body = json.loads(messages[0]["Body"])
    assert body[MISSING_SINKS] == ["sql"] and "the cluster is gone" in body["reason"]

    # Replay (ingest_tools.replay's in-process path): SQL only; InfluxDB is not written again.
    core = handler.ingestor()
    outcome = ingestor_handle(core)([read_record(m) for m in messages])
    assert (outcome.failed, outcome.written) == (set(), 4)
    assert len(rows(api, prefix)) == 8 and count(function, prefix) == 4
    last = core.ingest([read_record(messages[0])])
    assert dict(last.sink_written) == {"sql": 1}  # a replay again: the SQL sink's upsert, nothing else


def test_without_dead_letters_a_reading_one_sink_misses_is_retried_whole(
    two_sinks: tuple[FunctionEnv, FakeDataApi], monkeypatch: pytest.MonkeyPatch
) -> None:
    function, api = two_sinks
    monkeypatch.delenv("DEAD_LETTER_QUEUE_URL")
    handler.reset()
    prefix = f"retry{uuid.uuid4().hex[:6]}"
    batch = readings(prefix, 2)
    api.errors = [client_error("AccessDeniedException", "not authorized")]
    event = sqs_batch_event([json.dumps(r) for r in batch])
    failures = function.invoke(event)["batchItemFailures"]
    assert len(failures) == 2
    assert function.invoke(event) == {"batchItemFailures": []}  # the retry: both sinks, nothing doubled
    assert count(function, prefix) == 2 and len(rows(api, prefix)) == 4


def test_influxdb_down_keeps_the_readings_for_influxdb_only(
    two_sinks: tuple[FunctionEnv, FakeDataApi], sandbox: Sandbox
) -> None:
    function, api = two_sinks
    prefix = f"infdown{uuid.uuid4().hex[:6]}"
    batch = readings(prefix, 2)
    sandbox.stop_service("influxdb")
    try:
        answer = function.invoke(sqs_batch_event([json.dumps(r) for r in batch]))
    finally:
        sandbox.start_service("influxdb")
    assert answer == {"batchItemFailures": []}
    assert len(rows(api, prefix)) == 4
    messages = boto3.client("sqs").receive_message(QueueUrl=function.dead_letter_url, MaxNumberOfMessages=10)[
        "Messages"
    ]
    assert [json.loads(m["Body"])[MISSING_SINKS] for m in messages] == [["influxdb"], ["influxdb"]]
    calls = len(api.calls)
    outcome = ingestor_handle(handler.ingestor())([read_record(m) for m in messages])
    assert (outcome.failed, outcome.written) == (set(), 2)
    assert count(function, prefix) == 2 and len(api.calls) == calls  # SQL is not written again


def test_a_value_sql_refuses_is_rejected_with_its_reason(two_sinks: tuple[FunctionEnv, FakeDataApi]) -> None:
    function, api = two_sinks
    prefix = f"refused{uuid.uuid4().hex[:6]}"
    batch = readings(prefix, 3)
    refused_sensor = f"{prefix}-1-client"

    def refuse(row: dict[str, Any]) -> str | None:
        return (
            "Incorrect string value for column 'sensor' at row 1"
            if row.get("sensor") == refused_sensor
            else None
        )

    api.refuse = refuse
    answer = function.invoke(sqs_batch_event([json.dumps(r) for r in batch]))
    assert answer == {"batchItemFailures": []}
    [kept] = function.drain(function.rejected_url)
    assert kept["code"] == "sql_refused" and kept["reading"]["deviceid"] == f"{prefix}-1"
    assert (
        kept["reason"].startswith("SQL: the database refused it: ")
        and "Incorrect string value" in kept["reason"]
    )
    assert {sensor for sensor, _, _ in rows(api, prefix)} == {f"{prefix}-0-client", f"{prefix}-2-client"}


def test_a_kind_that_writes_to_sql_without_its_variables_fails_the_start_in_one_line(
    two_sinks: tuple[FunctionEnv, FakeDataApi], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SQL_SECRET_ARN")
    handler.reset()
    with pytest.raises(ConfigError, match=r"writes to the sql sink but SQL_SECRET_ARN is not set") as raised:
        handler.ingestor()
    assert "\n" not in str(raised.value)
