"""The message a reading becomes on the dead letters when a sink of its kind did not take it: the reading, the
sinks that miss it (`missing_sinks`) and why. `make replay` (ingest_tools/replay.py) reads it back as a Record
whose `sinks` are those, and writes the reading only there: the sinks that hold it are not written again.

A reading no sink took is retried as a whole (Lambda's retries, then its dead-letter queue or on-failure
destination, in the shapes events.record_from_dead_letter reads; replay writes it to every sink of its kind).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime

MISSING_SINKS = (
    "missing_sinks"  # the field of the dead-letter message: the sinks that do not hold the reading
)
READING = "reading"


def dead_letter_body(
    reading: object,
    topic: str | None,
    kind: str,
    missing: Sequence[str],
    reason: str,
    now: datetime | None = None,
) -> str:
    """{"reading", "topic", "kind", "missing_sinks", "reason", "failed_at"} (a reading is at most 128 KiB, well
    within an SQS message)."""
    if isinstance(reading, bytes | bytearray):
        reading = reading.decode("utf-8", errors="replace")
    return json.dumps(
        {
            READING: reading,
            "topic": topic,
            "kind": kind,
            MISSING_SINKS: list(missing),
            "reason": reason,
            "failed_at": (now or datetime.now(UTC)).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        },
        default=str,
    )


def missing_sinks(document: dict[str, object]) -> tuple[str, ...] | None:
    """The sinks a dead-letter message names; None when it names none (the reading goes to every sink)."""
    named = document.get(MISSING_SINKS)
    if not isinstance(named, list):
        return None
    sinks = tuple(sink for sink in named if isinstance(sink, str))
    return sinks or None
