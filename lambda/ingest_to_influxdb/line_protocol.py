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


Point = Callable[[str, Mapping[str, str], Mapping[str, float], int], str]
"""A point's line from (the value of the format's own tag, the other tags, the fields, the time in ns)."""


class LineFormat:
    """Lines of points whose measurement, constant tags and names of the other tags and fields are known
    beforehand (a device's metadata and its kind): the constant part is escaped and sorted once, so each
    point escapes only its own tag values. The line is the one `format_point` gives for the same point."""

    line: Callable[[Mapping[str, str], Mapping[str, float], int], str]
    """The point's line; `tags` and `fields` hold (at least) the names given to the format."""

    point: Point
    """`line` with the value of the `own_tag` given apart (not in `tags`): a reading's sensor id, without a dict
    made per reading to hold it."""

    def __init__(
        self,
        measurement: str,
        constant_tags: Mapping[str, str],
        variable_tags: Collection[str],
        fields: Collection[str],
        own_tag: str | None = None,
    ) -> None:
        if not fields:
            raise ValueError("a point needs at least one field")
        tag_names: list[str] = []  # the variable tags, in line order
        texts = [escape_measurement(measurement)]  # the constant text before each value, and after the last
        for name in sorted({*constant_tags, *variable_tags, *([own_tag] if own_tag else [])}):
            key = escape_key(name)
            if name in variable_tags or name == own_tag:  # the point's own tag wins over a constant one
                tag_names.append(name)
                texts[-1] += f",{key}="
                texts.append("")
            else:
                texts[-1] += f",{key}={escape_key(constant_tags[name])}"
        for n, name in enumerate(fields):
            texts[-1] += f"{' ' if n == 0 else ','}{escape_key(name)}="
            texts.append("")
        texts[-1] += " "
        made = _line_function(tuple(tag_names), tuple(fields), own_tag)(*texts)
        self.line, self.point = made


# A point is made per reading, so its function is written out per set of names (as a loop over them costs as
# much again): one f-string joins the constant texts, the tag values, the fields (as `format_float` writes
# them: repr of a float) and the time (a third faster than %-formatting a template). Only the names given to
# LineFormat, as Python literals (repr), go into the source; the texts are arguments.
_LINE = """
def with_texts({texts}):
    def point(own, tags, fields, time_ns):
        {values}
        if not ({finite}):
            raise ValueError(f"{{({fields},)!r}}: a field of InfluxDB is a finite number")
        {tag_values}
        return f"{line}{{time_ns}}"
    def line(tags, fields, time_ns):
        return point({own}, tags, fields, time_ns)
    return line, point
"""


@functools.cache
def _line_function(
    tag_names: tuple[str, ...], field_names: tuple[str, ...], own_tag: str | None
) -> Callable[..., tuple[Callable[..., str], Callable[..., str]]]:
    """The line and point functions of these names, given the format's constant texts."""
    fields = [f"v{n}" for n in range(len(field_names))]
    tags = [f"a{n}" for n in range(len(tag_names))]
    values = [f"{{{a}}}" for a in tags] + [f"{{{v}!r}}" for v in fields]
    texts = [f"t{n}" for n in range(len(values) + 1)]
    source = _LINE.format(
        texts=", ".join(texts),
        values="; ".join(
            f"{v} = float(fields[{name!r}])" for v, name in zip(fields, field_names, strict=True)
        ),
        finite=" and ".join(f"isfinite({v})" for v in fields),
        fields=", ".join(fields),
        tag_values="; ".join(
            f"{a} = escape({'own' if name == own_tag else f'tags[{name!r}]'})"
            for a, name in zip(tags, tag_names, strict=True)
        )
        or "pass",
        line="".join(f"{{{t}}}{value}" for t, value in zip(texts, values, strict=False)) + f"{{{texts[-1]}}}",
        own="None" if own_tag is None else f"tags[{own_tag!r}]",
    )
    scope: dict[str, Any] = {"isfinite": math.isfinite, "escape": escape_value}
    exec(compile(source, "<line format>", "exec"), scope)
    made: Callable[..., tuple[Callable[..., str], Callable[..., str]]] = scope["with_texts"]
    return made
