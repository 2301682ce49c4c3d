"""The Data API's SQL parameters: `:name` placeholders found in a statement, typed values read from the request, and
the statement's text with each value put in as PyMySQL escapes a bound parameter (never the value's own text).

A `:name` is a placeholder only in the statement's code: inside a quoted string ('...', "..."), a quoted identifier
(`...`) or a comment (`-- `, `#`, `/* */`) it is text. A value is one member of the `Field` union; `typeHint` turns
a `stringValue` into the type MySQL gets (TIMESTAMP, DATE, TIME, DECIMAL, JSON, UUID), in the formats the API
reference gives. Array values are refused, as the Data API does for MySQL ("Array parameters are not supported").
"""

from __future__ import annotations

import base64
import binascii
import math
import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

import botocore.session

from local_aws.rds_data.errors import SERVICE, ApiError

LONG_MIN, LONG_MAX = -(2**63), 2**63 - 1  # the `BoxedLong` of the API: a Java long
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_TIMESTAMP = re.compile(r"(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_TIME = re.compile(r"(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?")
# How JSON carries a double that is not finite (botocore writes them so).
NON_FINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}

_MODEL = botocore.session.get_session().get_service_model(SERVICE)
PARAMETER_MEMBERS = frozenset(_MODEL.shape_for("SqlParameter").members)  # type: ignore[attr-defined]
FIELD_MEMBERS = frozenset(_MODEL.shape_for("Field").members)  # type: ignore[attr-defined]

Value = None | bool | int | float | str | bytes | Decimal | datetime | date | timedelta


@dataclass(frozen=True)
class Statement:
    """A statement cut at its placeholders: texts[0], names[0], texts[1], ..., texts[-1]."""

    texts: tuple[str, ...]
    names: tuple[str, ...]

    def bind(self, values: Mapping[str, Value], escape: Callable[[Value], str]) -> str:
        missing = [name for name in self.names if name not in values]
        if missing:
            raise ApiError("BadRequestException", f"No value specified for parameter: {missing[0]}")
        pieces = [self.texts[0]]
        for name, text in zip(self.names, self.texts[1:], strict=True):
            pieces.append(escape(values[name]))
            pieces.append(text)
        return "".join(pieces)


def _skip_quoted(sql: str, start: int) -> int:
    """The index after the string or quoted identifier opening at `start` (a doubled quote, or a backslash in
    a string, escapes the next character)."""
    quote, i, end = sql[start], start + 1, len(sql)
    while i < end:
        char = sql[i]
        if char == "\\" and quote != "`":
            i += 2
            continue
        if char == quote:
            if i + 1 < end and sql[i + 1] == quote:
                i += 2
                continue
            return i + 1
        i += 1
    return end


def parse(sql: str) -> Statement:
    """The statement's placeholders, outside literals and comments."""
    texts: list[str] = []
    names: list[str] = []
    cut, i, end = 0, 0, len(sql)
    while i < end:
        char = sql[i]
        if char in "'\"`":
            i = _skip_quoted(sql, i)
        elif char == "#" or (sql.startswith("--", i) and (i + 2 == end or sql[i + 2] in " \t\r\n")):
            newline = sql.find("\n", i)
            i = end if newline < 0 else newline + 1
        elif sql.startswith("/*", i):
            close = sql.find("*/", i + 2)
            i = end if close < 0 else close + 2
        elif char == ":" and (i == 0 or sql[i - 1] != ":") and (name := _NAME.match(sql, i + 1)):
            texts.append(sql[cut:i])
            names.append(name.group())
            i = cut = name.end()
        else:
            i += 1
    texts.append(sql[cut:])
    return Statement(tuple(texts), tuple(names))


def _bad(name: str, problem: str) -> ApiError:
    return ApiError("BadRequestException", f"The parameter {name!r} {problem}")


def _fraction(digits: str | None) -> int:
    """Microseconds of a fraction of up to 9 digits (a Java Timestamp's nanoseconds, cut to what MySQL keeps)."""
    return int((digits or "0")[:6].ljust(6, "0"))


def _hinted(name: str, hint: str, text: str) -> Value:
    try:
        if hint == "TIMESTAMP":
            if not (found := _TIMESTAMP.fullmatch(text)):
                raise ValueError("YYYY-MM-DD HH:MM:SS[.FFF]")
            return datetime.strptime(found[1], "%Y-%m-%d %H:%M:%S").replace(microsecond=_fraction(found[2]))
        if hint == "DATE":
            if not _DATE.fullmatch(text):
                raise ValueError("YYYY-MM-DD")
            return date.fromisoformat(text)
        if hint == "TIME":
            if not (found := _TIME.fullmatch(text)) or int(found[2]) > 59 or int(found[3]) > 59:
                raise ValueError("HH:MM:SS[.FFF]")
            return timedelta(
                hours=int(found[1]),
                minutes=int(found[2]),
                seconds=int(found[3]),
                microseconds=_fraction(found[4]),
            )
        if hint == "DECIMAL":
            number = Decimal(text)
            if not number.is_finite():
                raise ValueError("a finite decimal number")
            return number
        if hint == "UUID":
            uuid.UUID(text)
            return text
        if hint == "JSON":
            return text  # MySQL checks the document itself, as it does the Data API's
    except (ValueError, InvalidOperation) as error:
        raise _bad(name, f"is an incorrect {hint} value: {text[:64]!r} ({error})") from None
    raise _bad(name, f"has an unknown typeHint {hint!r}")


def value(parameter: Mapping[str, Any]) -> tuple[str, Value]:
    """A parameter's name and the value bound for it."""
    name = parameter.get("name")
    field = parameter.get("value")
    if not isinstance(name, str) or not name:
        raise ApiError("BadRequestException", "Every parameter needs a name")
    if not isinstance(field, dict):
        raise _bad(name, "has no value")
    unknown = (set(parameter) - PARAMETER_MEMBERS) | (set(field) - FIELD_MEMBERS)
    if unknown:
        raise _bad(name, f"has unknown members: {', '.join(sorted(unknown))}")
    members = [(key, item) for key, item in field.items() if item is not None]
    if len(members) != 1:
        raise _bad(name, "must set exactly one member of its value")
    kind, item = members[0]
    hint = parameter.get("typeHint")
    if hint is not None and kind != "stringValue":
        raise _bad(name, f"has typeHint {hint} on a {kind}: a hint applies to a stringValue")
    if kind == "arrayValue":
        raise ApiError("BadRequestException", "Array parameters are not supported.")
    if kind == "isNull" and item is True:
        return name, None
    if kind == "booleanValue" and isinstance(item, bool):
        return name, item
    if kind == "longValue" and isinstance(item, int) and not isinstance(item, bool):
        if not LONG_MIN <= item <= LONG_MAX:
            raise _bad(name, "is out of range for a long")
        return name, item
    if kind == "doubleValue":
        number = NON_FINITE.get(item, item) if isinstance(item, str) else item
        if isinstance(number, int | float) and not isinstance(number, bool):
            if not math.isfinite(number):
                # MySQL has no NaN or infinity: its answer to an out-of-range value.
                raise ApiError(
                    "DatabaseErrorException",
                    f"Database error code: 1264. Message: Out of range value for parameter '{name}': {item}",
                )
            return name, float(number)
    if kind == "stringValue" and isinstance(item, str):
        try:
            item.encode()
        except UnicodeEncodeError:
            raise _bad(name, "is an incorrect string value: not UTF-8 text (a lone surrogate)") from None
        return name, item if hint is None else _hinted(name, str(hint), item)
    if kind == "blobValue" and isinstance(item, str):
        try:
            return name, base64.b64decode(item, validate=True)
        except (binascii.Error, ValueError):
            raise _bad(name, "has a blobValue that is not base64") from None
    raise _bad(name, f"has a {kind} of the wrong type")


def values(parameters: Sequence[Mapping[str, Any]]) -> dict[str, Value]:
    return dict(value(parameter) for parameter in parameters)
