"""One code path for every shape: records in; written, rejected (with reason) or failed (to retry) out."""

from __future__ import annotations

import logging
import time
import uuid
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ingest_to_influxdb.compiled import checks
from ingest_to_influxdb.enrichment import format_line, line_format, metadata_tags
from ingest_to_influxdb.errors import InvalidReading, TransientError
from ingest_to_influxdb.events import Record
from ingest_to_influxdb.health import Outcome, health_lines
from ingest_to_influxdb.kinds import ReadingKind
from ingest_to_influxdb.line_protocol import LineFormat
from ingest_to_influxdb.ports import MetadataLookup, PointWriter, RejectSink, RemainingTime, SentLines
from ingest_to_influxdb.rejections import Rejection, message_body
from ingest_to_influxdb.validation import Reading, decode, kind_of, validate

logger = logging.getLogger(__name__)
MAX_CACHED_FORMATS = 50_000  # (metadata item, kind) pairs whose line format a container keeps
# A batch is written in up to this many requests, each sent while the next chunk is prepared, of at least
# MIN_CHUNK_READINGS readings, so a small batch stays one request (as the direct path's single reading).
WRITE_CHUNKS = 4
MIN_CHUNK_READINGS = 200


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

    @property
    def total_written(self) -> int:
        return sum(self.written.values())


