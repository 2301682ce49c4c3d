"""The compiled checks (msgspec Structs made per kind from the packed catalog) take the usual reading and make
the reading the full checks make; anything else they leave to the full checks (None), which give the reason.

The ~1,100-document comparison is in test_validation_paths.py; here: how the Structs follow the catalog, how the
kind is chosen, and JSON text msgspec and Python's json module might read differently.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime
from typing import Any

import pytest
from ingest_to_influxdb.compiled import CompiledChecks, kind_decoder
from ingest_to_influxdb.config import Config
from ingest_to_influxdb.errors import InvalidReading
from ingest_to_influxdb.events import Record
from ingest_to_influxdb.handler import build_ingestor
from ingest_to_influxdb.kinds import parse_table
from ingest_to_influxdb.validation import decode_fully, kind_of, validate_fully

from tests.support.catalog_kinds import PACKED, TABLE
from tests.support.function_env import FunctionEnv, sample_pressure

NOW_MS = 1_795_388_884_000  # 2026-11-22T23:08:04Z
CHECKS = CompiledChecks(TABLE)
USUAL = {**sample_pressure(), "topic": "/pressure/data", "connection_clientid": None}


def full(payload: object, topic: str | None = None) -> str:
    """What the full checks make of a payload: the reading's repr, or the rejection."""
    try:
        document = decode_fully(payload)
        return repr(validate_fully(document, kind_of(document, topic), NOW_MS))
    except InvalidReading as invalid:
        return f"invalid: {invalid.code}: {invalid.reason}"


def same_or_none(payload: object, topic: str | None = None) -> bool:
    """The compiled checks took the payload (and made what the full checks make), or left it to them."""
    compiled = CHECKS.reading(payload, topic, NOW_MS)
    if compiled is not None:
        assert repr(compiled) == full(payload, topic), payload
    return compiled is not None


def text(**changes: Any) -> str:
    return json.dumps({**USUAL, **changes})


def test_a_struct_is_made_per_kind_from_the_packed_catalog() -> None:
    names = {kind.name for kind in TABLE.kinds}
    assert {"pressure", "shelf", "button"} <= names
    for kind in TABLE.kinds:
        decoder = kind_decoder(kind)
        assert decoder is not None, kind.name
        read = set(decoder.struct.__struct_encode_fields__)  # the payload's attributes the Struct reads
        assert {spec.source for spec in kind.fields} <= read
        assert {spec.source for spec in kind.tags} | set(kind.sensor_id) <= read


def test_the_usual_readings_of_every_kind_are_taken_as_text_and_as_objects() -> None:
    shelf = {**USUAL, "topic": "/shelf/data", "count": 12, "product_id": "sku-tea-100g"}
    button = {"topic": "/button/data", "endpoint": "button-01", "metakey": "button-01", "presses": 3}
    button["sensordatetime"] = NOW_MS - 5_000  # the webhook times a reading in epoch milliseconds
    for reading in (USUAL, shelf, button):
        assert same_or_none(reading) and same_or_none(json.dumps(reading))
        assert same_or_none(json.dumps(reading).encode())
        assert same_or_none(json.dumps(reading, separators=(",", ":")))


def test_a_kind_reading_one_attribute_in_two_roles_takes_the_full_checks() -> None:
    entries = json.loads(PACKED)
    pressure = next(k for k in entries["kinds"] if k["name"] == "pressure")
    clash = {**pressure, "tags": {"model": {"attribute": "pressure"}}}  # a number and a tag at once
    on_topic = {**pressure, "fields": {"where": {"attribute": "topic", "type": "number"}}}
    for kind in (clash, on_topic):
        table = parse_table(json.dumps({"kinds": [kind]}))
        assert kind_decoder(table.kinds[0]) is None
        assert CompiledChecks(table).reading(text(), None, NOW_MS) is None


