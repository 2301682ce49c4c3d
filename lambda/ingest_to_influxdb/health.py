"""`ingest_health` points: what each invocation did, so the Ingest health dashboard can read InfluxDB."""

from __future__ import annotations

from collections import Counter
from typing import NamedTuple

from ingest_to_influxdb.constants import HEALTH_MEASUREMENT
from ingest_to_influxdb.line_protocol import LineFormat


class Outcome(NamedTuple):
    kind: str
    outcome: str  # written | rejected | metadata_miss
    reason: str = ""  # a short code, for rejected


MAX_CACHED_FORMATS = 1_000
_formats: dict[tuple[Outcome, str], LineFormat] = {}  # a container has few outcomes and one instance


def health_lines(counts: Counter[Outcome], instance: str, now_ns: int, keep_zero: bool = False) -> list[str]:
    """One point per outcome, at the current time; the same call with the same time overwrites."""
    lines = []
    for outcome, count in sorted(counts.items()):
        if count < 0 or (count == 0 and not keep_zero):
            continue
        lines.append(_format(outcome, instance).line({}, {"count": float(count)}, now_ns))
    return lines


def _format(outcome: Outcome, instance: str) -> LineFormat:
    """The lines of an outcome's point: its tags escaped once per container, not on every invocation."""
    form = _formats.get((outcome, instance))
    if form is None:
        tags = {"kind": outcome.kind, "outcome": outcome.outcome, "instance": instance}
        if outcome.reason:
            tags["reason"] = outcome.reason
        if len(_formats) >= MAX_CACHED_FORMATS:
            _formats.clear()
        form = _formats[(outcome, instance)] = LineFormat(HEALTH_MEASUREMENT, tags, (), ["count"])
    return form
