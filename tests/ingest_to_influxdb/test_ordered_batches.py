"""A Kinesis batch is ordered: Lambda retries it from its lowest failed record, so every record after that one
comes again. What the function did for those (a rejection sent, a point counted as written) is left to the
retry, else a rejected reading would reach the rejected queue twice and a written one be counted twice. An SQS
batch retries only the records it names, so there nothing is held back.

The store and the queue are fakes here (the real ones: tests/ingest_to_influxdb/test_chunked_writes.py and the
stream's e2e tests); they answer as the ports document."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Collection, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Generic, TypeVar

import pytest
from ingest_to_influxdb import ingestor as ingestor_module
from ingest_to_influxdb import kinds
from ingest_to_influxdb.dead_letters import MISSING_SINKS
from ingest_to_influxdb.errors import TransientError
from ingest_to_influxdb.events import Record
from ingest_to_influxdb.ingestor import Ingestor
from ingest_to_influxdb.ports import RemainingTime, SinkRow

from tests.support.catalog_kinds import PRESSURE
from tests.support.function_env import pressure
from tests.support.kind_files import packed_with_sinks

pytestmark = pytest.mark.pure


class Metadata:
    def get_many(self, keys: Collection[str]) -> Mapping[str, Mapping[str, object] | None]:
        return dict.fromkeys(keys)


class Sent:
    def __init__(self, answer: dict[int, str] | TransientError) -> None:
        self.answer = answer

    def result(self) -> dict[int, str]:
        if isinstance(self.answer, TransientError):
            raise self.answer
        return self.answer


Item = TypeVar("Item")


class SendsAtOnce(Generic[Item]):
    """A fake sink whose `send` writes at once: the write's answer, or its TransientError, is what it sent."""

    def write(self, items: Sequence[Item], remaining: RemainingTime) -> dict[int, str]:
        raise NotImplementedError

    def send(self, items: Sequence[Item], remaining: RemainingTime) -> Sent:
        try:
            return Sent(self.write(items, remaining))
        except TransientError as error:
            return Sent(error)


class Store(SendsAtOnce[str]):
    """Takes every write but the `failing` ones (counting from 1), which fail as an unreachable store does."""

    def __init__(self, failing: Collection[int] = ()) -> None:
        self.failing, self.writes = failing, 0
        self.points: list[str] = []
        self.health: list[str] = []

    def write(self, lines: Sequence[str], remaining: RemainingTime) -> dict[int, str]:
        self.writes += 1
        if self.writes in self.failing:
            raise TransientError("connection refused")
        for line in lines:
            (self.health if line.startswith("ingest_health") else self.points).append(line)
        return {}


class RejectedQueue:
    def __init__(self) -> None:
        self.bodies: list[str] = []

    def send(self, bodies: Sequence[str]) -> set[int]:
        self.bodies.extend(bodies)
        return set()


def batch(size: int, rejected_at: Collection[int]) -> list[Record]:
    when = datetime.now(UTC) - timedelta(minutes=1)
    records = []
    for n in range(size):
        reading = pressure(f"ordered{n}", when + timedelta(milliseconds=n))
        if n in rejected_at:
            reading["pressure"] = "high"
        records.append(Record(f"{n:05d}", json.dumps(reading).encode(), PRESSURE.topic))
    return records


def health_written(store: Store) -> int:
    """The last `written` count of the health points (a correction replaces the first, same series and time)."""
    counts = [line for line in store.health if "outcome=written" in line]
    return int(float(counts[-1].split("count=")[1].split()[0])) if counts else 0


@pytest.mark.parametrize("ordered", [True, False])
def test_after_a_failed_chunk_an_ordered_batch_leaves_the_rest_to_the_retry(ordered: bool) -> None:
    count = 3 * ingestor_module.MIN_CHUNK_READINGS
    first, second, _ = ingestor_module.chunk_ends(count)  # three chunks, each a write
    records = batch(count, rejected_at={5, first + 5, second + 5})
    store, queue = Store(failing={2}), RejectedQueue()  # the second chunk's write fails
    result = Ingestor(Metadata(), store, queue).ingest(records, ordered=ordered)

    failed = [r.id for r in records[first:second] if r.id != records[first + 5].id]
    assert result.failed == failed
    rejected = [json.loads(body)["reading"]["deviceid"] for body in queue.bodies]
    if ordered:
        # Only what comes before the first failed record is done now: its rejection and its points.
        assert rejected == ["ordered5"]
        assert result.written == Counter(pressure=first - 1)
        assert result.rejected == Counter(bad_field=1)
        assert health_written(store) == first - 1
    else:  # an SQS batch: every record but the failed ones is done, once
        assert sorted(rejected) == sorted(["ordered5", f"ordered{first + 5}", f"ordered{second + 5}"])
        written = first - 1 + count - second - 1
        assert result.written == Counter(pressure=written)
        assert health_written(store) == written


def test_an_ordered_batch_without_a_failure_is_done_whole() -> None:
    records = batch(50, rejected_at={10, 40})
    store, queue = Store(), RejectedQueue()
    result = Ingestor(Metadata(), store, queue).ingest(records, ordered=True)
    assert result.failed == []
    assert len(queue.bodies) == 2
    assert result.written == Counter(pressure=48)
    assert len(store.points) == 48
    assert health_written(store) == 48