def test_attributes_that_are_no_python_names_are_read() -> None:
    entries = json.loads(PACKED)
    pressure = next(k for k in entries["kinds"] if k["name"] == "pressure")
    odd = {**pressure, "fields": {"pressureValue": {"attribute": "p-1 (hPa)", "type": "number"}}}
    checks = CompiledChecks(parse_table(json.dumps({"kinds": [odd]})))
    payload = json.dumps({**USUAL, "p-1 (hPa)": 7.5})
    reading = checks.reading(payload, None, NOW_MS)
    assert reading is not None and reading.fields == {"pressureValue": 7.5}


def test_the_kind_is_the_one_the_full_checks_choose() -> None:
    table = parse_table(PACKED, rules_text=json.dumps({"pressure": "demo_ingest_pressure"}))
    checks = CompiledChecks(table)
    shelf = {**USUAL, "count": 3, "product_id": "p1"}
    cases: list[tuple[object, str | None, str | None]] = [
        (text(), None, "pressure"),
        (json.dumps({**shelf, "topic": "/shelf/data"}), None, "shelf"),
        (json.dumps({k: v for k, v in shelf.items() if k != "topic"}), "/shelf/data", "shelf"),
        (json.dumps({**shelf, "topic": "/pressure/data"}), "/shelf/data", "pressure"),  # the reading's wins
        (text(topic=None), "/shelf/data", "pressure"),  # a null topic is no topic: the default kind
        (text(topic="$aws/rules/demo_ingest_pressure/plant/7"), None, "pressure"),  # Basic Ingest
        (text(topic="$aws/rules/demo_ingest_shelf/x"), None, None),  # a rule no kind takes
        (text(topic="/unknown"), None, None),
        (text(topic="/" + "x" * 300), None, None),
        (text(topic=12), None, None),
    ]
    for payload, topic, expected in cases:
        reading = checks.reading(payload, topic, NOW_MS)
        assert (reading and reading.kind.name) == expected, payload


UNUSUAL: list[object] = [
    text(deviceid="dev-1\n"),  # a regular expression's $ would take it
    text(deviceid="dev\\1"),
    text(deviceid="dev\\", clientid="x"),
    text(deviceid="a\\", clientid="b"),
    text(deviceid="ö"),
    text(deviceid="x" * 128),
    text(deviceid="x" * 129),
    text(connection_clientid="thing-7"),
    text(connection_clientid="n/a"),
    text(connection_clientid="thing 7\t"),
    text(connection_clientid="thing-7", deviceid=12, clientid=None),
    text(endpoint="ep-1"),
    text(endpoint="ep-1", connection_clientid="thing-7"),
    text(metakey=123456789),
    text(metakey="ö"),
    text(metakey=""),
    text(sensordatetime=1_795_341_600),
    text(sensordatetime=1_795_341_600_123),
    text(sensordatetime=1_795_341_600.5),
    text(sensordatetime="1795341600"),
    text(sensordatetime="2026-11-22t10:00:00z"),
    text(sensordatetime="2026-11-22T10:00:00.999999999Z"),
    text(sensordatetime=" 2026-11-22T10:00:00Z"),
    text(pressure=True),
    text(pressure="12"),
    text(pressure=10**400),
    text(pressure=2**53 + 1),
    text(pressure=-0.0),
    text(nested={"a": [1, {"b": [2]}]}),
    '{"pressure": 1, "pressure": 2, "viscosity": 3, "sensordatetime": "2026-11-22T10:00:00Z",'
    ' "deviceid": "d", "clientid": "c"}',
    '{"pres\\u0073ure": 1, "viscosity": 3, "sensordatetime": "2026-11-22T10:00:00Z",'
    ' "deviceid": "d", "clientid": "c"}',
    '{"pressure": NaN, "viscosity": 3, "sensordatetime": "2026-11-22T10:00:00Z",'
    ' "deviceid": "d", "clientid": "c"}',
    '{"pressure": 1, "viscosity": 3, "sensordatetime": "2026-11-22T10:00:00Z", "deviceid": "d",'
    ' "clientid": "c", "note": "\\ud800"}',
    "  " + text() + "\n",
    text() + " x",
    '{"a": ' * 40 + "1" + "}" * 40,
    "[" + text() + "]",
    text().encode("utf-16"),
    b"\xef\xbb\xbf" + text().encode(),
    json.dumps({**USUAL, "padding": "x" * (128 * 1024)}),
    bytearray(text().encode()),
]


