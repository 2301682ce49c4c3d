"""The device's clock: `sensordatetime` as ISO 8601 or epoch seconds/milliseconds, to epoch milliseconds."""

from __future__ import annotations

import math
from datetime import UTC, datetime

# Epoch values above this are milliseconds (it is 1973 in ms and the year 5138 in s).
_MS_THRESHOLD = 100_000_000_000
_EARLIEST_MS = 946_684_800_000  # 2000-01-01: earlier readings come from a device whose clock was never set
_MAX_FUTURE_MS = 24 * 3600 * 1000


class InvalidTimestamp(ValueError):
    pass


def to_epoch_ms(value: object, now_ms: int) -> int:
    if isinstance(value, bool):
        raise InvalidTimestamp("sensordatetime must be ISO 8601 or epoch seconds/milliseconds, not a boolean")
    if isinstance(value, int | float):
        ms = _from_epoch(float(value))
    elif isinstance(value, str) and value.strip():
        text = value.strip()
        try:
            ms = _from_epoch(float(text))
        except ValueError:
            ms = _from_iso(text)
    else:
        raise InvalidTimestamp(
            "sensordatetime is missing; send ISO 8601 (2026-11-22T10:00:00.123Z) or epoch ms"
        )
    if ms < _EARLIEST_MS:
        raise InvalidTimestamp(f"sensordatetime {value!r} is before 2000-01-01: is the device clock set?")
    if ms > now_ms + _MAX_FUTURE_MS:
        raise InvalidTimestamp(f"sensordatetime {value!r} is more than a day in the future")
    return ms


def _from_epoch(number: float) -> int:
    if not math.isfinite(number):
        raise InvalidTimestamp(f"sensordatetime {number!r} is not a finite number")
    return round(number if abs(number) >= _MS_THRESHOLD else number * 1000)


def _from_iso(text: str) -> int:
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as error:
        raise InvalidTimestamp(
            f"sensordatetime {text[:64]!r} is neither ISO 8601 nor an epoch number"
        ) from error
    if parsed.tzinfo is None:  # no zone means UTC
        parsed = parsed.replace(tzinfo=UTC)
    return round(parsed.timestamp() * 1000)
