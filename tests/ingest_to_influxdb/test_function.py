"""The handler against the real influxd and moto: lands once, enriched, at the device's time; misses; TTL."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from ingest_to_influxdb import handler
from ingest_to_influxdb.config import Config
from ingest_to_influxdb.errors import ConfigError
from ingest_to_influxdb.events import Record
from ingest_to_influxdb.metadata_store import MetadataStore

from local_aws.lambda_.events import kinesis_batch_event, sqs_batch_event
from tests.support.function_env import ACME, SHELF_01, FunctionEnv, ms, pressure, seed_text_pressure


def test_a_reading_of_each_kind_lands_once_enriched_at_the_device_time(function: FunctionEnv) -> None:
    device = f"once{uuid.uuid4().hex[:6]}"
    when = datetime.now(UTC).replace(microsecond=123000) - timedelta(minutes=3)
    shelf = {
        "count": "17",
        "product_id": "sku 42",
        "sensordatetime": ms(when) // 1000,  # epoch seconds
        "deviceid": device,
        "clientid": "shelfclient",
        "metakey": "shelf-01",
        "topic": "/shelf/data",
    }
    assert function.invoke(pressure(device, when))["written"] == 1
    assert function.invoke(pressure(device, when))["written"] == 1  # a retry
    batch = sqs_batch_event([json.dumps(pressure(device, when)), json.dumps(shelf), json.dumps(shelf)])
    assert function.invoke(batch) == {"batchItemFailures": []}

    rows = function.rows(f"SELECT * FROM pressure WHERE sensorID = '{device}-client'")
    assert rows == [
        {"time": ms(when), "sensorID": f"{device}-client", "pressureValue": 812, "viscosity": 55, **ACME}
    ]
    rows = function.rows(f"SELECT * FROM product_count WHERE sensorID = '{device}-shelfclient'")
    assert rows == [
        {
            "time": ms(when) // 1000 * 1000,
            "sensorID": f"{device}-shelfclient",
            "product_id": "sku 42",
            "count": 17,
            **SHELF_01,
        }
    ]
    assert function.drain(function.rejected_url) == []


def test_a_metadata_miss_is_written_without_metadata_and_counted(function: FunctionEnv) -> None:
    device = f"miss{uuid.uuid4().hex[:6]}"
    when = datetime.now(UTC) - timedelta(minutes=2)
    result = function.invoke(pressure(device, when, metakey="no-such-device"))
    assert result["written"] == 1 and result["metadata_misses"] == 1
    rows = function.rows(f"SELECT * FROM pressure WHERE sensorID = '{device}-client'")
    assert rows == [{"time": ms(when), "sensorID": f"{device}-client", "pressureValue": 812, "viscosity": 55}]
    instance = handler.ingestor().instance
    health = function.rows(f"SELECT * FROM ingest_health WHERE instance = '{instance}'")
    outcomes = {(h["kind"], h["outcome"]): h["count"] for h in health}
    assert outcomes == {("pressure", "written"): 1, ("pressure", "metadata_miss"): 1}


def test_health_counts_every_invocation_even_at_the_same_instant(function: FunctionEnv) -> None:
    ingestor = handler.ingestor()
    frozen = time.time()
    ingestor.clock = lambda: (
        frozen
    )  # every invocation at the same instant, as two can be within a millisecond
    when = datetime.now(UTC) - timedelta(minutes=2)
    for i in range(3):
        assert (
            function.invoke(pressure(f"same{uuid.uuid4().hex[:6]}", when + timedelta(seconds=i)))["written"]
            == 1
        )
    health = function.rows(
        f"SELECT sum(count) FROM ingest_health WHERE instance = '{ingestor.instance}' AND outcome = 'written'"
    )
    assert health[0]["sum"] == 3


def test_changed_metadata_is_picked_up_after_the_ttl_and_not_before(function: FunctionEnv) -> None:
    now = [1000.0]
    config = Config.from_env(function.env)
    ingestor = handler.build_ingestor(config)
    ingestor.metadata = MetadataStore(
        boto3.client("dynamodb"), function.table, ttl_seconds=60, clock=lambda: now[0]
    )
    device = f"ttl{uuid.uuid4().hex[:6]}"
    start = datetime.now(UTC) - timedelta(minutes=1)

    def write(second: int, metakey: str = "123456789") -> str:
        record = Record("r", json.dumps(pressure(device, start + timedelta(seconds=second), metakey=metakey)))
        assert ingestor.ingest([record]).total_written == 1
        rows = function.rows(
            f"SELECT * FROM pressure WHERE sensorID = '{device}-client' AND time = {ms(start) + second * 1000}ms"
        )
        return str(rows[0].get("manufacturer"))

    # Each write at its own time: a point with other tags is another series, not an overwrite.
    assert write(0) == "Acme Devices Ltd."
    assert write(1, metakey="late-item") == "None"  # a miss, cached too
    dynamodb = boto3.client("dynamodb")
    dynamodb.update_item(
        TableName=function.table,
        Key={"metakey": {"S": "123456789"}},
        UpdateExpression="SET manufacturer = :m",
        ExpressionAttributeValues={":m": {"S": "Acme Renamed"}},
    )
    dynamodb.put_item(
        TableName=function.table, Item={"metakey": {"S": "late-item"}, "manufacturer": {"S": "Late"}}
    )
    now[0] += 59
    assert write(2) == "Acme Devices Ltd."  # still within the TTL
    assert write(3, metakey="late-item") == "None"
    now[0] += 2
    assert write(4) == "Acme Renamed"
    assert write(5, metakey="late-item") == "Late"


def test_the_ttl_comes_from_the_environment(function: FunctionEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("METADATA_CACHE_TTL_SECONDS", "7")
    handler.reset()
    store = handler.ingestor().metadata
    assert isinstance(store, MetadataStore) and store.ttl == 7


def _metrics(out: str) -> dict[str, tuple[Any, dict[str, str]]]:
    """Metric name -> (value, its dimensions) of the EMF documents in `out`."""
    found = {}
    for doc in (json.loads(line) for line in out.splitlines() if line.startswith('{"_aws"')):
        for directive in doc["_aws"]["CloudWatchMetrics"]:
            for metric in directive["Metrics"]:
                found[metric["Name"]] = (doc[metric["Name"]], {d: doc[d] for d in directive["Dimensions"][0]})
    return found


def test_metrics_are_published_in_embedded_metric_format(
    function: FunctionEnv, capsys: pytest.CaptureFixture[str]
) -> None:
    when = datetime.now(UTC) - timedelta(minutes=1)
    function.invoke(sqs_batch_event([json.dumps(pressure("metrics", when)), "not json"]))
    now = _metrics(capsys.readouterr().out)
    assert now == {"ReadingsRejected": (1, {"service": "ingest", "reason": "not_json"})}, (
        "the rejection goes out with the invocation; zeros are not printed; written counts are held"
    )
    handler.metrics.flush(everything=True)  # what a container prints once a minute or 100 writes have passed
    held = _metrics(capsys.readouterr().out)
    assert held["ReadingsWritten"] == (1, {"service": "ingest", "kind": "pressure"})
    assert held["WriteLatency"][0] > 0 and held["WriteLatency"][1] == {"service": "ingest"}
    assert function.drain(function.rejected_url)[0]["code"] == "not_json"


def test_what_an_invocation_prints_at_the_default_level(
    function: FunctionEnv, capsys: pytest.CaptureFixture[str]
) -> None:
    """Everything the function prints (Lambda ingests stdout): nothing for a written reading, one document and one
    summary line for a rejected one, and for a batch the documents its dimensions need and one summary line."""
    when = datetime.now(UTC) - timedelta(minutes=1)
    function.invoke(pressure("printed0", when))  # warm: the reading's metadata item is cached
    handler.metrics.flush(everything=True)
    capsys.readouterr()
    function.invoke(pressure("printed1", when))
    assert capsys.readouterr().out == "", "a written reading prints nothing (its counts are held)"

    function.invoke(pressure("printed2", when, deviceid=""))
    lines = capsys.readouterr().out.splitlines()
    assert [json.loads(line).get("_aws") is not None for line in lines] == [
        False,
        True,
    ]  # the summary, then metrics
    summary = json.loads(lines[0])
    assert (summary["level"], summary["message"], summary["rejected_by_reason"]) == (
        "INFO",
        "invocation summary",
        {"bad_identifier": 1},
    )
    assert sum(len(line) + 1 for line in lines) < 1200

    batch = [json.dumps(pressure(f"printed{i}", when)) for i in range(3, 10)] + ["not json", "[]"]
    assert function.invoke(sqs_batch_event(batch)) == {"batchItemFailures": []}
    lines = capsys.readouterr().out.splitlines()
    assert len([line for line in lines if line.startswith('{"_aws"')]) == 2  # two reasons: two documents
    assert len(lines) == 3
    function.drain(function.rejected_url)


def test_a_point_influxdb_refuses_is_kept_and_the_others_are_written(function: FunctionEnv) -> None:
    """A field type conflict: InfluxDB refuses that point for good; it goes to the rejected queue."""
    device = f"conflict{uuid.uuid4().hex[:6]}"
    # A day's shard of its own (within the 30-day retention), so the conflict touches no other test.
    old = datetime.now(UTC).replace(hour=1, minute=0, second=0, microsecond=0) - timedelta(days=20)
    seed_text_pressure(function.endpoints, old)
    recent = datetime.now(UTC) - timedelta(minutes=1)
    bodies = [
        json.dumps(pressure(f"{device}a", recent)),
        json.dumps(pressure(f"{device}b", old + timedelta(seconds=1))),
        json.dumps(pressure(f"{device}c", recent)),
    ]
    assert function.invoke(sqs_batch_event(bodies)) == {"batchItemFailures": []}
    written = function.rows(
        f"SELECT pressureValue FROM pressure WHERE sensorID =~ /^{device}/ GROUP BY sensorID"
    )
    assert sorted(r["sensorID"] for r in written) == [f"{device}a-client", f"{device}c-client"]
    [rejected] = function.drain(function.rejected_url)
    assert rejected["code"] == "influxdb_refused" and "conflict" in rejected["reason"]
    assert rejected["reading"]["deviceid"] == f"{device}b"
    instance = handler.ingestor().instance
    health = {
        (h["outcome"], h.get("reason")): h["count"]
        for h in function.rows(f"SELECT * FROM ingest_health WHERE instance = '{instance}'")
    }
    assert health == {("written", None): 2, ("rejected", "influxdb_refused"): 1}


@pytest.mark.filterwarnings("ignore:No application metrics to publish")
def test_a_bad_environment_fails_the_cold_start_naming_the_variable(
    function: FunctionEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("REJECTED_QUEUE_URL")
    handler.reset()
    with pytest.raises(ConfigError, match="REJECTED_QUEUE_URL"):
        function.invoke(pressure("cold", datetime.now(UTC)))


def test_an_unreadable_metadata_table_fails_the_reading_for_a_retry(
    function: FunctionEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("METADATA_TABLE", "no-such-table")
    handler.reset()
    when = datetime.now(UTC) - timedelta(minutes=1)
    with pytest.raises(handler.IngestFailed, match="no-such-table"):
        function.invoke(pressure("nometa", when))
    batch = sqs_batch_event([json.dumps(pressure("nometa1", when)), json.dumps(pressure("nometa2", when))])
    assert function.invoke(batch) == {
        "batchItemFailures": [{"itemIdentifier": r["messageId"]} for r in batch["Records"]]
    }
    assert function.drain(function.rejected_url) == []


def test_rotated_credentials_are_fetched_again_and_wrong_ones_keep_the_reading(function: FunctionEnv) -> None:
    device = f"rot{uuid.uuid4().hex[:6]}"
    when = datetime.now(UTC) - timedelta(minutes=1)
    assert function.invoke(pressure(device, when))["written"] == 1  # credentials cached
    secrets = boto3.client("secretsmanager")
    writer = function.endpoints.influxdb.users.writer
    secrets.put_secret_value(
        SecretId=function.secret_arn,
        SecretString=json.dumps({"username": writer.username, "password": "wrong"}),
    )
    assert function.invoke(pressure(device, when))["written"] == 1  # the cached ones still work
    handler.reset()  # a new container reads the wrong password
    with pytest.raises(handler.IngestFailed, match="401"):
        function.invoke(pressure(device, when + timedelta(seconds=1)))
    secrets.put_secret_value(
        SecretId=function.secret_arn,
        SecretString=json.dumps({"username": writer.username, "password": writer.password}),
    )
    # The same container: InfluxDB's 401 makes it read the secret again.
    assert function.invoke(pressure(device, when + timedelta(seconds=1)))["written"] == 1
    rows = function.rows(f"SELECT * FROM pressure WHERE sensorID = '{device}-client'")
    assert len(rows) == 2


def test_a_failed_reading_is_logged_at_warn_with_its_count_in_the_same_invocation(
    function: FunctionEnv, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("METADATA_TABLE", "no-such-table")
    handler.reset()
    with pytest.raises(handler.IngestFailed):
        function.invoke(pressure("failed", datetime.now(UTC) - timedelta(minutes=1)))
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    (summary,) = [line for line in lines if line.get("message") == "invocation summary"]
    assert summary["level"] == "WARN" and summary["failed"] == 1  # kept by a WARN filter
    (document,) = [line for line in lines if "_aws" in line]
    assert document["ReadingsFailed"] == 1 and "ReadingsWritten" not in document


def test_a_kinesis_batch_lands_and_its_failures_are_named_by_sequence_number(function: FunctionEnv) -> None:
    device = f"kin{uuid.uuid4().hex[:6]}"
    when = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=4)
    bodies = [json.dumps(pressure(f"{device}{i}", when)) for i in range(3)] + ["not json", "[]"]
    event = kinesis_batch_event(bodies)
    assert function.invoke(event) == {"batchItemFailures": []}  # invalid ones are rejected, never retried
    assert function.invoke(event) == {"batchItemFailures": []}  # a retried batch: the same points again
    (series,) = function.query(
        f'SELECT count("pressureValue") FROM pressure WHERE "sensorID" =~ /^{device}/ AND time > now() - 1h'
    )
    assert series["values"][0][1] == 3  # once each, however often delivered
