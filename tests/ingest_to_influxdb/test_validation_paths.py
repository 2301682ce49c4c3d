"""The quick paths of the checks give what the full checks give, on usual and unusual input.

`decode` and `validate` try a one-pass check of the common case first and fall back to `decode_fully` and
`validate_fully` for anything else; these tests run both on every document of a table of hostile and boundary
values, alone and combined at random, and require the same reading (same types too) or the same rejection.
The compiled checks (`ingest_to_influxdb.compiled`, msgspec) run first of all, on the same documents as Lambda
hands them over (an object) and as JSON text (an SQS body): whenever they make a reading, it is the one the full
checks make; whenever they do not, the full checks decide.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from typing import Any

import pytest
from ingest_to_influxdb import validation
from ingest_to_influxdb.compiled import CompiledChecks
from ingest_to_influxdb.errors import InvalidReading
from ingest_to_influxdb.health import Outcome, health_lines
from ingest_to_influxdb.kinds import ReadingKind
from ingest_to_influxdb.line_protocol import format_point
from ingest_to_influxdb.validation import decode, decode_fully, validate, validate_fully

from tests.support.catalog_kinds import PRESSURE, SHELF, TABLE
from tests.support.function_env import sample_pressure

NOW_MS = 1_795_388_884_000  # 2026-11-22T23:08:04Z
MISSING = object()

TEXTS = [
    "dev-1",
    "",
    " ",
    "a b",
    "x" * 128,
    "x" * 129,
    "tab\there",
    "line\nbreak",
    "ends\\",
    "back\\slash",
    "ö✓",
    "\ud800",
    "n/a",
    "\x7f",
    "\u00a0",
    "{",
    "[",
]
NUMBERS = [
    0,
    1,
    -1,
    512,
    2**53,
    2**53 + 1,
    -(2**53),
    -(2**53) - 1,
    10**400,
    0.0,
    -0.0,
    1.5,
    -1.5,
    3.0,
    2.0**53,
    2.0**53 + 2,
    float("nan"),
    float("inf"),
    -float("inf"),
    1e308,
    True,
    False,
    "12",
    " 12 ",
    "1.5",
    "1e3",
    "abc",
    "",
]
TIMES = [
    "2026-11-22T10:00:00.123Z",
    "2026-11-22T10:00:00.123+00:00",
    "2026-11-22T11:00:00.123+01:00",
    "2026-11-22T10:00:00.123",
    "2026-11-22T10:00:00.123456Z",
    " 2026-11-22T10:00:00Z",
    "2026-11-22T10:00:00Z ",
    "2026-11-22",
    "20261122",
    "20261122T100000",
    "1999-12-31T23:59:59.999Z",
    "2000-01-01T00:00:00Z",
    "2026-11-24T10:00:00Z",  # more than a day ahead
    "2026-13-01T00:00:00Z",
    "1795341600123",
    "1795341600",
    "1795341600.5",
    1_795_341_600,
    1_795_341_600.5,
    1_795_341_600_123,
    True,
    None,
    "x" * 65,
    "2026-11-22T10:00:00" + " " * 50,
    "yesterday",
]
METAKEYS = ["123456789", 123456789, "", "x" * 256, "x" * 257, "\ud800", "ö", True, 1.5, None]
COMPILED = CompiledChecks(TABLE)


def shelf_reading() -> dict[str, Any]:
    return {
        "count": 12,
        "product_id": "sku-tea-100g",
        "sensordatetime": "2026-11-22T10:00:00.123Z",
        "deviceid": "shelf01",
        "clientid": "client-2",
        "metakey": "shelf-01",
    }


def variants(kind: ReadingKind) -> dict[str, list[object]]:
    """Each attribute the checks read, with the values to try in it (MISSING: the attribute left out)."""
    found: dict[str, list[object]] = {
        "deviceid": [*TEXTS, 12, None, MISSING],
        "clientid": [*TEXTS, 12, None, MISSING],
        "connection_clientid": [*TEXTS, 12, None, MISSING],
        "endpoint": ["ep-1", "", 12, None, MISSING],
        "metakey": [*METAKEYS, MISSING],
        "sensordatetime": [*TIMES, MISSING],
    }
    for spec in kind.fields:
        found[spec.source] = [*NUMBERS, None, MISSING, [1], {"a": 1}]
    for tag in kind.tags:
        found[tag.source] = [*TEXTS, 12, None, MISSING]
    return found


def outcome(check: Any, *args: Any) -> tuple[str, ...]:
    """What a check made: the reading (its repr shows the types too), or the rejection's code and reason."""
    try:
        return ("reading", repr(check(*args)))
    except InvalidReading as invalid:
        return ("invalid", invalid.code, invalid.reason)


def with_value(document: dict[str, Any], attribute: str, value: object) -> dict[str, Any]:
    changed = dict(document)
    if value is MISSING:
        changed.pop(attribute, None)
    else:
        changed[attribute] = value
    return changed


def documents(kind: ReadingKind, base: dict[str, Any]) -> list[dict[str, Any]]:
    """The base reading, each variant alone, and 400 random combinations of them."""
    table = variants(kind)
    found = [base] + [with_value(base, a, v) for a, values in table.items() for v in values]
    randomly = random.Random(14)
    for _ in range(400):
        document = dict(base)
        for attribute in randomly.sample(sorted(table), 3):
            document = with_value(document, attribute, randomly.choice(table[attribute]))
        found.append(document)
    return found


