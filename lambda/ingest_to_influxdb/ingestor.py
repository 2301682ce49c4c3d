"""One code path for every shape: records in; written, rejected (with reason) or failed (to retry) out.

A reading goes to every sink of its kind (kinds.py, the catalog's `sinks`; a replayed dead letter only to the
sinks it names), each through its port (ports.py): InfluxDB as a line, the SQL sink as a row. It counts as
written only when every one of them holds it. A sink that refuses it for good gets it rejected with that
sink's reason. A sink that is down leaves it missing there: when no sink took it, the record is failed and
retried whole (every sink is idempotent: a point written again overwrites, a row is upserted on its key); when
some did, it goes to the dead letters naming the sinks that miss it (dead_letters.py), so replay writes only
there. Without a dead-letter queue (or when it does not take the message) it is failed and retried whole.
"""

from __future__ import annotations

import itertools
import logging
import operator
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ingest_to_influxdb.compiled import checks
from ingest_to_influxdb.constants import NANOSECONDS_PER_MILLISECOND
from ingest_to_influxdb.dead_letters import dead_letter_body
from ingest_to_influxdb.enrichment import line_format, metadata_tags
from ingest_to_influxdb.errors import InvalidReading, TransientError
from ingest_to_influxdb.events import Record
from ingest_to_influxdb.health import Outcome, health_lines
from ingest_to_influxdb.kinds import DEFAULT_SINKS, INFLUXDB_SINK, SQL_SINK, ReadingKind
from ingest_to_influxdb.line_protocol import LineFormat, Point
from ingest_to_influxdb.ports import (
    MetadataLookup,
    PointWriter,
    RejectSink,
    RemainingTime,
    RowWriter,
    SentLines,
    SinkRow,
)
from ingest_to_influxdb.rejections import Rejection, message_body
from ingest_to_influxdb.validation import Reading, decode, kind_of, validate

logger = logging.getLogger(__name__)
MAX_CACHED_FORMATS = 50_000  # (metadata item, kind) pairs whose line format a container keeps
# A batch is written in up to this many requests, each sent while the next chunks are prepared, of at least
# MIN_CHUNK_READINGS readings, so a small batch stays one request (as the direct path's single reading).
WRITE_CHUNKS = 4
MIN_CHUNK_READINGS = 200
# Chunks on their way at once: a write's answer is read after the next WRITES_IN_FLIGHT - 1 chunks are sent, so
# InfluxDB's time on it (about a millisecond of disk sync a request, then its lines) overlaps their preparation.
WRITES_IN_FLIGHT = 2
# The last chunk is written while the invocation waits (its answer counts in the health points it carries):
# a tenth of the batch, so little of InfluxDB's time is left to wait for.
LAST_CHUNK_SHARE = 10
# How each sink is named in errors and rejections ("InfluxDB: ...", as before there were several sinks).
SINK_LABELS = {INFLUXDB_SINK: "InfluxDB", SQL_SINK: "SQL"}
MISSING_OUTCOME = (
    "sink_missing"  # an ingest_health outcome: readings a sink did not take (its reason: the sink)
)
_NO_TAGS: Mapping[str, str] = {}
_PAYLOAD, _TOPIC = operator.attrgetter("payload"), operator.attrgetter("topic")  # of a Record


@dataclass
class BatchResult:
    failed: list[str] = field(default_factory=list)  # ids of records to be retried
    written: Counter[str] = field(default_factory=Counter)  # by kind
    rejected: Counter[str] = field(default_factory=Counter)  # by reason code
    metadata_misses: int = 0
    compiled: int = 0  # readings the compiled checks took alone (ingest_to_influxdb.compiled)
    dropped_attributes: Counter[str] = field(default_factory=Counter)  # by reason
    write_seconds: float | None = None
    errors: list[str] = field(default_factory=list)  # why records failed
    sink_written: Counter[str] = field(default_factory=Counter)  # by sink: readings it took
    missing: Counter[str] = field(default_factory=Counter)  # by sink: readings it did not take (down)
    dead_lettered: int = 0  # readings some sinks hold, on the dead letters for the ones that miss them
    sink_errors: dict[str, str] = field(default_factory=dict)  # by sink: why it did not take readings

    @property
    def total_written(self) -> int:
        return sum(self.written.values())


