"""Where every reading went: written (to every sink of its kind, or to some and on the dead letters for the others),
rejected, in the dead letters, or lost; and for each sink, what it holds and what it misses."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import boto3
from awscrt import mqtt
from ingest_to_influxdb import sql_schema
from ingest_to_influxdb.events import records_from_stream_failure

from catalog import Catalog, load_catalog
from local_aws.kinesis import streams as local_streams
from local_aws.sqs import queues as local_queues
from reach import influx, sql
from reach.endpoints import STREAM_FAILURES_KEY, STREAM_KEY, Endpoints
from reach.mqtt import plain_connection


def measurements(catalog: Catalog) -> dict[str, str]:
    """The measurement of each device kind, and a field every point of it has (for count())."""
    return {kind.measurement: next(iter(kind.fields)) for kind in catalog}


def count_points(
    endpoints: Endpoints, since: datetime, until: datetime, catalog: Catalog | None = None
) -> dict[str, int]:
    """Points per measurement of the catalog's kinds whose device time lies in [since, until]."""
    window = f"time >= {int(since.timestamp() * 1000)}ms AND time <= {int(until.timestamp() * 1000)}ms"
    counts = {}
    for measurement, point_field in measurements(catalog or load_catalog()).items():
        series = influx.query(endpoints, f'SELECT count("{point_field}") FROM "{measurement}" WHERE {window}')
        counts[measurement] = int(series[0]["values"][0][1]) if series else 0
    return counts


def count_rows(endpoints: Endpoints, since: datetime, until: datetime) -> dict[str, int]:
    """Readings per kind the SQL sink holds whose device time lies in [since, until]."""
    rows = sql.query(endpoints, sql_schema.READINGS_BY_BOARD, {"start": since, "end": until})
    return {str(board): int(str(count)) for board, count in rows}


@dataclass(frozen=True)
class SinkAccount:
    """One sink's share: the readings of its kinds that some sink took, and where each of them is."""

    sink: str
    expected: int  # readings of the kinds that write here which a sink of their kind took
    held: int  # ... which this sink holds (counted by a query)
    missing: int  # ... which wait on the dead letters for this sink (make replay writes them here)
    held_by_kind: Mapping[str, int] = field(default_factory=dict)

    @property
    def lost(self) -> int:
        """Taken by another sink, neither here nor waiting for here (below zero: here, and taken by no other)."""
        return self.expected - self.held - self.missing


def sink_accounts(
    catalog: Catalog, held: Mapping[str, Mapping[str, int]], missing: Mapping[tuple[str, str], int]
) -> tuple[dict[str, int], tuple[SinkAccount, ...]]:
    """Readings per kind that some sink took, and each sink's account. `held`: sink -> kind -> readings it holds;
    `missing`: (kind, sink) -> readings on the dead letters for that sink (some other sink of the kind holds them).
    A reading some sink took is, for every sink of its kind, either held there or waiting for it: counted through
    the kind's first sink (InfluxDB when the kind writes there)."""
    taken = {}
    for kind in catalog:
        first = kind.sinks[0]
        taken[kind.name] = held.get(first, {}).get(kind.name, 0) + missing.get((kind.name, first), 0)
    accounts = []
    for sink in held:
        kinds = [kind.name for kind in catalog if sink in kind.sinks]
        accounts.append(
            SinkAccount(
                sink,
                expected=sum(taken[name] for name in kinds),
                held=sum(held[sink].get(name, 0) for name in kinds),
                missing=sum(missing.get((name, sink), 0) for name in kinds),
                held_by_kind={name: held[sink].get(name, 0) for name in kinds},
            )
        )
    return taken, tuple(accounts)


def queue_depth(queue_url: str) -> int:
    """Messages in a queue of moto, visible or being received."""
    attributes = boto3.client("sqs").get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return sum(int(value) for value in attributes.values())


def failed_stream_records(bucket: str) -> int:
    """Readings the stream path's on-failure destination keeps for replay (each object a failed batch)."""
    s3, count = boto3.client("s3"), 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for item in page.get("Contents", []):
            body = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
            count += len(records_from_stream_failure(item["Key"], body))
    return count


def queue_depths(endpoints: Endpoints, root: Path) -> dict[str, int]:
    """Messages in each queue of the sandbox in `root`: from the rule runner's store for a queue it plays (the
    ingest queue, see local_aws/sqs/queues.py), from moto for the others; on the stream path, the records in
    the stream after their checkpoints (local_aws/kinesis/streams.py) and those its destination keeps."""
    store = root / local_queues.STORE_FILE
    depths = {}
    for name, url in endpoints.queues.items():
        if name == STREAM_KEY:
            depths[name] = local_streams.pending(root / local_streams.STORE_FILE, url) or 0
            continue
        if name == STREAM_FAILURES_KEY:
            depths[name] = failed_stream_records(url)
            continue
        played = local_queues.depth(store, url)
        depths[name] = queue_depth(url) if played is None else played
    return depths


