"""A reading, decoded and checked against its kind: a `Reading` ready to write, or `InvalidReading`."""

from __future__ import annotations

import contextlib
import json
import math
import re
from typing import Any, NamedTuple, TypeGuard

from ingest_to_influxdb import basic_ingest
from ingest_to_influxdb.constants import (
    MAX_IDENTIFIER_LENGTH,
    MAX_METAKEY_LENGTH,
    MAX_NESTING_DEPTH,
    MAX_NUMBER_TEXT_LENGTH,
    MAX_PAYLOAD_BYTES,
    MAX_TOPIC_LENGTH,
    METAKEY,
)
from ingest_to_influxdb.errors import InvalidReading
from ingest_to_influxdb.identity import (
    CONNECTION_FIELD,
    NOT_OVER_MQTT,
    connection_client_id,
    endpoint_identity,
    vouched,
)
from ingest_to_influxdb.kinds import FieldRule, FieldSpec, ReadingKind, kind_for_topic
from ingest_to_influxdb.line_protocol import unrepresentable
from ingest_to_influxdb.timestamps import iso_epoch_ms, to_epoch_ms

_JSON = json.JSONDecoder()
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
_INTEGER = re.compile(r"[+-]?\d+")
_LARGEST_EXACT_INTEGER = 2**53
# A reading from a device-management service's webhook names its device by the LwM2M endpoint name: that is
# its sensor id (instead of the kind's sensor_id attributes), unless a broker vouches for a client id.
ENDPOINT = "endpoint"


class Reading(NamedTuple):  # a tuple: immutable, and made several times faster than a frozen dataclass
    kind: ReadingKind
    sensor_id: (
        str  # the connection's client id, else the LwM2M endpoint, else the kind's sensor_id attributes
    )
    metakey: str | None
    fields: dict[str, float]
    tags: dict[str, str]  # tags the reading sets itself (e.g. product_id)
    time_ms: int


def decode(payload: object) -> dict[str, Any]:
    """The reading as a JSON object, from raw text or bytes (an SQS body) or an already parsed event."""
    return _decode_common_case(payload) or decode_fully(payload)


def decode_fully(payload: object) -> dict[str, Any]:
    """Every check of `decode`, with the reason of the first that fails."""
    if isinstance(payload, str | bytes | bytearray):
        size = len(payload.encode() if isinstance(payload, str) else payload)
        if size > MAX_PAYLOAD_BYTES:
            raise InvalidReading(
                "too_large", f"the payload is {size} bytes; the limit is {MAX_PAYLOAD_BYTES}"
            )
        try:
            document = json.loads(payload)
        except RecursionError:
            raise InvalidReading(
                "too_deep", f"the payload nests deeper than {MAX_NESTING_DEPTH} levels"
            ) from None
        except ValueError as error:  # UnicodeDecodeError too: bytes that are not UTF-8
            raise InvalidReading("not_json", f"the payload is not JSON: {error}") from None
    else:
        document = payload
        try:
            size = len(json.dumps(document).encode())
        except RecursionError:
            raise InvalidReading(
                "too_deep", f"the payload nests deeper than {MAX_NESTING_DEPTH} levels"
            ) from None
        except (TypeError, ValueError) as error:
            raise InvalidReading("not_json", f"the event cannot be read as JSON: {error}") from None
        if size > MAX_PAYLOAD_BYTES:
            raise InvalidReading(
                "too_large", f"the payload is {size} bytes; the limit is {MAX_PAYLOAD_BYTES}"
            )
    if not isinstance(document, dict):
        raise InvalidReading(
            "not_object", f"the payload is a JSON {type(document).__name__}, not an object of attributes"
        )
    if _deeper_than(document, MAX_NESTING_DEPTH):
        raise InvalidReading("too_deep", f"the payload nests deeper than {MAX_NESTING_DEPTH} levels")
    return document


