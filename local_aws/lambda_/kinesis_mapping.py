"""Lambda's event-source mapping of a Kinesis data stream: pollers that feed the function each lane's records.

From `AWS::Lambda::EventSourceMapping` (as Lambda documents its Kinesis behaviour): the batch size, the batching
window (capped locally so runs stay quick), `ParallelizationFactor` (a shard read in that many lanes, one batch at
a time in each, a partition key always in the same lane), `BisectBatchOnFunctionError`, `MaximumRetryAttempts`,
`MaximumRecordAgeInSeconds`, partial batch responses (`ReportBatchItemFailures`) and the on-failure destination.

A lane's checkpoint moves only past records whose batch succeeded: after a success, past the batch; after a
partial failure, to just before the lowest sequence number reported (the rest is read again, so records after it
are delivered twice: their points replace themselves). A function error with bisect on splits the batch in two
and tries each half (not counted as a retry), down to the record that fails. A batch failing past its retries,
or a record older than the maximum age, goes to the on-failure destination, then the checkpoint passes it:
locally an Amazon S3 bucket (in moto), which Lambda sends the records themselves, and replay reads.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

from local_aws.cloudformation.template import DeployedTemplate, TemplateError
from local_aws.counters import Counters
from local_aws.kinesis.streams import LocalStreams, StreamRecord, StreamShape
from local_aws.lambda_.events import kinesis_event, sized_batches, stream_failure_record
from local_aws.lambda_.function import LocalFunction
from local_aws.lambda_.supervision import Backoff, WorkerHealth
from local_aws.lambda_.workers import ContainerPool, InvocationError

LOCAL_MAX_BATCH_WINDOW = 1.0  # the mapping's batching window, capped so local runs stay quick
LOCAL_RETRY_SECONDS = 1.0  # a failed batch is tried again after this
LOCAL_MAX_POLLERS = 4  # threads that read the lanes, each one batch at a time
ON_DEMAND_SHARDS = 4  # an on-demand stream starts with 4 MB/s of writes: four shards' worth (Kinesis docs)
POLL_INTERVAL = 0.05
RETRY_EXHAUSTED, RECORD_AGE_EXCEEDED = "RetryAttemptsExhausted", "RecordAgeExceeded"


def is_stream_arn(arn: object) -> bool:
    return isinstance(arn, str) and arn.startswith("arn:aws:kinesis:")


@dataclass(frozen=True)
class StreamMapping:
    stream_arn: str
    function: LocalFunction
    role_arn: str
    shards: int
    batch_size: int
    window_seconds: float
    parallelization: int
    bisect: bool
    max_retries: int  # -1: until the record's maximum age
    max_age_seconds: int  # -1: until the stream's retention
    report_failures: bool
    destination_bucket: str | None
    uuid: str = field(default_factory=lambda: str(uuid4()))

    @property
    def shape(self) -> StreamShape:
        return StreamShape(self.stream_arn, self.shards, self.parallelization)


def mappings_from_template(
    deployed: DeployedTemplate, function: Callable[[Any], LocalFunction]
) -> list[StreamMapping]:
    """Every Kinesis event-source mapping of the template, with the stream's shards and its destination bucket."""
    found = []
    for _, props in deployed.properties_of_type("AWS::Lambda::EventSourceMapping"):
        source = props["EventSourceArn"]
        arn = deployed.physical(source)
        if not is_stream_arn(arn):
            continue
        stream = deployed.resolve(deployed.resources[source.logical_id]["Properties"])
        mode = stream.get("StreamModeDetails", {}).get("StreamMode", "PROVISIONED")
        shards = ON_DEMAND_SHARDS if mode == "ON_DEMAND" else int(stream.get("ShardCount", 1))
        target = props.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination")
        target = deployed.physical(target) if target is not None else None
        if target is not None and not str(target).startswith("arn:aws:s3:::"):
            raise TemplateError(f"the stream mapping's on-failure destination {target} is not played locally")
        function_ = function(props["FunctionName"])
        found.append(
            StreamMapping(
                stream_arn=str(arn),
                function=function_,
                role_arn=f"arn:aws:iam::{deployed.account_id}:role/{function_.name}",
                shards=shards,
                batch_size=int(props.get("BatchSize", 100)),
                window_seconds=min(
                    LOCAL_MAX_BATCH_WINDOW, float(props.get("MaximumBatchingWindowInSeconds", 0))
                ),
                parallelization=int(props.get("ParallelizationFactor", 1)),
                bisect=str(props.get("BisectBatchOnFunctionError", False)).lower() == "true",
                max_retries=int(props.get("MaximumRetryAttempts", -1)),
                max_age_seconds=int(props.get("MaximumRecordAgeInSeconds", -1)),
                report_failures="ReportBatchItemFailures" in props.get("FunctionResponseTypes", []),
                destination_bucket=str(target).removeprefix("arn:aws:s3:::") if target else None,
            )
        )
    return found


