"""One code path for every event shape: validate, enrich, write once, keep the rejected, report failures."""

from __future__ import annotations

import contextlib
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ingest_to_influxdb.enrichment import tags_for
from ingest_to_influxdb.errors import TransientError
from ingest_to_influxdb.influx_writer import InfluxWriter, WriteRefused
from ingest_to_influxdb.line_protocol import UnwritableValue, format_point
from ingest_to_influxdb.metadata_store import MetadataStore
from ingest_to_influxdb.rejected_queue import RejectedReading, send_rejected
from ingest_to_influxdb.validation import Reading, Rejection, validate

HEALTH_MEASUREMENT = "ingest_health"


@dataclass(frozen=True)
class Message:
    id: str  # the SQS messageId, or a name for a single event
    body: Any  # the reading object, or JSON text


@dataclass
class Outcome:
    written: Counter[str] = field(default_factory=Counter)  # by kind
    rejected: Counter[tuple[str, str]] = field(default_factory=Counter)  # by (kind, reason code)
    metadata_misses: Counter[str] = field(default_factory=Counter)  # by kind
    dropped_attributes: int = 0
    failed_ids: list[str] = field(default_factory=list)
    failure: str | None = None
    write_ms: float | None = None


def _topic_and_kind(body: Any, reading: Reading | None) -> tuple[str | None, str | None]:
    topic = body.get("topic") if isinstance(body, dict) else None
    return (topic if isinstance(topic, str) else None), (reading.kind.name if reading else None)


class Ingestor:
    def __init__(
        self,
        metadata: MetadataStore,
        writer: InfluxWriter,
        sqs: Any,
        rejected_queue_url: str,
        keep_rejected: bool = True,
        clock_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        self.metadata, self.writer, self.sqs = metadata, writer, sqs
        self.rejected_queue_url, self.keep_rejected = rejected_queue_url, keep_rejected
        self.clock_ns = clock_ns
        self.instance = uuid.uuid4().hex[:12]  # tells apart the health points of concurrent containers

    def ingest(
        self, messages: list[Message], remaining_seconds: Callable[[], float] = lambda: 60.0
    ) -> Outcome:
        outcome = Outcome()
        now_ns = self.clock_ns()
        readings: list[tuple[Message, Reading]] = []
        rejected: list[tuple[Message, RejectedReading]] = []

        def reject(message: Message, rejection: Rejection, reading: Reading | None = None) -> None:
            topic, kind = _topic_and_kind(message.body, reading)
            rejected.append(
                (message, RejectedReading(rejection.reason, rejection.code, kind, topic, message.body))
            )
            outcome.rejected[(kind or "unknown", rejection.code)] += 1

        for message in messages:
            result = validate(message.body, now_ns // 1_000_000)
            if isinstance(result, Rejection):
                reject(message, result)
            else:
                readings.append((message, result))

        lines: list[tuple[Message, Reading, str]] = []
        try:
            items = self.metadata.get_many(r.metakey for _, r in readings if r.metakey)
        except TransientError as error:
            outcome.failure = str(error)
            outcome.failed_ids.extend(m.id for m, _ in readings)
            readings = []
            items = {}
        for message, reading in readings:
            item = items.get(reading.metakey) if reading.metakey else None
            if item is None:
                outcome.metadata_misses[reading.kind.name] += 1
            enriched = tags_for(reading, item)
            outcome.dropped_attributes += len(enriched.dropped)
            try:
                line = format_point(
                    reading.kind.measurement, enriched.tags, reading.fields, reading.time_ms * 1_000_000
                )
            except UnwritableValue as error:
                reject(message, Rejection("invalid_field", str(error)), reading)
                continue
            lines.append((message, reading, line))

        expected = Counter(reading.kind.name for _, reading, _ in lines)
        health = self._health_lines(expected, outcome, now_ns)
        if lines:
            self._write(lines, health, outcome, remaining_seconds, reject)
        elif health:
            self._write_best_effort(health)
        if self.keep_rejected:
            self._keep(rejected, outcome)
        else:  # re-checking the rejected queue: what is still invalid stays where it is
            outcome.failed_ids.extend(m.id for m, _ in rejected)
        return outcome

    def _write(
        self,
        lines: list[tuple[Message, Reading, str]],
        health: list[str],
        outcome: Outcome,
        remaining_seconds: Callable[[], float],
        reject: Callable[[Message, Rejection, Reading | None], None],
    ) -> None:
        """The readings and their health counters in one request."""
        started = time.perf_counter()
        try:
            self.writer.write([line for _, _, line in lines] + health, remaining_seconds)
            for _, reading, _ in lines:
                outcome.written[reading.kind.name] += 1
        except WriteRefused:
            # Find the points InfluxDB refuses (e.g. a field type conflict); write the others.
            for message, reading, line in lines:
                try:
                    self.writer.write([line], remaining_seconds)
                    outcome.written[reading.kind.name] += 1
                except WriteRefused as refused:
                    reject(message, Rejection("refused_by_influxdb", str(refused)), reading)
                except TransientError as error:
                    outcome.failure = str(error)
                    outcome.failed_ids.append(message.id)
            self._write_best_effort(health)
        except TransientError as error:
            outcome.failure = str(error)
            outcome.failed_ids.extend(m.id for m, _, _ in lines)
        outcome.write_ms = (time.perf_counter() - started) * 1000

    def _keep(self, rejected: list[tuple[Message, RejectedReading]], outcome: Outcome) -> None:
        if not rejected:
            return
        unsent = send_rejected(self.sqs, self.rejected_queue_url, [r for _, r in rejected])
        if unsent:
            outcome.failure = outcome.failure or "the rejected-readings queue did not take every rejection"
            outcome.failed_ids.extend(rejected[i][0].id for i in unsent)

    def _health_lines(self, written: Counter[str], outcome: Outcome, now_ns: int) -> list[str]:
        """Counters for the Ingest health dashboard (CloudWatch metrics remain the record)."""
        counts: list[tuple[dict[str, str], int]] = []
        counts += [({"kind": k, "outcome": "written"}, n) for k, n in written.items()]
        counts += [({"kind": k, "outcome": "metadata_miss"}, n) for k, n in outcome.metadata_misses.items()]
        counts += [
            ({"kind": k, "outcome": "rejected", "reason": r}, n) for (k, r), n in outcome.rejected.items()
        ]
        return [
            format_point(HEALTH_MEASUREMENT, {**tags, "instance": self.instance}, {"count": n}, now_ns + i)
            for i, (tags, n) in enumerate(counts)
        ]

    def _write_best_effort(self, lines: list[str]) -> None:
        with contextlib.suppress(TransientError, WriteRefused):
            self.writer.write(lines, lambda: 0.0)  # one attempt: never hold up the readings for it