class _Pending:
    __slots__ = ("line", "reading", "record")

    def __init__(self, record: Record, reading: Reading) -> None:
        self.record, self.reading, self.line = record, reading, ""


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
    ) -> None:
        self.metadata, self.writer, self.rejects = metadata, writer, rejects
        self.instance = instance or uuid.uuid4().hex[:8]
        self.clock = clock
        self._last_health_ns = 0
        # Per metakey and kind: the metadata item it was made from, its line format and the unused attributes.
        # The metadata store hands out the same item object until its cache entry expires.
        self._formats: dict[tuple[str | None, str], tuple[object, LineFormat, Counter[str]]] = {}

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
        refused: list[tuple[_Pending, str]] = []
        size = max(MIN_CHUNK_READINGS, -(-len(records) // WRITE_CHUNKS))
        # A large batch goes in chunks: each is sent, and InfluxDB takes it while the next one is checked and
        # enriched; its answer is read after that. The last chunk goes with the health points.
        written: list[_Pending] = []  # what InfluxDB took, in the batch's order (ordered batches only)
        pending = self._prepare(records[:size], now_ms, result, health, rejections)
        for start in range(size, len(records), size):
            sent = (
                (pending, self.writer.send([item.line for item in pending], remaining)) if pending else None
            )
            pending = self._prepare(records[start : start + size], now_ms, result, health, rejections)
            if sent is not None and self._settle(*sent, result, health, refused) and ordered:
                written.extend(sent[0])
        if not ordered:
            self._reject(rejections, result, health)
        self._count_written(pending, health)
        now_ns = self._health_time_ns()
        lines = [item.line for item in pending] + health_lines(health, self.instance, now_ns)
        if not lines and not rejections:
            return result
        health_written = False
        if lines:
            started = time.perf_counter()
            try:
                last = self.writer.write(lines, remaining)
            except TransientError as error:
                self._fail(pending, result, f"InfluxDB: {error}")
                for item in pending:  # not written: a later health write must not count them
                    health[Outcome(item.reading.kind.name, "written")] -= 1
            else:
                health_written = True
                result.write_seconds = time.perf_counter() - started
                result.written.update(item.reading.kind.name for item in pending)
                written.extend(pending)
                # (a refused health point is left out: the next invocation writes its own)
                refused.extend((pending[i], reason) for i, reason in last.items() if i < len(pending))
        if ordered:
            refused = self._hold_back(records, result, health, rejections, written, refused)
            self._reject(rejections, result, health)
        result.written.subtract(item.reading.kind.name for item, _ in refused)
        result.written = +result.written  # kinds with nothing written are left out
        if refused:
            self._refused(refused, result, health, remaining, now_ns)
        elif ordered and (rejections or (health_written and result.failed)):
            self._correct_health(health, remaining, now_ns)
        return result

    @staticmethod
    def _hold_back(
        records: Sequence[Record],
        result: BatchResult,
        health: Counter[Outcome],
        rejections: list[tuple[Record, Rejection]],
        written: list[_Pending],
        refused: list[tuple[_Pending, str]],
    ) -> list[tuple[_Pending, str]]:
        """An ordered batch with a failed record: what follows it is left to the retry. Its rejections are not
        sent (`rejections` is cut in place), its points are not counted as written, and what InfluxDB refused
        of them is refused again then. Returns the refusals still to handle now."""
        if not result.failed:
            return refused
        position = {id(record): i for i, record in enumerate(records)}
        failed = set(result.failed)
        first = min(i for i, record in enumerate(records) if record.id in failed)
        rejections[:] = [
            (record, rejection) for record, rejection in rejections if position[id(record)] < first
        ]
        for item in written:
            if position[id(item.record)] > first:
                result.written[item.reading.kind.name] -= 1
                health[Outcome(item.reading.kind.name, "written")] -= 1
        return [(item, reason) for item, reason in refused if position[id(item.record)] < first]

    def _correct_health(self, health: Counter[Outcome], remaining: RemainingTime, now_ns: int) -> None:
        try:  # same series and time as before: these points replace the first, optimistic counts
            self.writer.write(health_lines(health, self.instance, now_ns, keep_zero=True), remaining)
        except TransientError as error:
            logger.warning("could not correct the ingest health counts: %s", error)

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
        compiled = checks()
        for record in records:
            # The compiled checks take the usual reading; the Python checks decide the rest, with reasons.
            reading = compiled.reading(record.payload, record.topic, now_ms)
            if reading is not None:
                result.compiled += 1
                pending.append(_Pending(record, reading))
                continue
            checked = self._check(record, now_ms)
            if isinstance(checked, Rejection):
                rejections.append((record, checked))
            else:
                pending.append(_Pending(record, checked))
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
        sent: SentLines,
        result: BatchResult,
        health: Counter[Outcome],
        refused: list[tuple[_Pending, str]],
    ) -> bool:
        """A sent chunk's answer: written (but what InfluxDB refused for good), or failed, to be retried."""
        try:
            answer = sent.result()
        except TransientError as error:
            self._fail(pending, result, f"InfluxDB: {error}")
            return False
        self._count_written(pending, health)
        result.written.update(item.reading.kind.name for item in pending)
        refused.extend((pending[i], reason) for i, reason in answer.items())
        return True

    @staticmethod
    def _count_written(pending: list[_Pending], health: Counter[Outcome]) -> None:
        for kind, count in Counter(item.reading.kind.name for item in pending).items():
            health[Outcome(kind, "written")] += count

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
        for item in pending:
            reading = item.reading
            found = items.get(reading.metakey) if reading.metakey is not None else None
            if found is None:
                result.metadata_misses += 1
                health[Outcome(reading.kind.name, "metadata_miss")] += 1
            form, dropped = self._format(None if found is None else reading.metakey, found, reading.kind)
            item.line = format_line(form, reading)
            if dropped:
                result.dropped_attributes.update(dropped)

    def _format(
        self, metakey: str | None, found: Mapping[str, object] | None, kind: ReadingKind
    ) -> tuple[LineFormat, Counter[str]]:
        """The line format of `kind`'s readings enriched with `found` (None: no metadata), made once per item."""
        key = (metakey, kind.name)
        cached = self._formats.get(key)
        if cached is not None and cached[0] is found:
            return cached[1], cached[2]
        tags, dropped = metadata_tags(found, kind) if found is not None else ({}, Counter[str]())
        form = line_format(tags, kind)
        if len(self._formats) >= MAX_CACHED_FORMATS:
            self._formats.clear()
        self._formats[key] = (found, form, dropped)
        return form, dropped

    def _fail(self, pending: Sequence[_Pending], result: BatchResult, error: str) -> None:
        result.failed.extend(item.record.id for item in pending)
        result.errors.append(error)

    def _refused(
        self,
        refused: list[tuple[_Pending, str]],
        result: BatchResult,
        health: Counter[Outcome],
        remaining: RemainingTime,
        now_ns: int,
    ) -> None:
        """Points InfluxDB refused for good (e.g. a field type conflict) are kept on the rejected queue."""
        rejections = []
        for item, reason in refused:
            kind = item.reading.kind.name
            health[Outcome(kind, "written")] -= 1
            rejections.append(
                (
                    item.record,
                    Rejection(
                        "influxdb_refused",
                        f"InfluxDB refused the point: {reason}",
                        kind,
                        item.reading.kind.topic,
                        _original(item.record),
                    ),
                )
            )
        self._reject(rejections, result, health)
        self._correct_health(health, remaining, now_ns)


def _original(record: Record) -> object:
    try:
        return decode(record.payload)
    except InvalidReading:
        return record.payload