def _decode_common_case(payload: object) -> dict[str, Any] | None:
    """A device's usual payload, decoded without the full checks, or None to take them: ASCII text (its length
    is its size in bytes) under the size limit holding one object and no array, so it nests one level only;
    or an object Lambda decoded, flat and small (`small_flat_object`)."""
    if type(payload) is dict:
        return payload if small_flat_object(payload) else None
    try:
        if type(payload) is str:
            if not payload.isascii() or len(payload) > MAX_PAYLOAD_BYTES:
                return None
            if payload.count("{") != 1 or "[" in payload:
                return None
            # What json.loads does, without its steps for white space around the object (there is none).
            document, end = _JSON.raw_decode(payload)
            if end != len(payload):
                return None
        elif type(payload) is bytes:
            if len(payload) > MAX_PAYLOAD_BYTES or payload.count(b"{") != 1 or b"[" in payload:
                return None
            document = json.loads(payload)
        else:
            return None
    except ValueError:  # not JSON, not UTF-8, or white space first: the full checks say what
        return None
    return document if type(document) is dict else None


_LONGEST_CHARACTER = 12  # a character in JSON text at its longest: a surrogate pair, each half escaped in 6
_LONGEST_SCALAR = 24  # a float, bool or null in JSON text at its longest: -2.2250738585072014e-308
_LARGEST_SHORT_INTEGER = 10**18  # an integer below this is at most 20 characters of JSON


def small_flat_object(document: dict[Any, Any]) -> bool:
    """Whether JSON text of `document` could be written (`decode_fully` writes it to measure it) and would be
    within the size limit with no nesting, by a bound on its length instead of writing it: keys strings,
    values strings, numbers, booleans or null."""
    bound = 2
    for key, value in document.items():
        kind = type(value)
        if type(key) is not str:
            return False
        if kind is str:
            bound += _LONGEST_CHARACTER * len(value) + 2
        elif kind is int:
            if not -_LARGEST_SHORT_INTEGER < value < _LARGEST_SHORT_INTEGER:
                return False
            bound += 20
        elif kind is float or kind is bool or value is None:
            bound += _LONGEST_SCALAR
        else:
            return False
        bound += _LONGEST_CHARACTER * len(key) + 6  # quotes, ": " and ", "
    return bound <= MAX_PAYLOAD_BYTES


def _deeper_than(document: dict[str, Any], limit: int) -> bool:
    """Whether objects and arrays nest more than `limit` levels (without recursion, so any depth is safe)."""
    level: list[dict[str, Any] | list[Any]] = [document]
    for _ in range(limit):
        level = [
            child
            for value in level
            for child in (value.values() if isinstance(value, dict) else value)
            if isinstance(child, dict | list)
        ]
        if not level:
            return False
    return True


def _valid_unicode(name: str, value: str) -> None:
    """A lone surrogate (JSON allows the escape, UTF-8 cannot carry it) cannot go to InfluxDB or DynamoDB."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as error:
        raise InvalidReading(
            "bad_identifier",
            f"{name} is not valid Unicode: it holds {error.object[error.start : error.end]!r} "
            f"(a lone surrogate) at position {error.start}",
        ) from None


def kind_of(document: dict[str, Any], topic: str | None = None) -> ReadingKind:
    """The kind picked by the reading's `topic` (set by the rule), else by the topic the envelope names."""
    chosen = document.get("topic", topic)
    if chosen is not None and (not isinstance(chosen, str) or len(chosen) > MAX_TOPIC_LENGTH):
        raise InvalidReading(
            "unknown_topic", f"topic must be a string of at most {MAX_TOPIC_LENGTH} characters"
        )
    kind = kind_for_topic(chosen)
    if kind is None and chosen is not None and basic_ingest.rule_of(chosen) is not None:
        raise InvalidReading(
            "unknown_topic",
            f"the reading came through Basic Ingest to the rule {basic_ingest.rule_of(chosen)!r}, which no kind "
            "takes it through: turn on that kind's <Kind>BasicIngest parameter of the ingest stack",
        )
    if kind is None:
        raise InvalidReading("unknown_topic", f"no reading kind listens on the topic {chosen!r}")
    return kind


