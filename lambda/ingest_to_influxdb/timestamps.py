"""The device's `sensordatetime` as epoch milliseconds: ISO 8601 (no zone means UTC), epoch s or ms."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta

from ingest_to_influxdb.constants import (
    EARLIEST_READING_MS,
    MAX_CLOCK_SKEW_MS,
    MAX_TIMESTAMP_TEXT_LENGTH,
    SECONDS_MILLISECONDS_BOUNDARY,
)
from ingest_to_influxdb.errors import InvalidReading

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# A time without a zone is UTC: subtracted from the epoch without one, it gives the same milliseconds four times
# faster than after `replace(tzinfo=UTC)` (the device's time is read once per reading).
_NAIVE_EPOCH = datetime(1970, 1, 1)
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
_ONE_MS = timedelta(milliseconds=1)


def _bad(reason: str) -> InvalidReading:
    return InvalidReading("bad_timestamp", f"sensordatetime {reason}")


def _from_number(value: float) -> int:
    if not math.isfinite(value):
        raise _bad("is not a finite number")
    if abs(value) < SECONDS_MILLISECONDS_BOUNDARY:
        return round(value * 1000)
    return round(value)


def _from_text(text: str) -> int:
    if len(text) > MAX_TIMESTAMP_TEXT_LENGTH:
        raise _bad(f"is longer than {MAX_TIMESTAMP_TEXT_LENGTH} characters")
    text = text.strip()
    if _NUMBER.fullmatch(text):
        return _from_number(float(text))
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise _bad(
            f"{text!r} is neither ISO 8601 (e.g. 2026-11-22T10:00:00.123Z) nor epoch seconds or milliseconds"
        ) from None
    return _moment_ms(moment)


def _moment_ms(moment: datetime) -> int:
    return (moment - (_NAIVE_EPOCH if moment.tzinfo is None else _EPOCH)) // _ONE_MS


def iso_epoch_ms(value: object, now_ms: int) -> int | None:
    """What `to_epoch_ms` gives for a device's usual time, an ISO 8601 text within range, found quickly: None
    for any other value (then `to_epoch_ms` says what is wrong, or reads it as a number). A text with a colon
    is never a number, so the number's regular expression need not be tried first."""
    if (
        type(value) is not str
        or len(value) > MAX_TIMESTAMP_TEXT_LENGTH
        or ":" not in value
        or value.strip() != value
    ):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    ms = (moment - (_NAIVE_EPOCH if moment.tzinfo is None else _EPOCH)) // _ONE_MS  # _moment_ms, inlined
    return ms if EARLIEST_READING_MS <= ms <= now_ms + MAX_CLOCK_SKEW_MS else None


def whole_epoch_ms(value: int, now_ms: int) -> int | None:
    """What `to_epoch_ms` gives for an integer (epoch seconds or milliseconds) within range; None otherwise."""
    ms = _from_int(value)
    return ms if EARLIEST_READING_MS <= ms <= now_ms + MAX_CLOCK_SKEW_MS else None


def to_epoch_ms(value: object, now_ms: int) -> int:
    """Milliseconds since the epoch, or InvalidReading saying why the value cannot be the reading's time."""
    if value is None:
        raise InvalidReading("missing_field", "sensordatetime is missing")
    if isinstance(value, bool):
        raise _bad("is a boolean, not a time")
    if isinstance(value, int | float):
        ms = _from_number(float(value)) if isinstance(value, float) else _from_int(value)
    elif isinstance(value, str):
        ms = _from_text(value)
    else:
        raise _bad(f"is a {type(value).__name__}, not an ISO 8601 string or epoch number")
    if ms < EARLIEST_READING_MS:
        raise _bad(f"is before 2000-01-01 ({ms} ms since the epoch): the device's clock is not set")
    if ms > now_ms + MAX_CLOCK_SKEW_MS:
        raise _bad(f"is more than a day in the future ({ms} ms since the epoch): the device's clock is wrong")
    return ms


def _from_int(value: int) -> int:
    if abs(value) < SECONDS_MILLISECONDS_BOUNDARY:
        return value * 1000
    return value
