"""The pure core: no network, no AWS. What reaches InfluxDB is checked against the real influxd elsewhere."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from ingest_to_influxdb.config import Config
from ingest_to_influxdb.enrichment import metadata_tags, to_line
from ingest_to_influxdb.errors import ConfigError, InvalidReading
from ingest_to_influxdb.events import DIRECT_RECORD_ID, record_from_dead_letter, records_from_event
from ingest_to_influxdb.kinds import RULES, kind_for_topic, parse_table
from ingest_to_influxdb.line_protocol import escape_key, format_point, unrepresentable
from ingest_to_influxdb.rejections import Rejection, message_body
from ingest_to_influxdb.timestamps import to_epoch_ms
from ingest_to_influxdb.validation import decode, kind_of, validate

from catalog import load_catalog
from local_aws.iot.sql import parse_rule
from tests.support.catalog_kinds import PACKED, PRESSURE, SHELF

EVENTS = Path(__file__).parent.parent / "events"
NOW_MS = 1_795_388_884_000  # 2026-11-22T23:08:04Z


def event(name: str) -> Any:
    return json.loads((EVENTS / name).read_text())


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-11-22T10:00:00.123Z", 1_795_341_600_123),
        ("2026-11-22T10:00:00.123+00:00", 1_795_341_600_123),
        ("2026-11-22T11:00:00.123+01:00", 1_795_341_600_123),
        ("2026-11-22T10:00:00.123", 1_795_341_600_123),  # no zone: UTC
        ("2026-11-22T10:00:00.123456Z", 1_795_341_600_123),  # below a millisecond is dropped
        (1_795_341_600, 1_795_341_600_000),  # epoch seconds
        (1_795_341_600.5, 1_795_341_600_500),
        (1_795_341_600_123, 1_795_341_600_123),  # epoch milliseconds
        ("1795341600123", 1_795_341_600_123),
        ("1795341600", 1_795_341_600_000),
    ],
)
def test_device_time_in_every_accepted_form(value: object, expected: int) -> None:
    assert to_epoch_ms(value, NOW_MS) == expected


@pytest.mark.parametrize(
    "value",
    [None, True, "yesterday", "", "2026-13-01T00:00:00Z", 12, -5, 10**20, float("nan"), [1], "9" * 100],
)
def test_times_that_cannot_be_the_reading_time_are_refused(value: object) -> None:
    with pytest.raises(InvalidReading) as raised:
        to_epoch_ms(value, NOW_MS)
    assert "sensordatetime" in raised.value.reason


def test_a_clock_far_in_the_future_is_refused() -> None:
    with pytest.raises(InvalidReading, match="future"):
        to_epoch_ms(NOW_MS + 2 * 24 * 3600 * 1000, NOW_MS)


def reading(**changes: Any) -> dict[str, Any]:
    base = {
        "pressure": 812,
        "viscosity": 55,
        "sensordatetime": "2026-11-22T10:00:00.123Z",
        "deviceid": "dev",
        "clientid": "client",
        "metakey": "123456789",
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def test_a_pressure_reading_becomes_float_fields_and_a_sensor_id() -> None:
    checked = validate(reading(pressure="812.5", extra={"ignored": True}), PRESSURE, NOW_MS)
    assert checked.fields == {"pressureValue": 812.5, "viscosity": 55.0}
    assert checked.sensor_id == "dev-client"
    assert checked.metakey == "123456789"
    assert checked.time_ms == 1_795_341_600_123


@pytest.mark.parametrize(
    ("changes", "code", "words"),
    [
        ({"pressure": None}, "missing_field", "pressure is missing"),
        ({"pressure": "NaN"}, "bad_field", "not a number"),
        ({"pressure": float("inf")}, "bad_field", "not a finite number"),
        ({"pressure": True}, "bad_field", "boolean"),
        ({"pressure": 10**400}, "bad_field", "not a finite number"),
        ({"viscosity": [55]}, "bad_field", "must be a number"),
        ({"deviceid": ""}, "bad_identifier", "deviceid is empty"),
        ({"deviceid": 17}, "bad_identifier", "must be a string"),
        ({"clientid": "x" * 129}, "bad_identifier", "limit is 128"),
        ({"clientid": "line\nbreak"}, "bad_identifier", "control character"),
        ({"deviceid": "ends\\"}, "bad_identifier", "backslash"),
        ({"metakey": ""}, "bad_metakey", "metakey"),
        ({"metakey": {"a": 1}}, "bad_metakey", "metakey"),
    ],
)
def test_each_invalid_pressure_reading_has_a_precise_reason(
    changes: dict[str, Any], code: str, words: str
) -> None:
    with pytest.raises(InvalidReading) as raised:
        validate(reading(**changes), PRESSURE, NOW_MS)
    assert raised.value.code == code
    assert words in raised.value.reason


@pytest.mark.parametrize(
    ("count", "ok"),
    [(0, True), (17, True), ("17", True), (3.0, True), (-1, False), (2.5, False), (True, False)],
)
def test_a_shelf_count_is_a_non_negative_integer(count: object, ok: bool) -> None:
    document = reading(pressure=None, viscosity=None, count=count, product_id="sku-1", topic="/shelf/data")
    if ok:
        assert validate(document, SHELF, NOW_MS).fields == {"count": float(count)}  # type: ignore[arg-type]
    else:
        with pytest.raises(InvalidReading):
            validate(document, SHELF, NOW_MS)


def test_the_topic_the_rule_sets_picks_the_kind() -> None:
    assert kind_of({"topic": "/shelf/data"}) == SHELF
    assert kind_of({}, "/shelf/data") == SHELF  # the envelope's topic, e.g. an IoT error action
    assert kind_for_topic("/nothing/here") is None
    with pytest.raises(InvalidReading, match="no reading kind"):
        kind_of({"topic": "/nothing/here"})
    assert kind_of({}) == PRESSURE  # from a rule of the replaced deployment, on /pressure/data


def test_the_catalog_packed_for_the_function_is_the_catalog() -> None:
    catalog = load_catalog()
    table = parse_table(PACKED)
    for entry in catalog:
        kind = table.named(entry.name)
        assert (kind.topic, kind.measurement, kind.sensor_id) == (
            entry.topic,
            entry.measurement,
            entry.sensor_id,
        )
        assert [(f.name, f.source, f.rule) for f in kind.fields] == [
            (name, f.attribute, RULES[f.type.value]) for name, f in entry.fields.items()
        ]
        assert [(t.name, t.source) for t in kind.tags] == [(n, t.attribute) for n, t in entry.tags.items()]
        assert kind.point_names == entry.point_names


def test_the_stack_s_topics_choose_which_topic_delivers_which_kind() -> None:
    table = parse_table(PACKED, '{"pressure": "/plant1/pressure"}')
    assert table.for_topic("/plant1/pressure") == table.named("pressure")
    assert table.for_topic("/pressure/data") is None  # the default topic no longer delivers pressure
    assert table.for_topic(None) is None
    assert table.for_topic("/shelf/data") == table.named("shelf")  # a kind not named keeps its default
    with pytest.raises(ConfigError, match=r"KIND_TOPICS names kinds that .* does not have: boiler"):
        parse_table(PACKED, '{"boiler": "/b"}')
    with pytest.raises(ConfigError, match="KIND_TOPICS must be a JSON object"):
        parse_table(PACKED, '["/b"]')
    with pytest.raises(ConfigError, match="two reading kinds listen on the same topic"):
        parse_table(PACKED, '{"pressure": "/shelf/data"}')
    with pytest.raises(ConfigError, match="cannot be read"):
        parse_table("{}")


def test_a_payload_cannot_choose_another_kind() -> None:
    """The rule's topic() column replaces a `topic` the payload brings (AWS and the local runner alike)."""
    table = parse_table(PACKED)
    rule = parse_rule("SELECT *, topic() AS topic FROM '/pressure/data'", "pressure")
    forged = rule.apply({"topic": "/shelf/data", "count": 3}, "/pressure/data")
    assert forged is not None and table.for_topic(forged["topic"]) == table.named("pressure")


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        ("not json", "not_json"),
        ("[1, 2]", "not_object"),
        ('"text"', "not_object"),
        ("x" * 200_000, "too_large"),
    ],
)
def test_payloads_that_are_not_a_reading(payload: str, code: str) -> None:
    with pytest.raises(InvalidReading) as raised:
        decode(payload)
    assert raised.value.code == code