def _text(document: dict[str, Any], name: str, limit: int) -> str:
    value = document.get(name)
    if value is None:
        raise InvalidReading("missing_field", f"{name} is missing")
    if not isinstance(value, str):
        raise InvalidReading("bad_identifier", f"{name} must be a string, not a {type(value).__name__}")
    if len(value) > limit:
        raise InvalidReading(
            "bad_identifier", f"{name} is {len(value)} characters long; the limit is {limit}"
        )
    _valid_unicode(name, value)
    problem = unrepresentable(value)
    if problem:
        raise InvalidReading("bad_identifier", f"{name} {problem}")
    return value


def _metakey(document: dict[str, Any]) -> str | None:
    value = document.get(METAKEY)
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value or len(value) > MAX_METAKEY_LENGTH:
        raise InvalidReading(
            "bad_metakey", f"metakey must be a non-empty string of at most {MAX_METAKEY_LENGTH} characters"
        )
    try:
        _valid_unicode(METAKEY, value)
    except InvalidReading as invalid:
        raise InvalidReading("bad_metakey", invalid.reason) from None
    return value


def _number(name: str, value: object) -> float:
    if type(value) is float or type(value) is int:  # the common case, checked first (a bool is neither)
        with contextlib.suppress(OverflowError):
            if math.isfinite(number := float(value)):
                return number
    if isinstance(value, bool):
        raise InvalidReading("bad_field", f"{name} is a boolean, not a number")
    if isinstance(value, str):
        text = value.strip()
        if len(text) > MAX_NUMBER_TEXT_LENGTH or not _NUMBER.fullmatch(text):
            raise InvalidReading("bad_field", f"{name} is the text {value[:40]!r}, not a number")
        value = float(text)
    if not isinstance(value, int | float):
        raise InvalidReading("bad_field", f"{name} must be a number, not a {type(value).__name__}")
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        raise InvalidReading("bad_field", f"{name} is not a finite number ({value!r})")
    return number


def _integer(spec: FieldSpec, value: object) -> float:
    """A non-negative integer, checked exactly before it becomes a float: 2**53 + 1 must not pass as 2**53."""
    if isinstance(value, str) and _INTEGER.fullmatch(value.strip()):
        if len(value.strip()) > MAX_NUMBER_TEXT_LENGTH:
            raise InvalidReading("bad_field", f"{spec.source} is the text {value[:40]!r}, not a number")
        value = int(value.strip())
    if isinstance(value, int) and not isinstance(value, bool):
        if not 0 <= value <= _LARGEST_EXACT_INTEGER:
            raise InvalidReading(
                "bad_field",
                f"{spec.source} must be {spec.rule.value} of at most 2**53 (exact as a float), not {value}",
            )
        return float(value)
    number = _number(spec.source, value)
    if number < 0 or not number.is_integer() or number > _LARGEST_EXACT_INTEGER:
        raise InvalidReading("bad_field", f"{spec.source} must be {spec.rule.value}, not {number!r}")
    return number


def _field(spec: FieldSpec, document: dict[str, Any]) -> float:
    value = document.get(spec.source)
    if value is None:
        raise InvalidReading("missing_field", f"{spec.source} is missing")
    if spec.rule is FieldRule.NON_NEGATIVE_INTEGER:
        return _integer(spec, value)
    return _number(spec.source, value)


def _plain_text(value: object, limit: int) -> TypeGuard[str]:
    """Whether `value` is an identifier the full checks would take as it is (the common case, quickly):
    a non-empty printable ASCII string within the limit, not ending with a backslash."""
    return (
        type(value) is str
        and 0 < len(value) <= limit
        and value.isascii()
        and value.isprintable()
        and not value.endswith("\\")
    )