@pytest.mark.parametrize("payload", UNUSUAL, ids=lambda p: repr(p)[-60:])
def test_unusual_text_is_read_as_the_full_checks_read_it(payload: object) -> None:
    same_or_none(payload)


def one_by_one(payloads: list[Any], topics: list[str | None]) -> list[str]:
    return [repr(CHECKS.reading(p, t, NOW_MS)) for p, t in zip(payloads, topics, strict=True)]


def batched(payloads: list[Any], topics: list[str | None]) -> list[str]:
    return [repr(r) for r in CHECKS.readings(payloads, topics, NOW_MS)]


def test_a_batch_is_read_as_each_of_its_texts_alone() -> None:
    """`readings` decodes a batch's texts in one call: whatever the batch holds, each reading is the one
    `reading` makes of its text alone (and so the full checks' one), in the batch's order."""
    rng = random.Random(7)
    shelf = json.dumps({**USUAL, "topic": "/shelf/data", "count": 3, "product_id": "p1"})
    no_topic = json.dumps({k: v for k, v in USUAL.items() if k != "topic"})
    usual = [text(deviceid=f"d{n}", pressure=500 + n) for n in range(20)] + [shelf, no_topic]
    plain = [text(topic=""), text(topic="/unknown"), text(topic=None)]
    batches: list[list[Any]] = [usual, [*usual, *plain], [text()] * 2]
    for unusual in [*UNUSUAL, *plain]:
        batch: list[Any] = [rng.choice(usual) for _ in range(30)]
        batch.insert(rng.randrange(len(batch)), unusual)
        batches.append(batch)
    for _ in range(20):
        batches.append(rng.sample(usual + UNUSUAL + plain, 25))
    for batch in batches:
        for payloads in (batch, [p.encode() if isinstance(p, str) else p for p in batch]):
            topics = [rng.choice([None, None, "/shelf/data"]) for _ in payloads]
            assert batched(payloads, topics) == one_by_one(payloads, topics)
    taken = CHECKS.readings(usual, [None] * len(usual), NOW_MS)
    assert all(taken) and [r.kind.name for r in taken if r][-2:] == ["shelf", "pressure"]


def test_texts_that_join_into_other_readings_are_each_read_alone() -> None:
    """Texts that are no reading each but make two readings once joined by a comma: the batch must not take
    them as two (the second text's attributes would be the first record's)."""
    first, second = text(deviceid="a"), text(deviceid="b", pressure=7)
    cut = second.index(', "viscosity"')
    cases = [
        [first + ", " + second[:cut], second[cut + 1 :]],  # the second starts with a space
        [first + ", " + second[:cut], second[cut + 2 :]],  # with a quote
        [first[:-1] + "}, " + second[:cut], '"viscosity": 1}'],
        [first, first + ", " + second[:cut], second[cut + 2 :], first],
        [first + "]", "[" + first],
        ['{"note": "', '{", ' + second[1:]],  # the second's "{" inside a string the first began: one object
        [first, '{"note": "', '{", ' + second[1:], first],
    ]
    for payloads in cases:
        topics: list[str | None] = [None] * len(payloads)
        assert batched(payloads, topics) == one_by_one(payloads, topics)
        readings = CHECKS.readings(payloads, topics, NOW_MS)
        assert [r is None for r in readings] == [p != first for p in payloads]