def test_line_protocol_escapes_separators_and_keeps_fields_floats() -> None:
    line = format_point("pressure", {"sensorID": "a b,c=d"}, {"pressureValue": 812}, 5)
    assert line == "pressure,sensorID=a\\ b\\,c\\=d pressureValue=812.0 5"
    assert escape_key('quote"s \\ stay') == 'quote"s\\ \\\\ stay'
    assert unrepresentable("fine ünïcødé ✓") is None
    assert unrepresentable("tab\there")
    assert unrepresentable("c1 control \x85")
    assert not unrepresentable("no-break\xa0space")
    assert unrepresentable("trailing\\")
    assert unrepresentable("")


def test_metadata_never_overwrites_the_reading_and_only_scalars_become_tags() -> None:
    checked = validate(reading(), PRESSURE, NOW_MS)
    item = {
        "metakey": "123456789",
        "manufacturer": "Acme Devices Ltd.",
        "rating": Decimal("4.50"),
        "certified": True,
        "pressureValue": "9999",
        "sensorID": "spoofed",
        "time": "now",
        "_measurement": "other",
        "parts": ["a", "b"],
        "nested": {"a": 1},
        "empty": "",
        "long": "x" * 300,
    }
    tags, dropped = metadata_tags(item, PRESSURE)
    assert tags == {"manufacturer": "Acme Devices Ltd.", "rating": "4.5", "certified": "true"}
    assert dropped == {"reserved_name": 4, "not_scalar": 2, "unrepresentable": 1, "too_long": 1}
    line = to_line(checked, tags)
    assert line.startswith(
        "pressure,certified=true,manufacturer=Acme\\ Devices\\ Ltd.,rating=4.5,sensorID=dev-client "
    )
    assert line.endswith(" pressureValue=812.0,viscosity=55.0 1795341600123000000")