def _exact_count(value: float) -> bool:
    return 0 <= value <= _LARGEST_EXACT_INTEGER and value.is_integer()


def _common_case(document: dict[str, Any], kind: ReadingKind, now_ms: int) -> Reading | None:
    """The reading a device usually sends, checked in one pass; None when anything is unusual, and then
    `validate` takes the full checks, which alone raise, with their reasons. Whenever this returns a reading,
    it is the one the full checks make of the same document (tests/ingest_to_influxdb/test_validation_paths.py).
    """
    get = document.get
    sensor_id = get(CONNECTION_FIELD)
    if sensor_id is None:
        if get(ENDPOINT) is not None:
            return None
        parts: list[str] = []
        for attribute in kind.sensor_id:
            part = get(attribute)
            if type(part) is not str or not 0 < len(part) <= MAX_IDENTIFIER_LENGTH or part[-1] == "\\":
                return None
            parts.append(part)
        sensor_id = "-".join(parts)
        if not (sensor_id.isascii() and sensor_id.isprintable()):  # as every part is
            return None
    elif sensor_id == NOT_OVER_MQTT or not _plain_text(sensor_id, MAX_IDENTIFIER_LENGTH):
        return None
    fields: dict[str, float] = {}
    for name, source, integer in kind.field_checks:  # a float or an int within 2**53, not a bool
        value = get(source)
        if type(value) is float:
            if not math.isfinite(value) or (integer and not _exact_count(value)):
                return None
            fields[name] = value
        elif type(value) is int and -_LARGEST_EXACT_INTEGER <= value <= _LARGEST_EXACT_INTEGER:
            if integer and value < 0:
                return None
            fields[name] = float(value)
        else:
            return None
    tags: dict[str, str] = {}
    for name, source in kind.tag_sources:
        value = get(source)
        if not _plain_text(value, MAX_IDENTIFIER_LENGTH):
            return None
        tags[name] = value
    metakey = (
        sensor_id if get(CONNECTION_FIELD) is not None else get(METAKEY)
    )  # the thing's item (identity.py)
    if metakey is not None and not (
        type(metakey) is str and 0 < len(metakey) <= MAX_METAKEY_LENGTH and metakey.isascii()
    ):
        return None
    time_ms = iso_epoch_ms(get("sensordatetime"), now_ms)
    if time_ms is None:
        return None
    return Reading(kind, sensor_id, metakey, fields, tags, time_ms)


def validate(document: dict[str, Any], kind: ReadingKind, now_ms: int) -> Reading:
    """Check a decoded reading against its kind; unknown attributes are ignored."""
    return _common_case(document, kind, now_ms) or validate_fully(document, kind, now_ms)


def validate_fully(document: dict[str, Any], kind: ReadingKind, now_ms: int) -> Reading:
    """Every check of `validate`, with the reason of the first that fails."""
    sensor_id = connection_client_id(document)  # the connection's thing, when a broker vouches for one
    if sensor_id is None and document.get(ENDPOINT) is not None:  # a webhook's LwM2M endpoint, namespaced
        sensor_id = endpoint_identity(_text(document, ENDPOINT, MAX_IDENTIFIER_LENGTH))
    if sensor_id is None:
        sensor_id = "-".join(
            _text(document, attribute, MAX_IDENTIFIER_LENGTH) for attribute in kind.sensor_id
        )
    fields = {spec.name: _field(spec, document) for spec in kind.fields}
    tags = {spec.name: _text(document, spec.source, MAX_IDENTIFIER_LENGTH) for spec in kind.tags}
    return Reading(
        kind=kind,
        sensor_id=sensor_id,
        metakey=sensor_id if vouched(document) else _metakey(document),
        fields=fields,
        tags=tags,
        time_ms=to_epoch_ms(document.get("sensordatetime"), now_ms),
    )
