"""Readings per second through the ingest handler, against the real local influxd and moto's server.

Modes, each a median of several runs, all with the device metadata in the container's cache after
its first lookup (as a warm Lambda container has it):
- reference style (the baseline): per reading, an uncached DynamoDB GetItem and one InfluxDB write on a
  new HTTP connection, as the reference function did;
- direct: the handler invoked with one reading per invocation (the IoT rule's Lambda action);
- batched: the handler invoked with SQS batches of 100 and of 1,000 readings (the queued path).

The handler, its InfluxDB client and boto3 all run in this process, on the same machine as influxd
and moto: figures are for this machine and include the client's own CPU time.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import boto3
import urllib3
from rich.console import Console
from rich.table import Table

from sandbox.endpoints import Endpoints
from sandbox.services import Sandbox

RUNS = 3
DEVICES = 500
METAKEYS = [str(n) for n in range(123456789, 123456799)]
SAMPLE_METADATA = Path(__file__).resolve().parent.parent / "sample-data" / "device-metadata.json"


@dataclass(frozen=True)
class Mode:
    name: str
    per_invocation: int
    readings: int  # per run


MODES = [
    Mode("reference style (baseline)", 1, 500),
    Mode("direct", 1, 2_000),
    Mode("batched, SQS batches of 100", 100, 20_000),
    Mode("batched, SQS batches of 1,000", 1_000, 40_000),
]


@dataclass
class Context:
    function_name: str = "bench-ingest"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:bench-ingest"
    aws_request_id: str = "bench"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


class Readings:
    """Distinct readings (500 devices, each with its own metakey, advancing device time)."""

    def __init__(self) -> None:
        self.start = datetime.now(UTC) - timedelta(hours=2)
        self.run = uuid.uuid4().hex[:6]
        self.n = 0

    def next(self) -> dict[str, Any]:
        self.n += 1
        device = self.n % DEVICES
        return {
            "pressure": 500 + self.n % 1000,
            "viscosity": 25 + self.n % 75,
            "sensordatetime": (self.start + timedelta(milliseconds=self.n)).isoformat(
                timespec="milliseconds"
            ),
            "deviceid": f"bench{self.run}{device}",
            "clientid": f"client-{device}",
            "metakey": METAKEYS[device % len(METAKEYS)],
        }


def provision(endpoints: Endpoints) -> dict[str, str]:
    """The function's environment in moto: metadata table (sample items), rejected queue, writer secret."""
    dynamodb = boto3.client("dynamodb")
    dynamodb.create_table(
        TableName="bench-DeviceMetaData",
        KeySchema=[{"AttributeName": "metakey", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "metakey", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    table = boto3.resource("dynamodb").Table("bench-DeviceMetaData")
    with table.batch_writer() as writer:
        for item in json.loads(SAMPLE_METADATA.read_text()):
            writer.put_item(Item=item)
    queue = boto3.client("sqs").create_queue(QueueName="bench-rejected")["QueueUrl"]
    user = endpoints.influxdb.users.writer
    secret = boto3.client("secretsmanager").create_secret(
        Name="bench/influxdb/writer",
        SecretString=json.dumps({"username": user.username, "password": user.password}),
    )["ARN"]
    return {
        "INFLUXDB_URL": endpoints.influxdb.url,
        "INFLUXDB_DATABASE": endpoints.influxdb.database,
        "INFLUXDB_SECRET_ARN": secret,
        "METADATA_TABLE": "bench-DeviceMetaData",
        "REJECTED_QUEUE_URL": queue,
    }


def reference_style(endpoints: Endpoints, readings: Readings, count: int) -> None:
    """Per reading: an uncached GetItem, the point, and a write on a new HTTP connection."""
    from ingest_to_influxdb.line_protocol import format_point

    dynamodb = boto3.client("dynamodb")
    user = endpoints.influxdb.users.writer
    headers = urllib3.make_headers(basic_auth=f"{user.username}:{user.password}")
    url = f"{endpoints.influxdb.url}/write?db={endpoints.influxdb.database}&precision=ns"
    for _ in range(count):
        reading = readings.next()
        item = dynamodb.get_item(TableName="bench-DeviceMetaData", Key={"metakey": {"S": reading["metakey"]}})
        tags = {k: str(next(iter(v.values()))) for k, v in item["Item"].items() if k != "metakey"}
        tags["sensorID"] = f"{reading['deviceid']}-{reading['clientid']}"
        fields = {"pressureValue": float(reading["pressure"]), "viscosity": float(reading["viscosity"])}
        line = format_point("pressure", tags, fields, time.time_ns())
        with urllib3.PoolManager() as pool:  # a new client, and connection, per reading
            response = pool.request("POST", url, body=line.encode(), headers=headers)
        if response.status != 204:
            raise RuntimeError(f"InfluxDB answered {response.status}: {response.data!r}")


def through_handler(readings: Readings, count: int, per_invocation: int) -> None:
    from ingest_to_influxdb.handler import lambda_handler

    context = Context()
    for start in range(0, count, per_invocation):
        if per_invocation == 1:
            result = lambda_handler(readings.next(), context)
            if result["written"] != 1:
                raise RuntimeError(f"not written: {result}")
            continue
        event = {
            "Records": [
                {"messageId": str(i), "body": json.dumps(readings.next()), "eventSource": "aws:sqs"}
                for i in range(min(per_invocation, count - start))
            ]
        }
        result = lambda_handler(event, context)
        if result["batchItemFailures"]:
            raise RuntimeError(f"{len(result['batchItemFailures'])} records failed")


def measure(run: Callable[[], None], readings: int) -> float:
    with contextlib.redirect_stdout(io.StringIO()):  # the metrics' EMF lines, one set per invocation
        started = time.perf_counter()
        run()
        elapsed = time.perf_counter() - started
    return readings / elapsed


def main() -> int:
    console = Console()
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as folder:
        sandbox = Sandbox(Path(folder) / "sandbox")
        saved = dict(os.environ)
        try:
            console.print("starting influxd and moto ...")
            endpoints = sandbox.up()
            os.environ.update(endpoints.aws.env())
            os.environ.update(provision(endpoints))
            from ingest_to_influxdb import handler

            handler.reset()
            readings = Readings()
            with contextlib.redirect_stdout(io.StringIO()):
                through_handler(readings, 20, 1)  # cold start: secret, pool, metadata cache
            rates: dict[str, list[float]] = {}
            for run in range(RUNS):
                for mode in MODES:
                    work: Callable[[], None] = (
                        partial(reference_style, endpoints, readings, mode.readings)
                        if mode is MODES[0]
                        else partial(through_handler, readings, mode.readings, mode.per_invocation)
                    )
                    rates.setdefault(mode.name, []).append(measure(work, mode.readings))
                console.print(f"run {run + 1}/{RUNS} done")
        finally:
            sandbox.down()
            os.environ.clear()
            os.environ.update(saved)

    baseline = statistics.median(rates[MODES[0].name])
    table = Table(
        title=f"Ingest: readings per second through the handler (median of {RUNS} runs, this machine)"
    )
    table.add_column("mode")
    table.add_column("readings per invocation", justify="right")
    table.add_column("readings per run", justify="right")
    table.add_column("readings/s", justify="right")
    table.add_column("range", justify="right")
    table.add_column("vs reference style", justify="right")
    for mode in MODES:
        values = rates[mode.name]
        median = statistics.median(values)
        table.add_row(
            mode.name,
            f"{mode.per_invocation:,}",
            f"{mode.readings:,}",
            f"{median:,.0f}",
            f"{min(values):,.0f} - {max(values):,.0f}",
            f"{median / baseline:,.1f} x",
        )
    console.print(table)
    console.print(
        "reference style = per reading an uncached DynamoDB GetItem and one InfluxDB write on a new connection;"
        " handler modes = lambda_handler in process, metadata cached, real influxd and moto on 127.0.0.1"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
