"""The message a rejected reading becomes on the rejected-readings queue."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime

from ingest_to_influxdb.constants import SQS_MAX_MESSAGE_BYTES

_ROOM_FOR_ENVELOPE = 4096


@dataclass(frozen=True)
class Rejection:
    code: str  # short, e.g. bad_field
    reason: str  # precise, for a person
    kind: str
    topic: str | None
    original: object  # the decoded object, or the raw text when it was not JSON


def _text(original: object) -> str:
    if isinstance(original, bytes | bytearray):
        return original.decode("utf-8", errors="replace")
    if isinstance(original, str):
        return original
    try:
        return json.dumps(original, default=str)
    except (RecursionError, ValueError, TypeError):
        return _readable(original)


def _readable(original: object) -> str:
    """Text for any object, however deep (repr stops at its own recursion limit with an error)."""
    try:
        return repr(original)[: SQS_MAX_MESSAGE_BYTES // 2]
    except RecursionError:
        return f"<a {type(original).__name__} nested too deep to show>"


def message_body(rejection: Rejection, now: datetime | None = None) -> str:
    """{"reason", "code", "kind", "topic", "reading", "rejected_at"}; a reading too large for SQS is cut."""
    reading = rejection.original
    if isinstance(reading, bytes | bytearray):
        reading = _text(reading)
    body = {
        "reason": rejection.reason,
        "code": rejection.code,
        "kind": rejection.kind,
        "topic": rejection.topic,
        "reading": reading,
        "rejected_at": (now or datetime.now(UTC)).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
    }
    try:
        text = json.dumps(body, default=str)
    except (RecursionError, ValueError, TypeError):  # nests too deep to serialise: kept as its repr
        body["reading"] = reading = _readable(rejection.original)
        text = json.dumps(body, default=str)
    if len(text.encode()) <= SQS_MAX_MESSAGE_BYTES - _ROOM_FOR_ENVELOPE:
        return text
    keep = SQS_MAX_MESSAGE_BYTES // 2
    raw = (reading if isinstance(reading, str) else _text(rejection.original)).encode(errors="replace")
    body["reading"] = raw[:keep].decode("utf-8", errors="ignore")
    body["truncated_from_bytes"] = len(raw)
    return json.dumps(body, default=str)
