"""Lambda's Kinesis event-source mapping on the on-disk stream, with a stand-in function and a stand-in S3 (no
process started): the checkpoint after a success, a partial batch response retried from the lowest sequence
number, a function error bisected down to the poison record, retries then the on-failure destination with the
records themselves, and the maximum record age."""

from __future__ import annotations

import base64
import json
import threading
from pathlib import Path
from typing import Any

from ingest_to_influxdb.events import records_from_stream_failure

from local_aws.counters import Counters
from local_aws.kinesis.streams import LocalStreams
from local_aws.lambda_.function import LocalFunction
from local_aws.lambda_.kinesis_mapping import (
    RECORD_AGE_EXCEEDED,
    RETRY_EXHAUSTED,
    StreamMapping,
    StreamPoller,
)
from local_aws.lambda_.workers import FunctionSpec, InvocationError
from tests.support.clock import Clock

ARN = "arn:aws:kinesis:us-east-1:123456789012:stream/demo-ingest"


class StandInFunction:
    """Reports the records whose data is "bad" as failed (a partial batch response), raises for any batch holding
    "poison" (a function error), and fails everything while `down`."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.down = False

    def invoke(self, event: dict[str, Any]) -> dict[str, Any]:
        data = [json.loads(base64.b64decode(r["kinesis"]["data"])) for r in event["Records"]]
        self.batches.append(data)
        if "poison" in data:
            raise InvocationError("Runtime.ExitError", "the container exited")
        failed = [
            r["kinesis"]["sequenceNumber"]
            for r, value in zip(event["Records"], data, strict=True)
            if value == "bad" or self.down
        ]
        return {"batchItemFailures": [{"itemIdentifier": s} for s in failed]}


class StandInS3:
    def __init__(self) -> None:
        self.objects: dict[str, str] = {}

    def put_object(self, Bucket: str, Key: str, Body: str) -> None:  # noqa: N803 (boto3's names)
        self.objects[f"{Bucket}/{Key}"] = Body


def _poller(
    tmp_path: Path, max_retries: int = 2, max_age: int = -1
) -> tuple[StreamPoller, LocalStreams, StandInFunction, StandInS3, Clock]:
    clock = Clock()
    streams = LocalStreams(tmp_path / "stream.sqlite", clock)
    function = LocalFunction("Fn", FunctionSpec("fn", "arn:fn", "x.handler", 128, 10), 0, None, 1)
    mapping = StreamMapping(
        ARN, function, "arn:aws:iam::123456789012:role/fn", shards=1, batch_size=100, window_seconds=0.0,
        parallelization=1, bisect=True, max_retries=max_retries, max_age_seconds=max_age,
        report_failures=True, destination_bucket="failures",
    )  # fmt: skip
    streams.declare(mapping.shape)
    pool, s3 = StandInFunction(), StandInS3()
    poller = StreamPoller(mapping, streams, pool, s3, "us-east-1", Counters(), threading.Event(), 1, clock)  # type: ignore[arg-type]
    return poller, streams, pool, s3, clock


def _put(streams: LocalStreams, values: list[str]) -> None:
    streams.put(ARN, [("device-1", json.dumps(v).encode()) for v in values])


def _drain(poller: StreamPoller, clock: Clock, rounds: int = 40) -> None:
    for _ in range(rounds):
        poller.poll(0)
        clock.now += 1.5  # past the local retry delay


def test_a_batch_that_succeeds_moves_the_checkpoint_past_it(tmp_path: Path) -> None:
    poller, streams, pool, s3, _ = _poller(tmp_path)
    _put(streams, ["a", "b", "c"])
    assert poller.poll(0)
    assert pool.batches == [["a", "b", "c"]] and streams.pending(ARN) == 0 and s3.objects == {}
    assert not poller.poll(0)


def test_a_partial_failure_is_retried_from_the_lowest_sequence_number_then_kept(tmp_path: Path) -> None:
    poller, streams, pool, s3, clock = _poller(tmp_path, max_retries=2)
    _put(streams, ["a", "bad", "c", "d"])
    _drain(poller, clock)
    # The first try, then two retries from "bad" (the records after it come again: they replace themselves).
    assert pool.batches == [["a", "bad", "c", "d"], ["bad", "c", "d"], ["bad", "c", "d"]]
    (body,) = s3.objects.values()
    record = json.loads(body)
    assert record["requestContext"]["condition"] == RETRY_EXHAUSTED
    # The last invocation's records, from the failed one on: those after it were left to the retry too (the
    # function counts nothing after a failure; a sink may hold them, another not), so replay writes them all.
    assert record["KinesisBatchInfo"]["batchSize"] == 3
    kept = records_from_stream_failure("k", body)
    assert [r.payload for r in kept] == [b'"bad"', b'"c"', b'"d"']  # the records themselves, for replay
    assert streams.pending(ARN) == 0


def test_a_function_error_is_bisected_down_to_the_poison_record_and_the_rest_lands(tmp_path: Path) -> None:
    poller, streams, pool, s3, clock = _poller(tmp_path, max_retries=1)
    values = [f"r{i}" for i in range(8)]
    values[5] = "poison"
    _put(streams, values)
    _drain(poller, clock)
    landed = [v for batch in pool.batches if "poison" not in batch for v in batch]
    assert set(landed) == set(values) - {"poison"}
    (body,) = s3.objects.values()
    assert [r.payload for r in records_from_stream_failure("k", body)] == [b'"poison"']
    assert json.loads(body)["requestContext"]["approximateInvokeCount"] == 2
    assert streams.pending(ARN) == 0


def test_an_outage_keeps_the_records_in_the_stream_until_the_retries_run_out(tmp_path: Path) -> None:
    poller, streams, pool, s3, clock = _poller(tmp_path, max_retries=3)
    _put(streams, ["a", "b"])
    pool.down = True
    poller.poll(0)
    clock.now += 1.5
    poller.poll(0)
    assert streams.pending(ARN) == 2 and s3.objects == {}  # in flight, not lost
    pool.down = False
    clock.now += 1.5
    poller.poll(0)
    assert streams.pending(ARN) == 0 and s3.objects == {}


def test_a_record_older_than_the_maximum_age_goes_to_the_destination(tmp_path: Path) -> None:
    poller, streams, pool, s3, clock = _poller(tmp_path, max_age=60)
    _put(streams, ["old"])
    clock.now += 61
    _put(streams, ["new"])
    _drain(poller, clock, rounds=2)
    (body,) = s3.objects.values()
    assert json.loads(body)["requestContext"]["condition"] == RECORD_AGE_EXCEEDED
    assert pool.batches == [["new"]]