@pytest.mark.parametrize(("kind", "base"), [(PRESSURE, sample_pressure()), (SHELF, shelf_reading())])
def test_the_quick_checks_make_the_reading_the_full_checks_make(
    kind: ReadingKind, base: dict[str, Any]
) -> None:
    seen: Counter[str] = Counter()
    for document in documents(kind, base):
        expected = outcome(validate_fully, document, kind, NOW_MS)
        assert outcome(validate, document, kind, NOW_MS) == expected, document
        seen[expected[0]] += 1
        seen["quick"] += validation._common_case(document, kind, NOW_MS) is not None
        # The compiled checks, on the object and on its JSON text (the kind chosen by the envelope's topic).
        compiled = COMPILED.reading(document, kind.topic, NOW_MS)
        if compiled is not None:
            assert ("reading", repr(compiled)) == expected, document
            seen["compiled"] += 1
        text = json.dumps(document)
        from_text = COMPILED.reading(text, kind.topic, NOW_MS)
        if from_text is not None:
            expected_text = outcome(lambda t: validate_fully(decode_fully(t), kind, NOW_MS), text)
            assert ("reading", repr(from_text)) == expected_text, text
            seen["compiled from text"] += 1
    assert seen["quick"] > 50 and seen["reading"] > seen["quick"] and seen["invalid"] > 50, seen
    # (a lone surrogate in an attribute the reading does not use stops msgspec: then the full checks decide)
    assert seen["compiled"] > 80 and seen["compiled from text"] > 80, seen


@pytest.mark.parametrize("envelope", [None, PRESSURE.topic, SHELF.topic, "/no/such/kind", "x" * 300])
def test_the_compiled_checks_pick_the_kind_the_full_checks_pick(envelope: str | None) -> None:
    """The compiled checks read a text first as the envelope's kind: a reading that names its own topic (another
    kind's, an unknown one, none, or not a text) is still taken as the kind `kind_of` picks, or left to them."""
    seen: Counter[str] = Counter()
    for base in (sample_pressure(), shelf_reading()):
        for topic in (MISSING, None, PRESSURE.topic, SHELF.topic, "/no/such/kind", 12, ""):
            document = with_value(base, "topic", topic)
            for text in (json.dumps(document), json.dumps(document).encode()):
                compiled = COMPILED.reading(text, envelope, NOW_MS)
                expected = outcome(
                    lambda t: validate_fully(
                        decode_fully(t), validation.kind_of(decode_fully(t), envelope), NOW_MS
                    ),
                    text,
                )
                if compiled is not None:
                    assert ("reading", repr(compiled)) == expected, (envelope, text)
                    seen[compiled.kind.name] += 1
                else:
                    seen[expected[0]] += 1
    assert seen[PRESSURE.name] >= 4 and seen[SHELF.name] >= 2, seen  # (one of them by its own topic)


def payloads() -> list[object]:
    usual = sample_pressure()
    texts = [
        json.dumps(usual),
        json.dumps(usual).encode(),
        json.dumps(usual).encode("utf-16"),
        json.dumps({**usual, "deviceid": "ö✓"}),
        json.dumps({**usual, "deviceid": "ö✓"}, ensure_ascii=False),
        json.dumps({**usual, "deviceid": "{ [ }"}),
        json.dumps({**usual, "nested": {"a": [1, 2]}}),
        json.dumps({**usual, "padding": "x" * (128 * 1024)}),
        json.dumps({**usual, "padding": "x" * (128 * 1024 - 200)}),
        "[" * 40 + "]" * 40,
        "{" * 40 + "}" * 40,
        '{"a": 1}',
        "{}",
        "[]",
        "12",
        '"text"',
        "not json",
        "",
        b"\xff\xfe{",
        '{"a": NaN}',
        '{"a": 1} trailing',
        '  {"a": 1}  ',
        '{"a": "\\ud800"}',
        bytearray(b'{"a": 1}'),
    ]
    objects: list[object] = [
        usual,
        {},
        {**usual, "padding": "x" * (128 * 1024)},
        {**usual, "padding": "\U0001f600" * 11_000},
        {**usual, "padding": "x" * 10_000},
        {**usual, "big": 10**30},
        {**usual, "list": [1, 2]},
        {**usual, "set": {1, 2}},
        {1: "integer key"},
        {**usual, "nan": float("nan")},
        [usual],
        "plain",
        12,
        None,
    ]
    return [*texts, *objects]


@pytest.mark.parametrize("payload", payloads(), ids=lambda p: repr(p)[:40])
def test_the_quick_decoding_gives_what_the_full_decoding_gives(payload: object) -> None:
    assert outcome(decode, payload) == outcome(decode_fully, payload)
    compiled = COMPILED.reading(payload, None, NOW_MS)
    if compiled is not None:
        document = decode_fully(payload)
        assert repr(compiled) == repr(validate_fully(document, validation.kind_of(document), NOW_MS))


def test_the_quick_decoding_takes_the_usual_payloads() -> None:
    assert sum(validation._decode_common_case(p) is not None for p in payloads()) >= 10


def test_health_points_are_the_lines_format_point_makes() -> None:
    counts = Counter({Outcome("pressure", "written"): 3, Outcome("shelf", "rejected", "bad_field"): 1})
    counts[Outcome("pressure", "metadata_miss")] = 0
    expected = [
        format_point(
            "ingest_health", {"kind": "pressure", "outcome": "written", "instance": "i 1"}, {"count": 3.0}, 7
        ),
        format_point(
            "ingest_health",
            {"kind": "shelf", "outcome": "rejected", "instance": "i 1", "reason": "bad_field"},
            {"count": 1.0},
            7,
        ),
    ]
    assert health_lines(counts, "i 1", 7) == expected
    zero = format_point(
        "ingest_health",
        {"kind": "pressure", "outcome": "metadata_miss", "instance": "i 1"},
        {"count": 0.0},
        7,
    )
    assert health_lines(counts, "i 1", 7, keep_zero=True) == [zero, *expected]
