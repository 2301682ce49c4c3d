"""The Data API's parameters: `:name` placeholders outside literals and comments, every typed value, bound as
PyMySQL escapes a parameter (the value is never the statement's text)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pymysql.converters
import pytest

from local_aws.rds_data import binding
from local_aws.rds_data.errors import ApiError

pytestmark = pytest.mark.pure


def escape(value: Any) -> str:
    if isinstance(value, str):
        return "'" + pymysql.converters.escape_string(value) + "'"
    if isinstance(value, bytes):
        return "_binary'" + pymysql.converters.escape_string(value.decode("latin-1")) + "'"
    return str(pymysql.converters.escape_item(value, "utf8mb4"))


def bound(sql: str, **values: Any) -> str:
    return binding.parse(sql).bind(values, escape)


@pytest.mark.parametrize(
    ("sql", "names"),
    [
        ("INSERT INTO t VALUES (:a, :b_2)", ("a", "b_2")),
        ("SELECT ':a' , \":b\", `:c` FROM t WHERE x = :d", ("d",)),
        ("SELECT 'it''s :a', 'back\\' :b' , :c", ("c",)),
        ("SELECT 1 -- :a\n, :b # :c\n, /* :d */ :e", ("b", "e")),
        ("SELECT 1--:a", ("a",)),  # `--` without a space is two minuses in MySQL, not a comment
        ("SELECT @x := 1, TIME '12:30:00', :t", ("t",)),
        ("SELECT 'unterminated :a", ()),
        ("SELECT /* unterminated :a", ()),
        (
            "SELECT DATE(ts) + INTERVAL HOUR(ts) HOUR FROM e WHERE b = :board AND ts >= :start",
            ("board", "start"),
        ),
    ],
)
def test_placeholders_are_found_only_in_the_statements_code(sql: str, names: tuple[str, ...]) -> None:
    statement = binding.parse(sql)
    assert statement.names == names
    assert (
        "".join(statement.texts) + "".join(":" + n for n in names) != ""
        and len(statement.texts) == len(names) + 1
    )


def test_a_value_is_escaped_never_spliced() -> None:
    hostile = "x'); DROP TABLE t; -- \\ \" \x00 😀"
    sql = bound("INSERT INTO t VALUES (:v, ':v')", v=hostile)
    assert sql == "INSERT INTO t VALUES (" + escape(hostile) + ", ':v')"
    assert "\\'" in sql and "\\0" in sql and "\\\\" in sql


def test_a_placeholder_without_a_value_is_refused() -> None:
    with pytest.raises(ApiError) as refused:
        bound("SELECT :a, :b", a=1)
    assert refused.value.code == "BadRequestException" and "b" in refused.value.message


@pytest.mark.parametrize(
    ("field", "hint", "expected"),
    [
        ({"stringValue": "text"}, None, "text"),
        ({"longValue": -(2**63)}, None, -(2**63)),
        ({"doubleValue": 1.5}, None, 1.5),
        ({"doubleValue": 2}, None, 2.0),
        ({"booleanValue": True}, None, True),
        ({"isNull": True}, None, None),
        ({"blobValue": "AAE="}, None, b"\x00\x01"),
        ({"stringValue": "2026-12-04 12:00:00.123"}, "TIMESTAMP", datetime(2026, 12, 4, 12, 0, 0, 123000)),
        ({"stringValue": "2026-12-04 12:00:00"}, "TIMESTAMP", datetime(2026, 12, 4, 12)),
        (
            {"stringValue": "2026-12-04 12:00:00.123456789"},
            "TIMESTAMP",
            datetime(2026, 12, 4, 12, 0, 0, 123456),
        ),
        ({"stringValue": "2026-12-04"}, "DATE", date(2026, 12, 4)),
        (
            {"stringValue": "13:14:15.5"},
            "TIME",
            timedelta(hours=13, minutes=14, seconds=15, microseconds=500000),
        ),
        ({"stringValue": "12.3400"}, "DECIMAL", Decimal("12.3400")),
        ({"stringValue": '{"a": [1]}'}, "JSON", '{"a": [1]}'),
        (
            {"stringValue": "1b4e28ba-2fa1-11d2-883f-0016d3cca427"},
            "UUID",
            "1b4e28ba-2fa1-11d2-883f-0016d3cca427",
        ),
    ],
)
def test_every_type_is_read_as_its_value(field: dict[str, Any], hint: str | None, expected: Any) -> None:
    parameter: dict[str, Any] = {"name": "p", "value": field}
    if hint:
        parameter["typeHint"] = hint
    assert binding.value(parameter) == ("p", expected)


@pytest.mark.parametrize(
    ("parameter", "code", "words"),
    [
        ({"name": "p", "value": {"arrayValue": {"longValues": [1]}}}, "BadRequestException", "Array parameters"),
        ({"name": "p", "value": {}}, "BadRequestException", "exactly one"),
        ({"name": "p", "value": {"longValue": 1, "stringValue": "1"}}, "BadRequestException", "exactly one"),
        ({"name": "p", "value": {"longValue": 2**63}}, "BadRequestException", "out of range"),
        ({"name": "p", "value": {"longValue": "1"}}, "BadRequestException", "wrong type"),
        ({"name": "p", "value": {"doubleValue": "NaN"}}, "DatabaseErrorException", "1264"),
        ({"name": "p", "value": {"doubleValue": float("inf")}}, "DatabaseErrorException", "Out of range"),
        ({"name": "p", "value": {"stringValue": "\ud800"}}, "BadRequestException", "incorrect string value"),
        ({"name": "p", "value": {"blobValue": "not base64!"}}, "BadRequestException", "base64"),
        ({"name": "p", "typeHint": "TIMESTAMP", "value": {"longValue": 1}}, "BadRequestException", "typeHint"),
        ({"name": "p", "typeHint": "TIMESTAMP", "value": {"stringValue": "2026-12-04T12:00:00Z"}},
         "BadRequestException", "incorrect TIMESTAMP value"),
        ({"name": "p", "typeHint": "DATE", "value": {"stringValue": "2026-13-40"}}, "BadRequestException", "DATE"),
        ({"name": "p", "typeHint": "TIME", "value": {"stringValue": "12:61:00"}}, "BadRequestException", "TIME"),
        ({"name": "p", "typeHint": "DECIMAL", "value": {"stringValue": "1,5"}}, "BadRequestException", "DECIMAL"),
        ({"name": "p", "typeHint": "UUID", "value": {"stringValue": "nope"}}, "BadRequestException", "UUID"),
        ({"value": {"longValue": 1}}, "BadRequestException", "name"),
        ({"name": "p", "typehint": "DATE", "value": {"stringValue": "x"}}, "BadRequestException", "typehint"),
        ({"name": "p", "value": {"textValue": "x"}}, "BadRequestException", "textValue"),
    ],
)  # fmt: skip
def test_a_value_the_api_refuses_is_refused_with_its_code(
    parameter: dict[str, Any], code: str, words: str
) -> None:
    with pytest.raises(ApiError) as refused:
        binding.value(parameter)
    assert refused.value.code == code and words.lower() in refused.value.message.lower()