class _Pending:
    __slots__ = ("line", "missing", "reading", "record", "sinks", "tags")

    def __init__(self, record: Record, reading: Reading) -> None:
        self.record, self.reading, self.line = record, reading, ""
        self.tags = _NO_TAGS  # the device's metadata tags (for a row sink)
        self.missing: list[str] | None = None  # the sinks that did not take it
        wanted, sinks = record.sinks, reading.kind.sinks
        self.sinks = sinks if wanted is None else tuple(sink for sink in sinks if sink in wanted)


_Sent = list[tuple[str, list[_Pending], SentLines]]  # (sink, the items sent to it, its answer to come)


class _Unavailable:
    """The answer of a sink the container has no writer for: every item is missing there."""

    def __init__(self, sink: str) -> None:
        self.sink = sink

    def result(self) -> dict[int, str]:
        raise TransientError(
            f"no {self.sink} sink is configured in this function (its variables are not set)"
        )


def chunk_ends(count: int) -> list[int]:
    """Where a batch of `count` records is cut into chunks: the end of each (the last one `count`). A batch of
    up to MIN_CHUNK_READINGS is one chunk; a larger one is up to WRITE_CHUNKS - 1 chunks of about equal size (of
    at least MIN_CHUNK_READINGS when there are two or more), then a last one of a LAST_CHUNK_SHARE-th."""
    if count <= MIN_CHUNK_READINGS:
        return [count]
    last = max(1, count // LAST_CHUNK_SHARE)
    body = count - last
    parts = max(1, min(WRITE_CHUNKS - 1, body // MIN_CHUNK_READINGS))
    size = -(-body // parts)
    return [*range(size, body, size), body, count]


def _no_deadline() -> float:
    return 60.0


class Ingestor:
    """Validates, enriches and writes a batch of records; never raises for a record, reports failures."""

    def __init__(
        self,
        metadata: MetadataLookup,
        writer: PointWriter,
        rejects: RejectSink,
        instance: str | None = None,
        clock: Callable[[], float] = time.time,
        sinks: Mapping[str, RowWriter] | None = None,
        dead_letters: RejectSink | None = None,
    ) -> None:
        self.metadata, self.writer, self.rejects = metadata, writer, rejects  # writer: the InfluxDB sink
        self.sinks = dict(sinks or {})  # the other sinks, by name (the SQL sink)
        self.dead_letters = dead_letters  # where a reading some sinks hold goes for the others
        self.instance = instance or uuid.uuid4().hex[:8]
        self.clock = clock
        self._last_health_ns = 0
        # Per metakey and kind: the metadata item it was made from, its line format and the unused attributes.
        # The metadata store hands out the same item object until its cache entry expires.
        self._formats: dict[
            tuple[str | None, str], tuple[object, LineFormat, Counter[str], Mapping[str, str]]
        ] = {}

    def ingest(
        self, records: Sequence[Record], remaining: RemainingTime = _no_deadline, ordered: bool = False
    ) -> BatchResult:
        """`ordered`: a Kinesis batch. Lambda retries it from its lowest failed record, so every record after that
        one comes again: what this call did for them (a rejection sent, a point counted as written) is held back
        and left to the retry, else a reading would be rejected, or counted, twice."""
        result = BatchResult()
        health: Counter[Outcome] = Counter()
        now_ms = int(self.clock() * 1000)
        rejections: list[tuple[Record, Rejection]] = []
        refused: list[tuple[_Pending, str, str]] = []  # (item, sink, reason)
        partial: list[_Pending] = []  # readings some sinks hold: dead-lettered for the others at the end
        settled: list[_Pending] = []  # what was counted, in the batch's order (ordered batches only)
        # A large batch goes in chunks: each is sent, and the sinks take it while the next ones are checked and
        # enriched; their answers are read after that, in order. The last chunk goes with the health points.
        chunks = chunk_ends(len(records))
        pending = self._prepare(records[: chunks[0]], now_ms, result, health, rejections)
        in_flight: deque[tuple[list[_Pending], _Sent]] = deque()
        for start, end in itertools.pairwise(chunks):
            if pending:
                in_flight.append((pending, self._send(pending, remaining)))
            pending = self._prepare(records[start:end], now_ms, result, health, rejections)
            if len(in_flight) >= WRITES_IN_FLIGHT:
                sent = in_flight.popleft()
                self._settle(*sent, result, health, refused, partial)
                if ordered:
                    settled.extend(sent[0])
        if not ordered:
            self._reject(rejections, result, health)
        # The last chunk: the other sinks first, so the health points InfluxDB gets with it count what they took.
        refused_here = self._answers(self._send_rows(pending, remaining), result, refused)
        # The chunks still on their way count as written in those health points: the last chunk is sent before
        # their answers are read (the invocation then waits for one write, not two). What they turn out to miss
        # is corrected after.
        ahead = [item for chunk, _ in in_flight for item in chunk]
        self._count_written(ahead + [item for item in pending if not item.missing], health)
        self._count_missing(pending, health)
        now_ns = self._health_time_ns()
        influx = self._for_influxdb(pending)
        lines = [item.line for item in influx] + health_lines(health, self.instance, now_ns)
        told = Counter(health)  # what the health points written with the last chunk say
        started = time.perf_counter()
        last_sent = self.writer.send(lines, remaining) if lines else None
        while in_flight:
            sent = in_flight.popleft()
            self._settle(*sent, result, health, refused, partial, counted=True)
            if ordered:
                settled.extend(sent[0])
        health_written = False
        if last_sent is not None:
            try:
                last = last_sent.result()
            except TransientError as error:
                for item in influx:  # not written: a later health write must not count them as written
                    kind = item.reading.kind.name
                    if not item.missing:
                        health[Outcome(kind, "written")] -= 1
                    health[Outcome(kind, MISSING_OUTCOME, INFLUXDB_SINK)] += 1
                self._missing(influx, INFLUXDB_SINK, result, f"InfluxDB: {error}")
            else:
                health_written = True
                result.write_seconds = time.perf_counter() - started
                # (a refused health point is left out: the next invocation writes its own)
                took = [(i, reason) for i, reason in last.items() if i < len(influx)]
                if influx:
                    result.sink_written[INFLUXDB_SINK] += len(influx) - len(took)
                refused.extend((influx[i], INFLUXDB_SINK, reason) for i, reason in took)
                refused_here |= {id(influx[i]) for i, _ in took}
        result.written.update(item.reading.kind.name for item in pending if not item.missing)
        self._place(pending, result, refused_here, partial)
        if ordered:
            settled.extend(pending)
            partial = _before_first_failure(records, result, partial)
        self._dead_letter(partial, result)
        if ordered:
            refused = self._hold_back(records, result, rejections, settled, refused, health)
            self._reject(rejections, result, health)
        refusals = _by_item(refused)
        result.written.subtract(item.reading.kind.name for item, _, _ in refusals if not item.missing)
        result.written = +result.written  # kinds with nothing written are left out
        if refusals:
            self._refused(refusals, result, health, remaining, now_ns)
        elif (ordered and (rejections or (health_written and result.failed))) or (
            health_written and health != told
        ):
            self._correct_health(health, remaining, now_ns)
        return result

    @staticmethod
    def _hold_back(
        records: Sequence[Record],
        result: BatchResult,
        rejections: list[tuple[Record, Rejection]],
        settled: list[_Pending],
        refused: list[tuple[_Pending, str, str]],
        health: Counter[Outcome],
    ) -> list[tuple[_Pending, str, str]]:
        """An ordered batch with a failed record: from it on, everything is left to the retry. Its rejections
        are not sent (`rejections` is cut in place), its readings are not counted as written (by any sink), and
        what a sink refused of them is refused again then. Returns the refusals still to handle now. (What a
        sink missed stays counted: as on an SQS retry, each attempt that finds a sink down counts.)"""
        first = _first_failure(records, result)
        if first is None:
            return refused
        position = _positions(records)
        rejections[:] = [
            (record, rejection) for record, rejection in rejections if position[id(record)] < first
        ]
        refused_by = {(id(item), sink) for item, sink, _ in refused}
        for item in settled:
            if position[id(item.record)] < first:
                continue
            kind = item.reading.kind.name
            if not item.missing:
                result.written[kind] -= 1
                health[Outcome(kind, "written")] -= 1
            for sink in item.sinks:
                if sink not in (item.missing or ()) and (id(item), sink) not in refused_by:
                    result.sink_written[sink] -= 1
        return [entry for entry in refused if position[id(entry[0].record)] < first]

    def _correct_health(self, health: Counter[Outcome], remaining: RemainingTime, now_ns: int) -> None:
        try:  # same series and time as before: these points replace the first, optimistic counts
            self.writer.write(health_lines(health, self.instance, now_ns, keep_zero=True), remaining)
        except TransientError as error:
            logger.warning("could not correct the ingest health counts: %s", error)

    def _for_influxdb(self, chunk: list[_Pending]) -> list[_Pending]:
        """The chunk's items InfluxDB is to hold (all of them unless a kind or a dead letter says otherwise)."""
        if all(item.sinks is DEFAULT_SINKS for item in chunk):
            return chunk
        return [item for item in chunk if INFLUXDB_SINK in item.sinks]

    def _send(self, chunk: list[_Pending], remaining: RemainingTime) -> _Sent:
        """The chunk on its way to every sink: InfluxDB takes it while the others are written."""
        sent: _Sent = []
        influx = self._for_influxdb(chunk)
        if influx:
            sent.append((INFLUXDB_SINK, influx, self.writer.send([item.line for item in influx], remaining)))
        return sent + self._send_rows(chunk, remaining)

    def _send_rows(self, chunk: list[_Pending], remaining: RemainingTime) -> _Sent:
        """The chunk's readings to the sinks other than InfluxDB, as rows."""
        names = {sink for item in chunk if item.sinks != DEFAULT_SINKS for sink in item.sinks}
        names.discard(INFLUXDB_SINK)
        sent: _Sent = []
        for name in sorted(names):
            items = [item for item in chunk if name in item.sinks]
            writer = self.sinks.get(name)
            answer = writer.send([_row(item) for item in items], remaining) if writer else _Unavailable(name)
            sent.append((name, items, answer))
        return sent

    def _answers(
        self, sent: _Sent, result: BatchResult, refused: list[tuple[_Pending, str, str]]
    ) -> set[int]:
        """Each sink's answer: what it refused goes to `refused`; what it did not take is missing there. Returns
        the ids of the items refused."""
        ids: set[int] = set()
        for sink, items, answer in sent:
            try:
                refusals = answer.result()
            except TransientError as error:
                self._missing(items, sink, result, f"{SINK_LABELS.get(sink, sink)}: {error}")
                continue
            took = [(i, reason) for i, reason in refusals.items() if i < len(items)]
            result.sink_written[sink] += len(items) - len(took)
            refused.extend((items[i], sink, reason) for i, reason in took)
            ids.update(id(items[i]) for i, _ in took)
        return ids

    @staticmethod
    def _missing(items: Sequence[_Pending], sink: str, result: BatchResult, error: str) -> None:
        for item in items:
            item.missing = [sink] if item.missing is None else [*item.missing, sink]
        if items:
            result.errors.append(error)
            result.sink_errors[sink] = error

    @staticmethod
    def _count_missing(chunk: list[_Pending], health: Counter[Outcome]) -> None:
        for item in chunk:
            for sink in item.missing or ():
                health[Outcome(item.reading.kind.name, MISSING_OUTCOME, sink)] += 1

    def _place(
        self, chunk: list[_Pending], result: BatchResult, refused: set[int], partial: list[_Pending]
    ) -> None:
        """The chunk's items some sink did not take: retried whole when none did, else to `partial`, for the
        dead letters of the sinks that miss them (retried whole when there are none). An item a sink refused is
        rejected (with the reason) instead, whatever the others did."""
        for item in chunk:
            missing = item.missing
            if not missing or id(item) in refused:
                continue
            result.missing.update(missing)
            if len(missing) >= len(item.sinks) or self.dead_letters is None:
                result.failed.append(item.record.id)
            else:
                partial.append(item)

    def _dead_letter(self, partial: list[_Pending], result: BatchResult) -> None:
        """Readings some sinks hold to the dead letters, naming the sinks that miss them (retried whole when
        the queue does not take one)."""
        if not partial or self.dead_letters is None:
            return
        bodies = [
            dead_letter_body(
                _original(item.record),
                item.reading.kind.topic,
                item.reading.kind.name,
                item.missing or (),
                "; ".join(result.sink_errors.get(sink, sink) for sink in item.missing or ()),
            )
            for item in partial
        ]
        unsent = self.dead_letters.send(bodies)
        for i, item in enumerate(partial):
            if i in unsent:
                result.failed.append(item.record.id)
                result.errors.append("the dead-letter queue did not take a reading some sinks miss")
            else:
                result.dead_lettered += 1

    def _prepare(
        self,
        records: Sequence[Record],
        now_ms: int,
        result: BatchResult,
        health: Counter[Outcome],
        rejections: list[tuple[Record, Rejection]],
    ) -> list[_Pending]:
        """The chunk's readings, checked and enriched into lines; its rejections go to `rejections`."""
        pending: list[_Pending] = []
        checked_in_python = 0
        # The compiled checks take the usual reading; the Python checks decide the rest, with reasons.
        compiled = checks().readings(list(map(_PAYLOAD, records)), list(map(_TOPIC, records)), now_ms)
        for record, reading in zip(records, compiled, strict=True):
            if reading is not None:
                pending.append(_Pending(record, reading))
                continue
            checked_in_python += 1
            checked = self._check(record, now_ms)
            if isinstance(checked, Rejection):
                rejections.append((record, checked))
            else:
                pending.append(_Pending(record, checked))
        result.compiled += len(records) - checked_in_python
        if pending:
            try:
                self._enrich(pending, result, health)
            except TransientError as error:
                self._fail(pending, result, f"metadata: {error}")
                return []
        return pending

    def _settle(
        self,
        pending: list[_Pending],
        sent: _Sent,
        result: BatchResult,
        health: Counter[Outcome],
        refused: list[tuple[_Pending, str, str]],
        partial: list[_Pending],
        counted: bool = False,
    ) -> None:
        """A sent chunk's answers: written where every sink took it (but what a sink refused for good), failed
        or dead-lettered where one did not. `counted`: its readings count as written in `health` already."""
        refused_here = self._answers(sent, result, refused)
        held = [item for item in pending if not item.missing]
        if counted:
            self._count_written([item for item in pending if item.missing], health, -1)
        else:
            self._count_written(held, health)
        self._count_missing(pending, health)
        result.written.update(item.reading.kind.name for item in held)
        self._place(pending, result, refused_here, partial)

    @staticmethod
    def _count_written(pending: list[_Pending], health: Counter[Outcome], sign: int = 1) -> None:
        for kind, count in Counter(item.reading.kind.name for item in pending).items():
            health[Outcome(kind, "written")] += sign * count

    def _health_time_ns(self) -> int:
        """A distinct timestamp per invocation of this container: health points of one series never overwrite
        each other, however close together two invocations come."""
        self._last_health_ns = max(int(self.clock() * 1_000_000_000), self._last_health_ns + 1)
        return self._last_health_ns

    def _check(self, record: Record, now_ms: int) -> Reading | Rejection:
        kind: ReadingKind | None = None
        document: Any = record.payload
        try:
            document = decode(record.payload)
            kind = kind_of(document, record.topic)
            return validate(document, kind, now_ms)
        except Exception as error:  # whatever one reading holds, it alone is rejected, with its reason
            invalid = (
                error
                if isinstance(error, InvalidReading)
                else InvalidReading(
                    "unreadable", f"checking the reading failed: {type(error).__name__}: {error}"
                )
            )
            topic = document.get("topic", record.topic) if isinstance(document, dict) else record.topic
            return Rejection(
                code=invalid.code,
                reason=invalid.reason,
                kind=kind.name if kind else "unknown",
                topic=topic if isinstance(topic, str) else record.topic,
                original=document,
            )

    def _reject(
        self, rejections: Sequence[tuple[Record, Rejection]], result: BatchResult, health: Counter[Outcome]
    ) -> None:
        if not rejections:
            return
        unsent = self.rejects.send([message_body(r) for _, r in rejections])
        for i, (record, rejection) in enumerate(rejections):
            if i in unsent:
                result.failed.append(record.id)
                result.errors.append(
                    f"the rejected-readings queue did not take a reading ({rejection.reason})"
                )
            else:
                result.rejected[rejection.code] += 1
                health[Outcome(rejection.kind, "rejected", rejection.code)] += 1
                logger.debug("rejected a reading: %s", rejection.reason)

    def _enrich(self, pending: list[_Pending], result: BatchResult, health: Counter[Outcome]) -> None:
        keys = {item.reading.metakey for item in pending if item.reading.metakey is not None}
        items = self.metadata.get_many(keys) if keys else {}
        # Per metakey and kind in this chunk: (the point's line function, the metadata tags, the attributes
        # left out, whether metadata was missed). The loop is per reading: the tuple is unpacked, not read by name.
        made: dict[tuple[str | None, str], tuple[Point, Mapping[str, str], Counter[str], bool]] = {}
        for item in pending:
            kind, sensor_id, metakey, fields, tags, time_ms = item.reading
            enrichment = made.get((metakey, kind.name))
            if enrichment is None:
                found = None if metakey is None else items.get(metakey)
                form, dropped, metadata = self._format(None if found is None else metakey, found, kind)
                enrichment = made[(metakey, kind.name)] = (form.point, metadata, dropped, found is None)
            point, item.tags, dropped, missed = enrichment
            item.line = point(sensor_id, tags, fields, time_ms * NANOSECONDS_PER_MILLISECOND)  # format_line's
            if missed:
                result.metadata_misses += 1
                health[Outcome(kind.name, "metadata_miss")] += 1
            if dropped:
                result.dropped_attributes.update(dropped)

    def _format(
        self, metakey: str | None, found: Mapping[str, object] | None, kind: ReadingKind
    ) -> tuple[LineFormat, Counter[str], Mapping[str, str]]:
        """The line format of `kind`'s readings enriched with `found` (None: no metadata), made once per item,
        with the attributes left out and the metadata tags (what a row sink stores)."""
        key = (metakey, kind.name)
        cached = self._formats.get(key)
        if cached is not None and cached[0] is found:
            return cached[1], cached[2], cached[3]
        tags, dropped = metadata_tags(found, kind) if found is not None else ({}, Counter[str]())
        form = line_format(tags, kind)
        if len(self._formats) >= MAX_CACHED_FORMATS:
            self._formats.clear()
        self._formats[key] = (found, form, dropped, tags)
        return form, dropped, tags

    def _fail(self, pending: Sequence[_Pending], result: BatchResult, error: str) -> None:
        result.failed.extend(item.record.id for item in pending)
        result.errors.append(error)

    def _refused(
        self,
        refused: list[tuple[_Pending, str, str]],
        result: BatchResult,
        health: Counter[Outcome],
        remaining: RemainingTime,
        now_ns: int,
    ) -> None:
        """Readings a sink refused for good (InfluxDB: e.g. a field type conflict; SQL: a value it cannot store)
        are kept on the rejected queue, with the reason."""
        rejections = []
        for item, code, reason in refused:
            kind = item.reading.kind.name
            if not item.missing:
                health[Outcome(kind, "written")] -= 1
            rejections.append(
                (item.record, Rejection(code, reason, kind, item.reading.kind.topic, _original(item.record)))
            )
        self._reject(rejections, result, health)
        self._correct_health(health, remaining, now_ns)


def _by_item(refused: list[tuple[_Pending, str, str]]) -> list[tuple[_Pending, str, str]]:
    """Each refused item once, as (item, code, reason): `<sink>_refused` (influxdb_refused, sql_refused), the
    first sink's when several refused it."""
    found: dict[int, tuple[_Pending, str, str]] = {}
    for item, sink, reason in refused:
        if id(item) not in found:
            found[id(item)] = (item, f"{sink}_refused", _refusal(sink, reason))
    return list(found.values())


def _refusal(sink: str, reason: str) -> str:
    if sink == INFLUXDB_SINK:
        return f"InfluxDB refused the point: {reason}"
    return f"{SINK_LABELS.get(sink, sink)}: {reason}"


def _positions(records: Sequence[Record]) -> dict[int, int]:
    return {id(record): i for i, record in enumerate(records)}


def _first_failure(records: Sequence[Record], result: BatchResult) -> int | None:
    """The position in the batch of its first failed record (None: none failed)."""
    if not result.failed:
        return None
    failed = set(result.failed)
    return min(i for i, record in enumerate(records) if record.id in failed)


def _before_first_failure(
    records: Sequence[Record], result: BatchResult, items: list[_Pending]
) -> list[_Pending]:
    """An ordered batch's items before its first failed record: those after it come again on the retry. (A
    dead letter the queue does not take fails its record in turn: one sent after it may then come twice, to
    the dead letters only; replay writes it idempotently.)"""
    first = _first_failure(records, result)
    if first is None:
        return items
    position = _positions(records)
    return [item for item in items if position[id(item.record)] < first]


def _row(item: _Pending) -> SinkRow:
    reading = item.reading
    tags = {**item.tags, **reading.tags} if item.tags else reading.tags
    return SinkRow(reading.kind.name, reading.sensor_id, reading.time_ms, reading.fields, tags)


def _original(record: Record) -> object:
    try:
        return decode(record.payload)
    except InvalidReading:
        return record.payload