@dataclass
class _Retry:
    head: int  # the store's order of the first record the failing batch starts with
    attempts: int
    due: float


@dataclass
class _Failed:
    """What one try of a batch left undone: the first failure at `index`, the `records` from it on, for `error`
    (None: reported as partial failures); the function saw the batch up to `through` (its records before the
    first failure are written, those after `through` were not tried). The records after the first failure go
    with it even when the function did not name them: Lambda retries from the lowest failure, so the function
    leaves them to the retry (ingest_to_influxdb.ingestor, ordered batches) and they may be in some sinks only;
    and when the retries run out, Lambda's S3 destination gets the whole invocation's records."""

    index: int
    records: list[StreamRecord]
    error: tuple[str, str] | None
    through: int

    def shifted(self, by: int) -> _Failed:
        return _Failed(self.index + by, self.records, self.error, self.through + by)


class StreamPoller:
    """One mapping's pollers: `loop(i)` is poller i's life; it reads lanes i, i + n, i + 2n ..."""

    def __init__(
        self,
        mapping: StreamMapping,
        streams: LocalStreams,
        pool: ContainerPool,
        s3: Any,
        region: str,
        counters: Counters,
        stopping: threading.Event,
        pollers: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.mapping, self.streams, self.pool, self.s3, self.region = mapping, streams, pool, s3, region
        self.counters, self.stopping, self.pollers, self.clock = counters, stopping, pollers, clock
        self._retries: dict[int, _Retry] = {}
        self._due: dict[int, float] = {}  # a lane's next batch is not due before this (window, retry delay)
        self._lock = threading.Lock()

    def loop(self, index: int) -> Callable[[WorkerHealth], None]:
        def run(health: WorkerHealth) -> None:
            retry = Backoff()
            while not self.stopping.is_set():
                try:
                    lanes = self.streams.lanes(self.mapping.stream_arn)[index :: self.pollers]
                    busy = sum(self.poll(lane) for lane in lanes)
                    health.ok()
                    retry = Backoff()
                    if not busy:
                        self.stopping.wait(POLL_INTERVAL)
                except Exception as error:  # the disk or moto: the checkpoint did not move, the records stay
                    health.trouble(f"reading {self.mapping.stream_arn} failed, retrying: {error}")
                    self.stopping.wait(retry.next())

        return run

    def poll(self, lane: int) -> bool:
        """One batch of the lane, when one is due; whether anything was done."""
        mapping, now = self.mapping, self.clock()
        if now < self._due.get(lane, 0.0):
            return False
        count, first = self.streams.peek(mapping.stream_arn, lane, mapping.batch_size)
        if first is None:
            return False
        window_ends = first / 1000 + mapping.window_seconds
        if count < mapping.batch_size and now < window_ends:
            self._due[lane] = window_ends  # the batching window is still open: look again when it closes
            return False
        records = self.streams.read(mapping.stream_arn, lane, mapping.batch_size)
        if not records:
            return False
        if mapping.max_age_seconds >= 0:
            expired = [r for r in records if now * 1000 - r.arrival_ms > mapping.max_age_seconds * 1000]
            if expired:  # Lambda discards records past the maximum age: to the destination
                self.discard(lane, expired, RECORD_AGE_EXCEEDED, 0, None)
                return True
        retry = self._retries.get(lane)
        if retry is not None and retry.head == records[0].seq and now < retry.due:
            self._due[lane] = retry.due
            return False
        failed = self.attempt(records)
        if failed is None:
            self.streams.checkpoint(mapping.stream_arn, lane, records[-1].seq)
            self._retries.pop(lane, None)
            self.counters.add(delivered=len(records))
            return True
        done = records[: failed.index]
        if done:
            self.streams.checkpoint(mapping.stream_arn, lane, done[-1].seq)
            self.counters.add(delivered=len(done))
        head = records[failed.index].seq
        attempts = retry.attempts + 1 if retry is not None and retry.head == head else 1
        if 0 <= mapping.max_retries < attempts:
            self.discard(lane, failed.records, RETRY_EXHAUSTED, attempts, failed.error)
            # Lambda gives up on what failed: what the function saw of the batch besides was written.
            self.streams.checkpoint(mapping.stream_arn, lane, records[failed.through].seq)
            self._retries.pop(lane, None)
        else:
            self._retries[lane] = _Retry(head, attempts, now + LOCAL_RETRY_SECONDS)
            self._due[lane] = now + LOCAL_RETRY_SECONDS
            self.counters.add(retried=len(records) - len(done))
        return True

    def attempt(self, records: list[StreamRecord]) -> _Failed | None:
        """Invoke the function with the records (bisecting a function error when the mapping says so); None
        when all of them succeeded."""
        event = kinesis_event(records, self.mapping.stream_arn, self.region, self.mapping.role_arn)
        start = 0
        for chunk in sized_batches(event["Records"]):  # within a synchronous invocation's payload limit
            part = records[start : start + len(chunk)]
            failed = self._invoke(part, {"Records": chunk})
            if failed is not None:
                return failed.shifted(start)
            start += len(chunk)
        return None

    def _invoke(self, records: list[StreamRecord], event: dict[str, Any]) -> _Failed | None:
        self.counters.add(batches=1)
        try:
            response = self.pool.invoke(event)
        except InvocationError as error:
            if self.mapping.bisect and len(records) > 1:
                half = len(records) // 2
                first = self._invoke(records[:half], {"Records": event["Records"][:half]})
                if first is not None:
                    return first
                second = self._invoke(records[half:], {"Records": event["Records"][half:]})
                return None if second is None else second.shifted(half)
            return _Failed(0, records, (error.error_type, str(error)), len(records) - 1)
        if not self.mapping.report_failures:
            return None
        items = (response or {}).get("batchItemFailures", []) if isinstance(response, dict) else []
        if not items:
            return None
        position = {r.sequence_number: i for i, r in enumerate(records)}
        named = [position.get(str(item.get("itemIdentifier"))) for item in items if isinstance(item, dict)]
        if not named or any(i is None for i in named):
            # Lambda: an empty, null or unknown identifier fails the whole batch.
            return _Failed(0, records, None, len(records) - 1)
        lowest = min(i for i in named if i is not None)
        return _Failed(lowest, records[lowest:], None, len(records) - 1)

    def discard(
        self,
        lane: int,
        records: list[StreamRecord],
        condition: str,
        attempts: int,
        error: tuple[str, str] | None,
    ) -> None:
        """The records to the on-failure destination (none: they are gone, as Lambda drops them), then past."""
        mapping = self.mapping
        if mapping.destination_bucket is not None:
            event = kinesis_event(records, mapping.stream_arn, self.region, mapping.role_arn)
            body = stream_failure_record(
                mapping.function.arn, mapping.stream_arn, event, condition, attempts, error
            )
            self.s3.put_object(
                Bucket=mapping.destination_bucket,
                Key=failure_key(mapping.uuid, records[0].shard_id),
                Body=body,
            )
        self.streams.checkpoint(mapping.stream_arn, lane, records[-1].seq)
        self.counters.add(on_failure=len(records))


def failure_key(mapping_uuid: str, shard_id: str) -> str:
    """Where Lambda puts a failure record in the bucket: aws/lambda/<mapping UUID>/<shard>/YYYY/MM/DD/<time>-<uuid>."""
    now = datetime.now(UTC)
    return f"aws/lambda/{mapping_uuid}/{shard_id}/{now:%Y/%m/%d}/{now:%Y-%m-%dT%H.%M.%S}-{uuid4()}"
