"""InfluxDB 1.x line protocol: escaping and formatting, checked against the real influxd in the tests.

Rules (InfluxDB 1.x): in a measurement, escape commas and spaces; in tag keys, tag values and field keys,
escape commas, equals signs and spaces. A backslash before anything else stays as it is. Two things
cannot be carried at all: a line feed or other control character (the line would break or read back
changed), and a trailing backslash (it would escape the separator after it). An empty tag value is
refused by InfluxDB. `unrepresentable` says which, so callers can refuse or drop the value.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable, Collection, Mapping
from typing import Any

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")  # Unicode category Cc


def unrepresentable(text: str) -> str | None:
    """Why `text` cannot be a tag key, tag value or field key exactly as it is; None when it can."""
    if not text:
        return "is empty"
    if text.isprintable() and not text.endswith("\\"):  # the common case, without a regular expression
        return None
    control = _CONTROL.search(text)
    if control:
        return f"contains a control character (U+{ord(control.group()):04X}), which InfluxDB cannot store in a tag"
    if text.endswith("\\"):
        return "ends with a backslash, which InfluxDB's line protocol cannot carry at the end of a tag"
    return None


# Escaping by str.replace, which hands back the text itself when it holds nothing to escape: several times
# faster than str.translate, which has no fast path for a table that lengthens characters (a tag value is
# escaped per reading). The replacements add only backslashes, so their order does not matter.


def escape_measurement(name: str) -> str:
    return name.replace(",", "\\,").replace(" ", "\\ ")


def escape_key(text: str) -> str:
    """A tag key, tag value or field key."""
    return text.replace(",", "\\,").replace("=", "\\=").replace(" ", "\\ ")


# A point's own tag values (a sensor id) come again and again: each is escaped once per container.
MAX_ESCAPED_VALUES = 100_000
_escaped: dict[str, str] = {}


def escape_value(text: str) -> str:
    """`escape_key` of a tag value, remembered."""
    found = _escaped.get(text)
    if found is None:
        if len(_escaped) >= MAX_ESCAPED_VALUES:
            _escaped.clear()
        found = _escaped[text] = escape_key(text)
    return found


def format_float(value: float) -> str:
    if not math.isfinite(value):
        raise ValueError(f"{value!r} cannot be an InfluxDB field")
    return repr(float(value))


def format_point(measurement: str, tags: Mapping[str, str], fields: Mapping[str, float], time_ns: int) -> str:
    """One line: tags sorted by key (InfluxDB's preferred order), every field a float."""
    if not fields:
        raise ValueError("a point needs at least one field")
    head = escape_measurement(measurement)
    tag_text = "".join(f",{escape_key(k)}={escape_key(v)}" for k, v in sorted(tags.items()))
    field_text = ",".join(f"{escape_key(k)}={format_float(v)}" for k, v in fields.items())
    return f"{head}{tag_text} {field_text} {time_ns}"


class LineFormat:
    """Lines of points whose measurement, constant tags and names of the other tags and fields are known
    beforehand (a device's metadata and its kind): the constant part is escaped and sorted once, so each
    point escapes only its own tag values. The line is the one `format_point` gives for the same point."""

    line: Callable[[Mapping[str, str], Mapping[str, float], int], str]
    """The point's line; `tags` and `fields` hold (at least) the names given to the format."""

    def __init__(
        self,
        measurement: str,
        constant_tags: Mapping[str, str],
        variable_tags: Collection[str],
        fields: Collection[str],
    ) -> None:
        if not fields:
            raise ValueError("a point needs at least one field")
        tag_names: list[str] = []  # the variable tags, in line order
        template = _literal(escape_measurement(measurement))
        for name in sorted({*constant_tags, *variable_tags}):
            key = _literal(escape_key(name))
            if name in variable_tags:  # the point's own tag wins over a constant of the same name
                tag_names.append(name)
                template += f",{key}=%s"
            else:
                template += f",{key}={_literal(escape_key(constant_tags[name]))}"
        # Fields as %r of a float: what format_float writes.
        template += " " + ",".join(f"{_literal(escape_key(name))}=%r" for name in fields) + " %s"
        self.line = _line_function(tuple(tag_names), tuple(fields))(template)


# A point is made per reading, so its function is written out per set of names (as a loop over them costs as
# much again): %-formatting fills the tag values, field values and time in one step (twice as fast as
# str.format). Only the names given to LineFormat, as Python literals (repr), go into the source.
_LINE = """
def with_template(template):
    def line(tags, fields, time_ns):
        {values}
        if not ({finite}):
            raise ValueError(f"{{({fields},)!r}}: a field of InfluxDB is a finite number")
        return template % ({tags}{fields}, time_ns)
    return line
"""


@functools.cache
def _line_function(
    tag_names: tuple[str, ...], field_names: tuple[str, ...]
) -> Callable[[str], Callable[[Mapping[str, str], Mapping[str, float], int], str]]:
    """The line function of these names, given the format's template."""
    fields = [f"v{n}" for n in range(len(field_names))]
    source = _LINE.format(
        values="; ".join(
            f"{v} = float(fields[{name!r}])" for v, name in zip(fields, field_names, strict=True)
        ),
        finite=" and ".join(f"isfinite({v})" for v in fields),
        fields=", ".join(fields),
        tags="".join(f"escape(tags[{name!r}]), " for name in tag_names),
    )
    scope: dict[str, Any] = {"isfinite": math.isfinite, "escape": escape_value}
    exec(compile(source, "<line format>", "exec"), scope)
    made: Callable[[str], Callable[[Mapping[str, str], Mapping[str, float], int], str]] = scope[
        "with_template"
    ]
    return made


def _literal(text: str) -> str:
    """Text as it stands in a %-format template."""
    return text.replace("%", "%%")
