"""Turns a message into a valid reading of its kind, or a rejection with a precise reason."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from ingest_to_influxdb.kinds import FieldType, ReadingKind, kind_for_topic
from ingest_to_influxdb.line_protocol import UnwritableValue, check_tag_text
from ingest_to_influxdb.timestamps import InvalidTimestamp, to_epoch_ms

MAX_PAYLOAD_BYTES = 128 * 1024  # AWS IoT Core's largest message
MAX_ID_LENGTH = 128


@dataclass(frozen=True)
class Reading:
    kind: ReadingKind
    sensor_id: str
    metakey: str | None
    fields: dict[str, float]
    tags: dict[str, str]  # set by the reading itself (e.g. product_id), besides sensorID
    time_ms: int


@dataclass(frozen=True)
class Rejection:
    code: str  # short, for metrics and the health series
    reason: str  # precise, for whoever looks at the rejected reading


class _Invalid(Exception):
    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.rejection = Rejection(code, reason)


def parse_message(message: Any) -> dict[str, Any]:
    """A message (object, or JSON text) as a dict; raises _Invalid otherwise."""
    if isinstance(message, bytes | bytearray):
        try:
            message = message.decode()
        except UnicodeDecodeError as error:
            raise _Invalid("not_json", "the payload is not UTF-8 text") from error
    if isinstance(message, str):
        if len(message.encode()) > MAX_PAYLOAD_BYTES:
            raise _Invalid("too_large", f"the payload is larger than {MAX_PAYLOAD_BYTES} bytes")
        try:
            message = json.loads(message)
        except ValueError as error:
            raise _Invalid("not_json", f"the payload is not JSON: {error}") from error
    if not isinstance(message, dict):
        raise _Invalid(
            "not_object", f"the payload is JSON but not an object (it is {type(message).__name__})"
        )
    if len(json.dumps(message, default=str).encode()) > MAX_PAYLOAD_BYTES:
        raise _Invalid("too_large", f"the payload is larger than {MAX_PAYLOAD_BYTES} bytes")
    return message


def _number(payload: dict[str, Any], name: str) -> float:
    value = payload.get(name)
    if value is None:
        raise _Invalid("missing_field", f"{name} is missing")
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise _Invalid("invalid_field", f"{name} must be a number, not {type(value).__name__}")
    try:
        number = float(value)
    except ValueError as error:
        raise _Invalid("invalid_field", f"{name} {str(value)[:64]!r} is not a number") from error
    if not math.isfinite(number):
        raise _Invalid("invalid_field", f"{name} must be finite, not {str(value)[:64]!r}")
    return number


def _count(payload: dict[str, Any], name: str) -> float:
    number = _number(payload, name)
    if number < 0 or not number.is_integer():
        raise _Invalid("invalid_field", f"{name} must be a non-negative integer, not {payload[name]!r}")
    return number


def _identifier(payload: dict[str, Any], name: str) -> str:
    value = payload.get(name)
    if value is None:
        raise _Invalid("missing_field", f"{name} is missing")
    if not isinstance(value, str):
        raise _Invalid("invalid_id", f"{name} must be a string, not {type(value).__name__}")
    if len(value) > MAX_ID_LENGTH:
        raise _Invalid("invalid_id", f"{name} is longer than {MAX_ID_LENGTH} characters")
    try:
        check_tag_text(value, name)
    except UnwritableValue as error:
        raise _Invalid("invalid_id", str(error)) from error
    return value


def _metakey(payload: dict[str, Any]) -> str | None:
    value = payload.get("metakey")
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise _Invalid("invalid_id", f"metakey must be a string, not {type(value).__name__}")
    text = str(value)
    if len(text) > MAX_ID_LENGTH:
        raise _Invalid("invalid_id", f"metakey is longer than {MAX_ID_LENGTH} characters")
    return text


_READERS = {FieldType.NUMBER: _number, FieldType.COUNT: _count}


def validate(message: Any, now_ms: int) -> Reading | Rejection:
    """The reading in `message`, or why it can never be written as it is."""
    try:
        payload = parse_message(message)
        topic = payload.get("topic")
        kind = kind_for_topic(topic if isinstance(topic, str) else None)
        if kind is None:
            raise _Invalid("unknown_topic", f"no reading kind is defined for the topic {str(topic)[:128]!r}")
        fields = {field.name: _READERS[field.type](payload, field.source) for field in kind.fields}
        tags = {name: _identifier(payload, name) for name in kind.tags}
        sensor_id = f"{_identifier(payload, 'deviceid')}-{_identifier(payload, 'clientid')}"
        try:
            time_ms = to_epoch_ms(payload.get("sensordatetime"), now_ms)
        except InvalidTimestamp as error:
            raise _Invalid("invalid_time", str(error)) from error
        return Reading(kind, sensor_id, _metakey(payload), fields, tags, time_ms)
    except _Invalid as invalid:
        return invalid.rejection
