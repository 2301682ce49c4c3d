"""The ingest function's surroundings in the sandbox: real influxd, and moto's server for the AWS APIs.

moto plays what only AWS has (DynamoDB, SQS, Secrets Manager); InfluxDB is the real influxd. Each test
gets fresh AWS resources (moto is reset) and a fresh container (the handler forgets its state).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
import urllib3
from ingest_to_influxdb import handler
from rich.console import Console

from catalog import load_catalog
from catalog.export import function_kinds
from infrastructure.stacks import influxdb
from ingest_tools.load_metadata import load
from reach import influx
from reach.endpoints import Endpoints, endpoints_file
from sandbox.manager.deployment import create_sql_secrets, set_up_sql

# The sample metadata items (sample-data/device-metadata.json) that the tests load into the table.
ACME = {
    "manufacturer": "Acme Devices Ltd.",
    "family": "sensors",
    "component_id": "a1b2c3d4",
    "calibration_date": "2020-09-25",
    "line": "Line 1",
    "machine": "Mixer 1",
    "position": "inlet",
}
SHELF_01 = {
    "manufacturer": "Shelfware Inc.",
    "family": "smart-shelves",
    "component_id": "s0000001",
    "calibration_date": "2026-01-11",
    "store": "store-1",
    "line": "Store 1",
    "machine": "Aisle 1",
    "position": "top shelf",
}

PROJECT_ROOT = Path(__file__).resolve().parents[2]  # the project, above tests/
SAMPLE_METADATA = PROJECT_ROOT / "sample-data" / "device-metadata.json"
TABLE = "test-DeviceMetaData"
ENVIRONMENT = "demo"
WRITER_SECRET = influxdb.secret_name("writer", ENVIRONMENT)
_sql_ready = False  # the SQL sink's schema and users made in this session's sandbox


@dataclass
class Context:
    """What Lambda passes a handler, for a function run in this process."""

    timeout_seconds: float = 30.0
    function_name: str = "test-ingest"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:test-ingest"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    started: float = field(default_factory=time.monotonic)

    def get_remaining_time_in_millis(self) -> int:
        return int((self.timeout_seconds - (time.monotonic() - self.started)) * 1000)


@dataclass
class FunctionEnv:
    endpoints: Endpoints
    table: str
    rejected_url: str
    dead_letter_url: str
    secret_arn: str
    env: dict[str, str]

    def invoke(self, event: Any) -> Any:
        return handler.lambda_handler(event, Context())

    def query(self, q: str) -> list[dict[str, Any]]:
        return influx.query(self.endpoints, q)

    def rows(self, q: str) -> list[dict[str, Any]]:
        """Each point as {column: value}, without the columns the point has no value for."""
        rows = []
        for series in self.query(q):
            for values in series["values"]:
                row = {c: v for c, v in zip(series["columns"], values, strict=True) if v is not None}
                rows.append({**series.get("tags", {}), **row})
        return rows

    def drain(self, queue_url: str) -> list[dict[str, Any]]:
        sqs, bodies = boto3.client("sqs"), []
        while messages := sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0
        ).get("Messages"):
            for message in messages:
                bodies.append(json.loads(message["Body"]))
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
        return bodies


def create_table(name: str) -> None:
    boto3.client("dynamodb").create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "metakey", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "metakey", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )


@pytest.fixture
def function(
    endpoints: Endpoints, aws_env: dict[str, str], moto_reset: None, monkeypatch: pytest.MonkeyPatch
) -> Iterator[FunctionEnv]:
    create_table(TABLE)
    assert load(SAMPLE_METADATA, TABLE, Console(quiet=True)) == 0
    sqs = boto3.client("sqs")
    rejected = sqs.create_queue(QueueName="test-rejected")["QueueUrl"]
    dead_letter = sqs.create_queue(QueueName="test-dead-letters")["QueueUrl"]
    writer = endpoints.influxdb.users.writer
    secret_arn = boto3.client("secretsmanager").create_secret(
        Name=WRITER_SECRET,
        SecretString=json.dumps({"username": writer.username, "password": writer.password}),
    )["ARN"]
    # The SQL sink (a kind of the catalog writes to it): the sandbox's MariaDB behind its local RDS Data API, set up
    # once a session (its tables and users outlive moto's resets), with its secrets made again in this moto.
    global _sql_ready
    if not _sql_ready:
        set_up_sql(endpoints, ENVIRONMENT)
        _sql_ready = True
    assert endpoints.sql is not None
    sql = endpoints.sql.model_copy(update={"secrets": create_sql_secrets(endpoints, ENVIRONMENT)})
    env = {
        **sql.function_environment(),
        **endpoints.influxdb.function_environment(),
        "INFLUXDB_DATABASE": endpoints.influxdb.database,
        "INFLUXDB_SECRET_ARN": secret_arn,
        "METADATA_TABLE": TABLE,
        "REJECTED_QUEUE_URL": rejected,
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    handler.reset()
    try:
        yield FunctionEnv(endpoints, TABLE, rejected, dead_letter, secret_arn, env)
    finally:
        handler.reset()


def pressure(device: str, when: datetime, **changes: Any) -> dict[str, Any]:
    reading = {
        "pressure": 812,
        "viscosity": 55,
        "sensordatetime": iso(when),
        "deviceid": device,
        "clientid": "client",
        "metakey": "123456789",
    }
    reading.update(changes)
    return reading


def sample_pressure() -> dict[str, Any]:
    """The pressure reading the compiled and full checks' tests start from: a fixed time, the sample metakey."""
    return {
        "pressure": 512,
        "viscosity": 30.5,
        "sensordatetime": "2026-11-22T10:00:00.123Z",
        "deviceid": "bench1",
        "clientid": "client-1",
        "metakey": "123456789",
    }


def replay(function: FunctionEnv, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    endpoints = function.endpoints.model_copy(
        update={"queues": {"dead_letter": function.dead_letter_url, "rejected": function.rejected_url}}
    )
    endpoints.save(endpoints_file(tmp_path))
    (tmp_path / "device_kinds.json").write_text(
        function_kinds(load_catalog())
    )  # as the rule runner leaves it
    command = [
        sys.executable,
        "-m",
        "ingest_tools.replay",
        "--endpoints",
        str(endpoints_file(tmp_path)),
    ]
    return subprocess.run(
        [*command, "--table", function.table, *args],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def seed_text_pressure(endpoints: Endpoints, when: datetime) -> None:
    """A pressureValue written as text at `when` (by the admin, over verified TLS): InfluxDB then refuses a number
    in that field for good, a field type conflict, in that day's shard only."""
    influxdb = endpoints.influxdb
    admin = influxdb.users.admin
    response = urllib3.PoolManager(ca_certs=influxdb.ca_file, cert_reqs="CERT_REQUIRED").request(
        "POST",
        f"{influxdb.url}/write?db={influxdb.database}&precision=ms",
        body=f'pressure,sensorID=seed pressureValue="text" {ms(when)}'.encode(),
        headers=urllib3.make_headers(basic_auth=f"{admin.username}:{admin.password}"),
    )
    assert response.status == 204, response.data