def test_a_batch_with_a_text_msgspec_cannot_take_reads_the_others_as_well() -> None:
    good = [text(deviceid=f"d{n}") for n in range(10)]
    for bad in (text(pressure="high"), text(topic="/unknown"), text(sensordatetime=[1])):
        payloads = [*good[:6], bad, *good[6:]]
        readings = CHECKS.readings(payloads, [None] * len(payloads), NOW_MS)
        assert [r is None for r in readings] == [False] * 6 + [True] + [False] * 4


def test_fields_from_any_json_number_are_the_floats_of_the_full_checks() -> None:
    rng = random.Random(25)
    numbers = [
        "0",
        "-0",
        "-0.0",
        "1e308",
        "2e308",
        "4.9e-324",
        "1e-400",
        str(2**53),
        str(2**53 + 1),
        str(2**64 + 1),
    ]
    for _ in range(2_000):
        digits = "".join(rng.choice("0123456789") for _ in range(rng.randint(1, 25))).lstrip("0") or "0"
        numbers.append(f"{rng.choice(['', '-'])}{digits}.{rng.randint(0, 10**9)}e{rng.randint(-320, 310)}")
        numbers.append(str(rng.randint(-(2**70), 2**70)))
    taken = 0
    for number in numbers:
        payload = text().replace('"pressure": 512', f'"pressure": {number}')
        taken += same_or_none(payload)
        count = json.dumps({**USUAL, "topic": "/shelf/data", "product_id": "p"}).replace(
            '"topic"', f'"count": {number}, "topic"'
        )
        same_or_none(count)
    assert taken > len(numbers) * 0.9


def test_the_function_writes_what_the_compiled_checks_take_and_rejects_the_rest_with_reasons(
    function: FunctionEnv,
) -> None:
    """Against the real adapters (influxd, moto): the batch's usual readings are taken by the compiled checks and
    written; the unusual valid one by the full checks; the invalid ones are rejected with their reasons."""
    when = datetime.now(UTC).isoformat(timespec="milliseconds")
    usual = [text(deviceid=f"compiled{n}", sensordatetime=when) for n in range(5)]
    unusual_valid = text(deviceid="compiled-ö", sensordatetime=when)  # non-ASCII: the full checks take it
    invalid = [text(pressure="high", sensordatetime=when), text(deviceid="dev\n1", sensordatetime=when)]
    records = [Record(f"m{n}", body) for n, body in enumerate([*usual, unusual_valid, *invalid])]
    result = build_ingestor(Config.from_env()).ingest(records)
    assert result.compiled == len(usual)
    assert result.written == {"pressure": len(usual) + 1} and not result.failed
    assert result.rejected == {"bad_field": 1, "bad_identifier": 1}
    reasons = sorted(body["reason"] for body in function.drain(function.rejected_url))
    assert reasons == [
        "deviceid contains a control character (U+000A), which InfluxDB cannot store in a tag",
        "pressure is the text 'high', not a number",
    ]
    rows = function.rows("SELECT * FROM pressure WHERE sensorID =~ /^compiled/")
    assert sorted(row["sensorID"] for row in rows) == sorted(
        [f"compiled{n}-client-1" for n in range(5)] + ["compiled-ö-client-1"]
    )


def test_a_vouched_thing_keys_its_own_metadata_and_an_endpoint_is_namespaced_on_both_paths() -> None:
    vouched = {**USUAL, "connection_clientid": "pressure-0007", "metakey": "someone-elses"}
    button = {
        "topic": "/button/data",
        "endpoint": "pressure-0007",
        "presses": 1,
        "sensordatetime": NOW_MS - 1,
    }
    for reading in (vouched, button):
        assert same_or_none(json.dumps(reading))
    compiled = CHECKS.reading(json.dumps(vouched), None, NOW_MS)
    assert compiled is not None and (compiled.sensor_id, compiled.metakey) == (
        "pressure-0007",
        "pressure-0007",
    )
    pressed = CHECKS.reading(json.dumps(button), None, NOW_MS)
    assert pressed is not None and pressed.sensor_id == "lwm2m/pressure-0007"
