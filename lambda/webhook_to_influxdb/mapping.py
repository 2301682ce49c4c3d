"""Which LwM2M resources become which kind's attributes, as the catalog's `lwm2m` sections say.

The webhook stack hands the mapping to the function as JSON in LWM2M_MAPPING (written from device-kinds/ by
`catalog.lwm2m.webhook_mapping`), so the function needs neither the catalog's files nor its libraries.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum

from ingest_to_influxdb import environment
from ingest_to_influxdb.errors import ConfigError, InvalidReading

MAX_VALUE_TEXT = 256  # a resource's value as text; longer is not a reading


class Decode(Enum):
    INTEGER = "integer"
    FLOAT = "float"
    TEXT = "text"


@dataclass(frozen=True)
class Resource:
    path: str  # /3200/0/5501
    kind: str  # the device kind's name
    topic: str  # the kind's topic: the ingest core picks the kind by it
    attribute: str  # the reading attribute the value becomes (the kind's field or tag attribute)
    decode: Decode
    metric: str | None = None  # a CloudWatch metric counting the resource's notifications per endpoint


def parse_mapping(text: str) -> dict[str, Resource]:
    """The mapping from its JSON: {path: {kind, topic, attribute, decode, metric?}}."""
    try:
        document = json.loads(text)
        return {
            path: Resource(
                path=path,
                kind=str(spec["kind"]),
                topic=str(spec["topic"]),
                attribute=str(spec["attribute"]),
                decode=Decode(spec["decode"]),
                metric=spec.get("metric"),
            )
            for path, spec in document.items()
        }
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise ConfigError(
            f"LWM2M_MAPPING is not the mapping the webhook stack writes from device-kinds/ ({error})"
        ) from None


def mapping_from_env(env: Mapping[str, str]) -> dict[str, Resource]:
    text = env.get(environment.LWM2M_MAPPING, "").strip()
    if not text:
        raise ConfigError("the environment variable LWM2M_MAPPING is not set: the webhook stack sets it")
    return parse_mapping(text)


def decode_value(payload: object, decode: Decode) -> float | str:
    """A notification's base64 payload as the resource's value; InvalidReading says what is wrong with it."""
    if not isinstance(payload, str):
        raise InvalidReading("bad_payload", f"the payload must be base64 text, not {type(payload).__name__}")
    try:
        raw = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidReading("bad_payload", f"the payload {payload[:40]!r} is not base64") from None
    if len(raw) > MAX_VALUE_TEXT:
        raise InvalidReading("bad_payload", f"the value is {len(raw)} bytes; the limit is {MAX_VALUE_TEXT}")
    try:
        text = raw.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise InvalidReading("bad_payload", "the value is not UTF-8 text (TLV or CBOR is not read)") from None
    if decode is Decode.TEXT:
        if not text:
            raise InvalidReading("bad_value", "the value is empty text")
        return text
    try:
        number = int(text) if decode is Decode.INTEGER else float(text)
    except ValueError:
        wanted = "an integer" if decode is Decode.INTEGER else "a number"
        raise InvalidReading("bad_value", f"the value {text[:40]!r} is not {wanted}") from None
    if not math.isfinite(number):
        raise InvalidReading("bad_value", f"the value {text[:40]!r} is not a finite number")
    return number