def test_both_event_shapes_give_records() -> None:
    records, batch = records_from_event(event("sqs_batch.json"))
    assert batch and [r.id for r in records] == [
        "059f36b4-87a3-44ab-83d2-661975830a7d",
        "2e1424d4-f796-459a-8184-9c92662be6da",
    ]
    direct, batch = records_from_event(event("iot_reading.json"))
    assert not batch and direct[0].id == DIRECT_RECORD_ID and direct[0].payload == event("iot_reading.json")


def test_every_dead_letter_shape_gives_back_the_reading() -> None:
    original = event("iot_reading.json")
    from_destination = record_from_dead_letter("1", json.dumps(event("lambda_destination_record.json")))
    assert from_destination.payload == original
    from_rule_error = record_from_dead_letter("2", json.dumps(event("rule_error_action.json")))
    assert from_rule_error.payload == original  # the rule's topic is put back
    from_redrive = record_from_dead_letter("3", json.dumps(original))
    assert decode(from_redrive.payload) == original
    rejection = message_body(
        Rejection("bad_field", "pressure is NaN", "pressure", "/pressure/data", original)
    )
    assert record_from_dead_letter("4", rejection).payload == original
    assert record_from_dead_letter("5", "garbage").payload == "garbage"


def test_a_rejection_too_large_for_sqs_is_cut_and_says_so() -> None:
    body = json.loads(message_body(Rejection("too_large", "big", "unknown", None, "x" * 400_000)))
    assert body["truncated_from_bytes"] == 400_000 and len(body["reading"]) < 200_000


ENV = {
    "INFLUXDB_URL": "http://influx.demo:8086",
    "INFLUXDB_DATABASE": "telemetry",
    "INFLUXDB_SECRET_ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:demo/influxdb/writer",
    "METADATA_TABLE": "demo-DeviceMetaData",
    "REJECTED_QUEUE_URL": "http://sqs/rejected",
}


def test_configuration_is_read_once_and_names_what_is_wrong() -> None:
    assert Config.from_env({**ENV, "METADATA_CACHE_TTL_SECONDS": "2.5"}).metadata_cache_ttl_seconds == 2.5
    assert Config.from_env(ENV).metadata_cache_ttl_seconds == 300
    for name in ENV:
        with pytest.raises(ConfigError, match=name):
            Config.from_env({k: v for k, v in ENV.items() if k != name})
    with pytest.raises(ConfigError, match="credentials"):
        Config.from_env({**ENV, "INFLUXDB_URL": "http://writer:secret@influx.demo:8086"})
    with pytest.raises(ConfigError, match="METADATA_CACHE_TTL_SECONDS"):
        Config.from_env({**ENV, "METADATA_CACHE_TTL_SECONDS": "soon"})


@pytest.mark.processes
def test_the_package_s_standard_loggers_log_in_powertools_json(tmp_path: Path) -> None:
    """In a fresh interpreter, as a Lambda container starts: a line of the ingestor's logger is Powertools JSON."""
    code = (
        "import logging, ingest_to_influxdb.handler\n"
        "logging.getLogger('ingest_to_influxdb.ingestor').warning('from the ingestor')\n"
    )
    env = {**os.environ, "POWERTOOLS_SERVICE_NAME": "ingest", "AWS_DEFAULT_REGION": "us-east-1"}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False, env=env
    )
    assert result.returncode == 0, result.stderr
    (line,) = [
        json.loads(text)
        for text in (result.stdout + result.stderr).splitlines()
        if "from the ingestor" in text
    ]
    # WARN, not Python's WARNING: the name Lambda's log-level filtering knows (ingest_to_influxdb.log_format)
    assert (line["level"], line["message"], line["service"]) == ("WARN", "from the ingestor", "ingest")