@dataclass(frozen=True)
class InFlight:
    """Readings on their way, by where they are: none of them is lost while it is counted here."""

    broker: int = 0  # acknowledged to a device, not yet acknowledged by the rule runner
    runner: int = 0  # taken off the broker but not handed off, or stored events the function has not finished
    queue: int = 0  # in the ingest queue (queued path)
    stream: int = 0  # in the ingest stream after its checkpoints (stream path)

    @property
    def total(self) -> int:
        return self.broker + self.runner + self.queue + self.stream

    def describe(self) -> str:
        return f"broker {self.broker}, rule runner {self.runner}, ingest queue {self.queue}, stream {self.stream}"


def in_flight(
    broker_backlog: int, runner_stats: dict[str, Any], ingest_queue_depth: int, stream_pending: int = 0
) -> InFlight:
    """Where the readings not yet written, rejected or dead-lettered are.

    The broker's store also holds what it sent the runner and the runner has not acknowledged: those
    are counted once, with the runner."""
    unacknowledged = int(runner_stats.get("unacknowledged", 0))
    held = unacknowledged + int(runner_stats.get("stored_events", 0))
    return InFlight(
        broker=max(0, broker_backlog - unacknowledged),
        runner=held,
        queue=ingest_queue_depth,
        stream=stream_pending,
    )


BROKER_STORE_TOPIC = "$SYS/broker/store/messages/count"
BROKER_RETAINED_TOPIC = "$SYS/broker/retained messages/count"


def broker_backlog(endpoints: Endpoints, timeout: float = 5.0) -> int:
    """Messages mosquitto holds for sessions: queued for the rule runner, or sent and not acknowledged.

    mosquitto publishes its store's size and how many of those are retained on $SYS topics (every second,
    as the sandbox configures it); the pipeline publishes nothing retained, so the difference is the
    backlog."""
    counts: dict[str, int] = {}
    got: Future[None] = Future()

    def on_message(topic: str, payload: bytes, **_: Any) -> None:
        counts[topic] = int(payload.decode().strip() or 0)
        if len(counts) == 2 and not got.done():
            got.set_result(None)

    connection = plain_connection(endpoints, f"accounting-{uuid.uuid4().hex[:8]}", clean_session=True)
    connection.connect().result(timeout=timeout)
    try:
        for topic in (BROKER_STORE_TOPIC, BROKER_RETAINED_TOPIC):
            connection.subscribe(topic, mqtt.QoS.AT_MOST_ONCE, callback=on_message)[0].result(timeout)
        got.result(timeout=timeout)
    finally:
        connection.disconnect().result(timeout=timeout)
    return max(0, counts[BROKER_STORE_TOPIC] - counts[BROKER_RETAINED_TOPIC])


def lost(
    sent: int,
    written: int,
    rejected: int,
    dead_letters: int,
    in_flight: int,
    to_no_rule: int = 0,
    unacknowledged: int = 0,
) -> int:
    """The headline figure, defined here only: readings sent (acknowledged by the broker) that are neither
    written, kept (rejected, dead letters), on their way, nor sent where no rule reads. A publish the device gave
    up on (`unacknowledged`: the broker died before its PUBACK) may have arrived all the same; outcomes beyond the
    sent ones, up to that many, are those, not a double count. Not clamped at zero: below zero is a double count
    (more outcomes than readings published), which is reported as it is, never shown as 0."""
    outcomes = written + rejected + dead_letters + in_flight + to_no_rule
    arrived_unacknowledged = min(unacknowledged, max(0, outcomes - sent))
    return sent + arrived_unacknowledged - outcomes


@dataclass(frozen=True)
class Accounting:
    sent: int
    written: int
    rejected: int
    dead_letters: int
    in_flight: InFlight = InFlight()
    # Acknowledged by the broker on a topic no deployed rule reads: dropped there, as IoT Core drops them.
    to_no_rule: int = 0
    # Published but never acknowledged (the device gave up: the broker died before its PUBACK): each may or may
    # not have arrived, so it is neither sent nor lost.
    unacknowledged: int = 0
    sinks: tuple[SinkAccount, ...] = ()  # each sink's share of `written`
    written_by_kind: Mapping[str, int] = field(default_factory=dict)

    @property
    def lost_in_sinks(self) -> int:
        """Readings some sink took that another sink of their kind neither holds nor waits for (see SinkAccount)."""
        return sum(abs(account.lost) for account in self.sinks)

    @property
    def settled(self) -> bool:
        """Nothing in flight: every count is final, and `lost` exact."""
        return self.in_flight.total == 0

    @property
    def lost(self) -> int:
        """What can no longer arrive (below zero: a double count); see `lost()`."""
        return lost(
            self.sent,
            self.written,
            self.rejected,
            self.dead_letters,
            self.in_flight.total,
            self.to_no_rule,
            self.unacknowledged,
        )

    @property
    def duplicated(self) -> int:
        """Outcomes beyond one per reading (a point written twice replaces itself, so only kept copies count)."""
        return max(0, self.written + self.rejected + self.dead_letters - self.sent - self.unacknowledged)


def wait_until_settled(read: Callable[[], object], timeout: float = 60.0, quiet: float = 1.0) -> bool:
    """Wait until `read()` gives the same value for `quiet` seconds; False if the timeout passes first."""
    deadline = time.monotonic() + timeout
    last, since = read(), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.2)
        current = read()
        if current != last:
            last, since = current, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return True
    return False
