"""The handler's cases and their ceilings, in this process, against the real local influxd and moto's server.

- baseline: the reference function's way, per reading an uncached DynamoDB GetItem, a new HTTP client (and
  connection) and one InfluxDB write;
- direct: `lambda_handler` with one reading per invocation (the IoT rule's Lambda action);
- queued: `lambda_handler` with SQS batches of 10, 100 and 1,000 readings (the event source mapping);
- ceilings: the same kind of points as raw line protocol straight to influxd on one keep-alive connection,
  5,000 a request (batched) and one a request (single point: the most a one-reading-per-invocation path
  can reach here).

The handler's modes run as a warm container does: metadata cached after the first lookup, one HTTP pool.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import urllib3
from ingest_to_influxdb import environment, kinds
from ingest_to_influxdb.constants import METAKEY
from ingest_to_influxdb.identity import CONNECTION_FIELD, PRINCIPAL_FIELD

from benchmarks.bench_kinds import influxdb_only_kinds
from catalog import load_catalog
from local_aws.lambda_.events import sqs_batch_event
from reach.endpoints import Endpoints
from sandbox.manager.services import Sandbox

DEVICES = 500
KIND = "pressure"
SAMPLE_METADATA = Path(__file__).resolve().parent.parent / "sample-data" / "device-metadata.json"
TABLE, QUEUE, SECRET = "bench-DeviceMetaData", "bench-rejected", "bench/influxdb/writer"
CEILING_BATCH = 5_000


@dataclass(frozen=True)
class Case:
    name: str
    path: str  # baseline | direct | queued | ceiling
    per_request: int  # readings per invocation (handler) or points per request (ceiling)
    readings: int  # per run
    ceiling: str | None = None  # the name of the case this one is compared with


BASELINE = "baseline (reference style)"
SINGLE_CEILING = "ceiling: one point per request"
BATCHED_CEILING = "ceiling: 5,000 points per request"


def cases(quick: bool) -> list[Case]:
    """Every handler case; `quick` runs a fraction of the readings (a smoke run, not a measurement)."""
    scale = 50 if quick else 1
    return [
        Case(BASELINE, "baseline", 1, 400 // scale, SINGLE_CEILING),
        Case("direct", "direct", 1, 2_000 // scale, SINGLE_CEILING),
        Case("queued, batches of 10", "queued", 10, 10_000 // scale, BATCHED_CEILING),
        Case("queued, batches of 100", "queued", 100, 30_000 // scale, BATCHED_CEILING),
        Case("queued, batches of 1,000", "queued", 1_000, 50_000 // scale, BATCHED_CEILING),
        Case(SINGLE_CEILING, "ceiling", 1, 3_000 // scale),
        Case(BATCHED_CEILING, "ceiling", CEILING_BATCH, 100_000 // scale),
    ]


@dataclass
class Context:
    """What Lambda passes the handler (the function's configured memory, see the ingest stack)."""

    function_name: str = "bench-ingest"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:bench-ingest"
    aws_request_id: str = "bench"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


def thing_name(device: int) -> str:
    return f"bench-thing-{device:03d}"


def thing_metadata() -> dict[str, dict[str, str]]:
    """Each thing's metadata item (device n takes the n-th sample item, keyed by its thing name): over MQTT the
    connection's client id is the thing's name, and its metadata item is the thing's (ingest_to_influxdb.identity)."""
    samples = json.loads(SAMPLE_METADATA.read_text())
    return {
        thing_name(device): {**samples[device % len(samples)], METAKEY: thing_name(device)}
        for device in range(DEVICES)
    }


class Readings:
    """Distinct pressure readings of 500 things, at advancing device times, as the kind's IoT rule hands them to
    the function: the device's payload, then what the rule's SQL adds (the topic, the connection's client id
    and its principal: infrastructure/stacks/ingest.py, rule_sql)."""

    def __init__(self) -> None:
        self.start = datetime.now(UTC) - timedelta(hours=2)
        self.run = uuid.uuid4().hex[:6]
        self.n = 0
        self.topic = load_catalog().kind(KIND).topic

    def next(self) -> dict[str, Any]:
        self.n += 1
        device = self.n % DEVICES
        return {
            "pressure": 500 + self.n % 1000,
            "viscosity": 25 + self.n % 75,
            "sensordatetime": (self.start + timedelta(microseconds=self.n * 10)).isoformat(
                timespec="milliseconds"
            ),
            "deviceid": f"bench{self.run}{device}",
            "clientid": f"client-{device}",
            "topic": self.topic,
            CONNECTION_FIELD: thing_name(device),
            PRINCIPAL_FIELD: hashlib.sha256(
                thing_name(device).encode()
            ).hexdigest(),  # a certificate id's form
        }

    def lines(self, count: int) -> list[str]:
        """`count` readings as the points the handler writes (enriched with their thing's metadata), formatted
        beforehand: the ceiling's store writes the same points."""
        from ingest_to_influxdb.enrichment import metadata_tags, to_line
        from ingest_to_influxdb.validation import decode, kind_of, validate

        items = thing_metadata()
        now_ms = int(time.time() * 1000)
        out = []
        for _ in range(count):
            document = decode(self.next())
            reading = validate(document, kind_of(document), now_ms)
            assert reading.metakey is not None
            tags, _ = metadata_tags(items[reading.metakey], reading.kind)
            out.append(to_line(reading, tags))
        return out


def provision(endpoints: Endpoints) -> dict[str, str]:
    """The function's environment in moto: metadata table (an item per thing), rejected queue, writer secret."""
    dynamodb = boto3.client("dynamodb")
    dynamodb.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "metakey", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "metakey", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    table = boto3.resource("dynamodb").Table(TABLE)
    with table.batch_writer() as writer:
        for item in thing_metadata().values():
            writer.put_item(Item=item)
    queue = boto3.client("sqs").create_queue(QueueName=QUEUE)["QueueUrl"]
    user = endpoints.influxdb.users.writer
    secret = boto3.client("secretsmanager").create_secret(
        Name=SECRET, SecretString=json.dumps({"username": user.username, "password": user.password})
    )["ARN"]
    return {
        **endpoints.influxdb.function_environment(),
        environment.INFLUXDB_DATABASE: endpoints.influxdb.database,
        environment.INFLUXDB_SECRET_ARN: secret,
        environment.METADATA_TABLE: TABLE,
        environment.REJECTED_QUEUE_URL: queue,
        environment.METRICS_NAMESPACE: environment.NAMESPACE,
    }


@contextlib.contextmanager
def local_services(root: Path) -> Iterator[Endpoints]:
    """influxd and moto in `root`, the function's environment pointed at them; everything undone after."""
    from ingest_to_influxdb import handler

    sandbox = Sandbox(root)
    saved = dict(os.environ)
    try:
        endpoints = sandbox.up()
        os.environ.update(endpoints.aws.env())
        os.environ.update(provision(endpoints))
        packed = root / kinds.PACKAGED_NAME  # the kinds as the deploy tool packs them into the zip
        packed.write_text(influxdb_only_kinds())
        os.environ[kinds.FILE_VARIABLE] = str(packed)
        kinds.reset()
        handler.reset()
        with contextlib.redirect_stdout(io.StringIO()):
            through_handler(Readings(), 20, 1)()  # the cold start: secret, pool, metadata cache
        yield endpoints
    finally:
        sandbox.down()
        os.environ.clear()
        os.environ.update(saved)
        kinds.reset()


def _write_url(endpoints: Endpoints) -> tuple[str, dict[str, str]]:
    user = endpoints.influxdb.users.writer
    headers = urllib3.make_headers(basic_auth=f"{user.username}:{user.password}", keep_alive=True)
    return f"{endpoints.influxdb.url}/write?db={endpoints.influxdb.database}&precision=ns", headers


def reference_style(endpoints: Endpoints, readings: Readings, count: int) -> None:
    """Per reading: an uncached GetItem, the point, and a write on a new HTTP client and connection."""
    from ingest_to_influxdb.line_protocol import format_point

    dynamodb = boto3.client("dynamodb")
    url, headers = _write_url(endpoints)
    for _ in range(count):
        reading = readings.next()
        thing = reading[CONNECTION_FIELD]
        item = dynamodb.get_item(TableName=TABLE, Key={METAKEY: {"S": thing}})
        tags = {k: str(next(iter(v.values()))) for k, v in item["Item"].items() if k != METAKEY}
        tags["sensorID"] = thing
        fields = {"pressureValue": float(reading["pressure"]), "viscosity": float(reading["viscosity"])}
        line = format_point("pressure", tags, fields, time.time_ns())
        with urllib3.PoolManager(ca_certs=endpoints.influxdb.ca_file) as pool:
            response = pool.request("POST", url, body=line.encode(), headers=headers)
        if response.status != 204:
            raise RuntimeError(f"InfluxDB answered {response.status}: {response.data!r}")


def sqs_event(readings: Readings, count: int) -> dict[str, Any]:
    """An SQS batch as the event source mapping hands it to the function."""
    return sqs_batch_event([json.dumps(readings.next()) for _ in range(count)])


def through_handler(readings: Readings, count: int, per_invocation: int) -> Callable[[], None]:
    """The events made beforehand (as Lambda gets them); the returned call runs the handler on them."""
    from ingest_to_influxdb.handler import lambda_handler, metrics

    context = Context()
    if per_invocation == 1:
        events: list[Any] = [readings.next() for _ in range(count)]
    else:
        events = [
            sqs_event(readings, min(per_invocation, count - start))
            for start in range(0, count, per_invocation)
        ]

    def run() -> None:
        for event in events:
            result = lambda_handler(event, context)
            if per_invocation == 1 and result["written"] != 1:
                raise RuntimeError(f"not written: {result}")
            if per_invocation > 1 and result["batchItemFailures"]:
                raise RuntimeError(f"{len(result['batchItemFailures'])} records failed")
        # What the container still holds goes with this slice's bytes: at most one document more than a
        # container that lives on would print.
        metrics.flush(everything=True)

    return run


def raw_writes(endpoints: Endpoints, lines: list[str], per_request: int) -> Callable[[], None]:
    """Line protocol straight to influxd on one keep-alive connection, `per_request` points a request."""
    url, headers = _write_url(endpoints)
    pool = urllib3.PoolManager(num_pools=1, maxsize=1, retries=False, ca_certs=endpoints.influxdb.ca_file)
    bodies = ["\n".join(lines[i : i + per_request]).encode() for i in range(0, len(lines), per_request)]

    def run() -> None:
        for body in bodies:
            response = pool.request("POST", url, body=body, headers=headers)
            if response.status != 204:
                raise RuntimeError(f"InfluxDB answered {response.status}: {response.data!r}")

    return run


def prepare(case: Case, endpoints: Endpoints, readings: Readings) -> Callable[[], None]:
    """The work of one run of `case`, with its input made beforehand."""
    if case.path == "baseline":
        return lambda: reference_style(endpoints, readings, case.readings)
    if case.path == "ceiling":
        return raw_writes(endpoints, readings.lines(case.readings), case.per_request)
    return through_handler(readings, case.readings, case.per_request)
