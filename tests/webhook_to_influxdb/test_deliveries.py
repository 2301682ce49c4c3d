"""A delivery's notifications as readings for the ingest core: pure, no service."""

from __future__ import annotations

import base64
import json

import pytest
from ingest_to_influxdb.errors import ConfigError, InvalidReading
from webhook_to_influxdb.deliveries import BadDelivery, parse_body, readings_of
from webhook_to_influxdb.mapping import Decode, Resource, decode_value, parse_mapping

from catalog import load_catalog
from catalog.lwm2m import webhook_mapping_json
from tests.support.webhook_env import event_file

NOW = 1_796_119_200_000
MAPPING = parse_mapping(webhook_mapping_json(load_catalog()))


def text(value: str) -> str:
    return base64.b64encode(value.encode()).decode()


def test_notifications_become_one_reading_per_endpoint_and_kind_and_the_rest_is_counted() -> None:
    delivery = readings_of(event_file("webhook_delivery.json"), MAPPING, NOW)
    assert delivery.readings == [
        {"topic": "/button/data", "endpoint": "button-01", "metakey": "button-01", "sensordatetime": NOW, "presses": 12},
        {"topic": "/button/data", "endpoint": "button-02", "metakey": "button-02", "sensordatetime": NOW, "presses": 3},
        {
            "topic": "/shelf/data", "endpoint": "lwm2m-shelf-01", "metakey": "lwm2m-shelf-01", "sensordatetime": NOW,
            "product_id": "sku-tea-100g", "count": 17,
        },
        # button-01 notified again in the same delivery: its own reading, a millisecond later
        {"topic": "/button/data", "endpoint": "button-01", "metakey": "button-01", "sensordatetime": NOW + 1, "presses": 13},
    ]  # fmt: skip
    assert delivery.notifications == 6 and delivery.rejections == []
    assert delivery.unknown_paths == {"/3/0/9": 1}
    assert delivery.other == {
        "registrations": 1, "reg-updates": 1, "de-registrations": 1, "registrations-expired": 1, "async-responses": 1,
    }  # fmt: skip
    assert delivery.metrics == {("ButtonPresses", "button-01"): 2, ("ButtonPresses", "button-02"): 1}


def test_bad_notifications_are_rejected_with_their_reason_and_the_good_ones_kept() -> None:
    delivery = readings_of(event_file("webhook_bad_notifications.json"), MAPPING, NOW)
    reasons = {(r.code, r.kind): r.reason for r in delivery.rejections}
    assert reasons == {
        ("bad_payload", "button"): "/3200/0/5501 of button-01: the payload '%%%not-base64%%%' is not base64",
        ("bad_value", "button"): "/3200/0/5501 of button-02: the value 'twelve' is not an integer",
        ("bad_identifier", "button"): "ep (the endpoint name) must be text of 1 to 128 characters",
    }
    # The notification is kept whole.
    assert delivery.rejections[0].original == event_file("webhook_bad_notifications.json")["notifications"][0]
    # -4 decodes (an integer); the core refuses it as a count. The shelf lacks its product id: the core says so.
    assert [(r["endpoint"], r.get("presses", r.get("count"))) for r in delivery.readings] == [
        ("button-03", -4), ("button-04", 5), ("lwm2m-shelf-02", 4),
    ]  # fmt: skip
    assert delivery.unknown_paths == {"/9999/0/1": 1}


@pytest.mark.parametrize(
    ("payload", "decode", "expected"),
    [
        (text("12"), Decode.INTEGER, 12),
        (text(" 7\n"), Decode.INTEGER, 7),
        (text("21.5"), Decode.FLOAT, 21.5),
        (text("sku-1"), Decode.TEXT, "sku-1"),
    ],
)
def test_values_decode_as_the_mapping_says(payload: str, decode: Decode, expected: object) -> None:
    assert decode_value(payload, decode) == expected


@pytest.mark.parametrize(
    ("payload", "decode", "code", "message"),
    [
        ("not base64!", Decode.INTEGER, "bad_payload", "is not base64"),
        (12, Decode.INTEGER, "bad_payload", "must be base64 text, not int"),
        (base64.b64encode(b"\xff\xfe").decode(), Decode.TEXT, "bad_payload", "not UTF-8 text"),
        (text("1.5"), Decode.INTEGER, "bad_value", "is not an integer"),
        (text("nan"), Decode.FLOAT, "bad_value", "not a finite number"),
        (text("inf"), Decode.FLOAT, "bad_value", "not a finite number"),
        (text(""), Decode.TEXT, "bad_value", "empty text"),
        (text("9" * 300), Decode.INTEGER, "bad_payload", "the limit is 256"),
    ],
)
def test_undecodable_values_say_why(payload: object, decode: Decode, code: str, message: str) -> None:
    with pytest.raises(InvalidReading, match=message) as raised:
        decode_value(payload, decode)
    assert raised.value.code == code


def test_a_body_that_is_no_delivery_is_refused_and_an_empty_one_is_the_services_check() -> None:
    assert parse_body("") == {} and parse_body(b"  ") == {}
    assert readings_of(parse_body("{}"), MAPPING, NOW).readings == []
    for body, code in (("{not json", "not_json"), ("[1, 2]", "not_object")):
        with pytest.raises(BadDelivery) as raised:
            parse_body(body)
        assert raised.value.code == code
    delivery = readings_of({"notifications": {"ep": "x"}}, MAPPING, NOW)
    assert [r.code for r in delivery.rejections] == ["bad_delivery"]


def test_a_wrong_mapping_says_where_it_comes_from() -> None:
    with pytest.raises(ConfigError, match="LWM2M_MAPPING is not the mapping"):
        parse_mapping(json.dumps({"/1/0/1": {"kind": "x"}}))
    assert parse_mapping("{}") == {}
    assert isinstance(MAPPING["/3200/0/5501"], Resource)
