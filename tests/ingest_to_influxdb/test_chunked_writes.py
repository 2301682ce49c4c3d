"""A large batch is written in chunks, each sent while the next is prepared: against the real influxd, every
reading is still written once, refused, rejected or failed, and the health counts say so."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import boto3
from ingest_to_influxdb import handler, ingestor
from ingest_to_influxdb.config import Config
from ingest_to_influxdb.influx_writer import InfluxWriter
from ingest_to_influxdb.secrets import SecretCredentials

from local_aws.lambda_.events import sqs_batch_event as sqs_event
from tests.support.function_env import FunctionEnv, ms, pressure, seed_text_pressure


def test_a_batch_in_chunks_writes_refuses_and_rejects_each_reading_once(function: FunctionEnv) -> None:
    device = f"chunks{uuid.uuid4().hex[:6]}"
    size = ingestor.MIN_CHUNK_READINGS
    # A day's shard of its own (within the 30-day retention) where pressureValue is text: a conflict.
    old = datetime.now(UTC).replace(hour=2, minute=0, second=0, microsecond=0) - timedelta(days=19)
    seed_text_pressure(function.endpoints, old)
    recent = datetime.now(UTC) - timedelta(minutes=5)
    readings = [pressure(f"{device}{n}", recent + timedelta(milliseconds=n)) for n in range(2 * size + 50)]
    readings[3] = pressure(
        f"{device}3", old + timedelta(seconds=1)
    )  # refused: in the first chunk, sent ahead
    readings[size + 7] = {**readings[size + 7], "pressure": "high"}  # rejected: in the second chunk
    assert function.invoke(sqs_event([json.dumps(r) for r in readings])) == {"batchItemFailures": []}
    written = function.rows(f"SELECT pressureValue FROM pressure WHERE sensorID =~ /^{device}/")
    assert len(written) == len(readings) - 2
    rejected = function.drain(function.rejected_url)
    assert sorted(r["code"] for r in rejected) == ["bad_field", "influxdb_refused"]
    instance = handler.ingestor().instance
    health = {
        (h["outcome"], h.get("reason")): h["count"]
        for h in function.rows(f"SELECT * FROM ingest_health WHERE instance = '{instance}'")
    }
    assert health == {
        ("written", None): len(readings) - 2,
        ("rejected", "influxdb_refused"): 1,
        ("rejected", "bad_field"): 1,
    }


def test_lines_sent_on_a_connection_the_store_closed_are_written_again(function: FunctionEnv) -> None:
    config = Config.from_env()
    credentials = SecretCredentials(boto3.client("secretsmanager"), config.influxdb_secret_arn)
    writer = InfluxWriter(
        config.influxdb_url,
        config.influxdb_database,
        credentials,
        ca_certificate=config.influxdb_ca_certificate,
    )
    device = f"resent{uuid.uuid4().hex[:6]}"
    line = f"pressure,sensorID={device} pressureValue=1.0 {ms(datetime.now(UTC)) * 1_000_000}"
    assert writer.send([line], lambda: 30.0).result() == {}
    sent = writer.send([line.replace(device, f"{device}b")], lambda: 30.0)
    assert sent.connection is not None and sent.connection.sock is not None
    sent.connection.sock.close()  # as a store's idle timeout would, before the answer is read
    assert sent.result() == {}  # written again on the writer's pool
    rows = function.rows(f"SELECT pressureValue FROM pressure WHERE sensorID =~ /^{device}/")
    assert len(rows) == 2
