"""`ingest_health` points: what each invocation did, so the Ingest health dashboard can read InfluxDB."""

from __future__ import annotations

from collections import Counter
from typing import NamedTuple

from ingest_to_influxdb.constants import HEALTH_MEASUREMENT
from ingest_to_influxdb.line_protocol import format_point


class Outcome(NamedTuple):
    kind: str
    outcome: str  # written | rejected | metadata_miss
    reason: str = ""  # a short code, for rejected


def health_lines(counts: Counter[Outcome], instance: str, now_ns: int, keep_zero: bool = False) -> list[str]:
    """One point per outcome, at the current time; the same call with the same time overwrites."""
    lines = []
    for outcome, count in sorted(counts.items()):
        if count < 0 or (count == 0 and not keep_zero):
            continue
        tags = {"kind": outcome.kind, "outcome": outcome.outcome, "instance": instance}
        if outcome.reason:
            tags["reason"] = outcome.reason
        lines.append(format_point(HEALTH_MEASUREMENT, tags, {"count": float(count)}, now_ns))
    return lines
