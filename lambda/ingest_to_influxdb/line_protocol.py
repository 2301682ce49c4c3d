"""InfluxDB 1.x line protocol, escaped so that no value can break a line or reach into another point."""

from __future__ import annotations

import math
from collections.abc import Mapping

_MEASUREMENT = str.maketrans({",": r"\,", " ": r"\ "})
_KEY_OR_TAG_VALUE = str.maketrans({",": r"\,", "=": r"\=", " ": r"\ "})


class UnwritableValue(ValueError):
    """A string that line protocol cannot carry as a tag (control characters, empty)."""


def check_tag_text(text: str, what: str) -> None:
    if not text:
        raise UnwritableValue(f"{what} is empty")
    if any(ord(c) < 32 or ord(c) == 127 for c in text):
        raise UnwritableValue(f"{what} contains a control character (newline, tab, ...)")
    if text.endswith("\\"):
        raise UnwritableValue(f"{what} ends with a backslash, which would escape the separator after it")


def escape_tag(text: str) -> str:
    return text.translate(_KEY_OR_TAG_VALUE)


def format_point(measurement: str, tags: Mapping[str, str], fields: Mapping[str, float], time_ns: int) -> str:
    """One line; tags sorted by key (InfluxDB's preferred order), fields as floats."""
    parts = [measurement.translate(_MEASUREMENT)]
    parts.extend(f"{escape_tag(k)}={escape_tag(v)}" for k, v in sorted(tags.items()))
    field_text = ",".join(f"{escape_tag(k)}={_float(v)}" for k, v in fields.items())
    return f"{','.join(parts)} {field_text} {time_ns}"


def _float(value: float) -> str:
    if not math.isfinite(value):
        raise UnwritableValue(f"{value!r} is not a finite number")
    return repr(float(value))
