"""The webhook's button presses reach the SQL sink when the button kind names it (real influxd; the AWS RDS Data
API is a fake of the service, tests/support/data_api_fake.py), and a delivery during an SQL outage is kept on the
dead letters for SQL only."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from ingest_to_influxdb import handler as ingest
from ingest_to_influxdb import kinds
from ingest_to_influxdb.dead_letters import MISSING_SINKS
from webhook_to_influxdb import handler

from ingest_tools.replay import ingestor_handle, read_record
from tests.support.data_api_fake import FakeDataApi, client_error
from tests.support.kind_files import packed_with_sinks
from tests.support.webhook_env import Webhook, event_file


@pytest.fixture
def button_to_sql(webhook: Webhook, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeDataApi]:
    path = packed_with_sinks(tmp_path, {"button": ["influxdb", "sql"]})
    api = FakeDataApi()
    monkeypatch.setattr(ingest, "data_api_client", lambda: api)
    monkeypatch.setenv(kinds.FILE_VARIABLE, str(path))
    monkeypatch.setenv("SQL_RESOURCE_ARN", "arn:aws:rds:us-east-1:123456789012:cluster:demo-relational")
    monkeypatch.setenv(
        "SQL_SECRET_ARN", "arn:aws:secretsmanager:us-east-1:123456789012:secret:demo/sql/writer"
    )
    monkeypatch.setenv("SQL_DATABASE", "telemetry")
    kinds.reset()
    handler.reset()
    try:
        yield api
    finally:
        kinds.reset()
        handler.reset()


def test_button_presses_reach_sql_and_the_rest_stays_in_influxdb(
    webhook: Webhook, button_to_sql: FakeDataApi
) -> None:
    status, summary = webhook.put(event_file("webhook_delivery.json"))
    assert status == 200 and summary["written"] == 4
    presses = sorted((sensor, value) for (sensor, board, field, _), value in button_to_sql.events.items())
    assert presses == [("lwm2m/button-01", 12.0), ("lwm2m/button-01", 13.0), ("lwm2m/button-02", 3.0)]
    assert {board for _, board, _, _ in button_to_sql.events} == {
        "button"
    }  # the shelf writes to InfluxDB only


def test_an_sql_outage_keeps_the_presses_for_sql_only(webhook: Webhook, button_to_sql: FakeDataApi) -> None:
    button_to_sql.errors = [client_error("DatabaseNotFoundException", "gone")]
    status, summary = webhook.put(event_file("webhook_delivery.json"))
    assert status == 200 and summary["dead_letters"] == 3 and summary["written"] == 1
    messages = boto3.client("sqs").receive_message(
        QueueUrl=webhook.function.dead_letter_url, MaxNumberOfMessages=10
    )["Messages"]
    assert [json.loads(m["Body"])[MISSING_SINKS] for m in messages] == [["sql"]] * 3
    outcome = ingestor_handle(ingest.ingestor())([read_record(m) for m in messages])
    assert (outcome.failed, outcome.written) == (set(), 3) and len(button_to_sql.events) == 3