def test_an_ordered_batch_whose_last_write_fails_sends_only_the_rejections_before_it() -> None:
    records = batch(30, rejected_at={3, 20})
    store, queue = Store(failing={1}), RejectedQueue()  # one chunk: its write fails
    result = Ingestor(Metadata(), store, queue).ingest(records, ordered=True)
    assert result.failed[0] == records[0].id
    assert queue.bodies == []  # the rejected readings come again with the retry, and are rejected then
    assert result.written == Counter()
    assert result.rejected == Counter()


def test_when_the_last_write_fails_the_health_counts_only_what_was_written() -> None:
    count = 2 * ingestor_module.MIN_CHUNK_READINGS
    first, _ = ingestor_module.chunk_ends(count)  # two chunks, each a write
    records = batch(count, rejected_at={5})
    store, queue = Store(failing={2}), RejectedQueue()  # the first chunk is written, the last one fails
    result = Ingestor(Metadata(), store, queue).ingest(records, ordered=True)
    assert result.failed == [r.id for r in records[first:]]
    assert len(queue.bodies) == 1  # before the failure: rejected now
    assert result.written == Counter(pressure=first - 1)
    assert health_written(store) == first - 1


class RowSink(SendsAtOnce[SinkRow]):
    """A row sink (the SQL sink's port) whose `fail_on`-th send (counting from 1) fails as a database down does."""

    def __init__(self, fail_on: int | None = None) -> None:
        self.fail_on, self.sends = fail_on, 0
        self.rows: list[SinkRow] = []

    def write(self, rows: Sequence[SinkRow], remaining: RemainingTime) -> dict[int, str]:
        self.sends += 1
        if self.sends == self.fail_on:
            raise TransientError("database unavailable")
        self.rows.extend(rows)
        return {}


def pressure_to(sinks: list[str], folder: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv(kinds.FILE_VARIABLE, str(packed_with_sinks(folder, {"pressure": sinks})))
    kinds.reset()
    yield
    kinds.reset()


@pytest.fixture(autouse=True)
def pressure_to_influxdb(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The kind these tests batch writes to InfluxDB alone (the catalog's writes to SQL too), unless a test
    asks for both sinks."""
    yield from pressure_to([kinds.INFLUXDB_SINK], tmp_path / "influxdb", monkeypatch)


@pytest.fixture
def pressure_to_both_sinks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    yield from pressure_to([kinds.INFLUXDB_SINK, kinds.SQL_SINK], tmp_path, monkeypatch)


@pytest.mark.usefixtures("pressure_to_both_sinks")
@pytest.mark.parametrize("ordered", [True, False])
def test_after_a_chunk_no_sink_took_an_ordered_batch_counts_and_dead_letters_nothing_after_it(
    ordered: bool,
) -> None:
    """Chunk 2 reaches neither sink (retried whole); chunk 3 reaches SQL only (a dead letter for InfluxDB). In an
    ordered batch chunk 3 comes again with the retry: no dead letter now, and no sink counts it."""
    count = 3 * ingestor_module.MIN_CHUNK_READINGS
    first, second, _ = ingestor_module.chunk_ends(count)  # three chunks, each a write
    records = batch(count, rejected_at=())
    store, rows = Store(failing={2, 3}), RowSink(fail_on=2)  # InfluxDB takes the first chunk only
    queue, dead_letters = RejectedQueue(), RejectedQueue()
    ingestor = Ingestor(Metadata(), store, queue, sinks={kinds.SQL_SINK: rows}, dead_letters=dead_letters)
    result = ingestor.ingest(records, ordered=ordered)

    assert result.failed == [r.id for r in records[first:second]]
    if ordered:
        assert dead_letters.bodies == []
        assert result.dead_lettered == 0
        assert result.written == Counter(pressure=first)
        assert result.sink_written == Counter({kinds.INFLUXDB_SINK: first, kinds.SQL_SINK: first})
    else:  # an SQS batch: chunk 3 is done now, InfluxDB's part of it on the dead letters
        assert len(dead_letters.bodies) == count - second
        assert json.loads(dead_letters.bodies[0])[MISSING_SINKS] == [kinds.INFLUXDB_SINK]
        assert result.written == Counter(pressure=first)
        assert result.sink_written == Counter(
            {kinds.INFLUXDB_SINK: first, kinds.SQL_SINK: first + count - second}
        )


@pytest.mark.parametrize("count", [1, 199, 200, 201, 450, 1_000, 10_000])
def test_a_batch_is_cut_into_a_few_chunks_the_last_one_small(count: int) -> None:
    ends = ingestor_module.chunk_ends(count)
    sizes = [end - start for start, end in zip([0, *ends], ends, strict=False)]
    assert ends[-1] == count and all(size > 0 for size in sizes)
    assert len(ends) <= ingestor_module.WRITE_CHUNKS
    if count <= ingestor_module.MIN_CHUNK_READINGS:
        assert ends == [count]  # the direct path's single reading is one request
    else:  # the write the invocation waits for is a tenth of the batch
        assert sizes[-1] == count // ingestor_module.LAST_CHUNK_SHARE
        if len(sizes) > 2:
            assert min(sizes[:-1]) >= ingestor_module.MIN_CHUNK_READINGS
