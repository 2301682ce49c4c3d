"""The sensor id is the connection's client id (the thing), not what the payload says."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from ingest_to_influxdb.errors import InvalidReading
from ingest_to_influxdb.events import record_from_dead_letter
from ingest_to_influxdb.identity import CONNECTION_FIELD, PRINCIPAL_FIELD
from ingest_to_influxdb.rejections import Rejection, message_body
from ingest_to_influxdb.validation import validate

from tests.support.catalog_kinds import PRESSURE

NOW_MS = 1_795_341_600_000
WHEN = "2026-11-22T10:00:00.123Z"
READING = {
    "pressure": 812,
    "viscosity": 55,
    "deviceid": "Xk3a9Qz",
    "clientid": "9b2c",
    "sensordatetime": WHEN,
}


def sensor(document: dict[str, Any]) -> str:
    return validate(document, PRESSURE, NOW_MS).sensor_id


def test_the_connection_is_the_sensor_whatever_the_payload_names() -> None:
    assert sensor({**READING, CONNECTION_FIELD: "pressure-0001"}) == "pressure-0001"
    # With a connection, the payload need not name a device at all.
    assert (
        sensor({"pressure": 1, "viscosity": 2, "sensordatetime": WHEN, CONNECTION_FIELD: "pressure-0001"})
        == "pressure-0001"
    )


def test_without_a_broker_behind_it_the_payload_identity_is_used() -> None:
    assert sensor(READING) == "Xk3a9Qz-9b2c"
    assert sensor({**READING, CONNECTION_FIELD: None}) == "Xk3a9Qz-9b2c"


@pytest.mark.parametrize(
    ("value", "code"),
    [("n/a", "no_identity"), (7, "bad_identifier"), ("", "bad_identifier"), ("a\nb", "bad_identifier")],
)
def test_a_connection_that_vouches_for_no_thing_is_rejected_with_its_reason(value: object, code: str) -> None:
    with pytest.raises(InvalidReading) as raised:
        sensor({**READING, CONNECTION_FIELD: value})
    assert raised.value.code == code


def test_a_replayed_error_action_takes_the_client_id_from_iot_not_from_the_payload() -> None:
    payload = {**READING, CONNECTION_FIELD: "forged"}
    message: dict[str, Any] = {
        "topic": "/pressure/data",
        "clientId": "pressure-0003",
        "base64OriginalPayload": base64.b64encode(json.dumps(payload).encode()).decode(),
    }
    record = record_from_dead_letter("1", json.dumps(message))
    assert isinstance(record.payload, dict) and record.payload[CONNECTION_FIELD] == "pressure-0003"
    message["clientId"] = (
        None  # the local broker said nothing: no connection identity, and not the forged one
    )
    record = record_from_dead_letter("2", json.dumps(message))
    assert isinstance(record.payload, dict) and record.payload[CONNECTION_FIELD] is None


def test_a_vouched_reading_takes_its_thing_s_metadata_not_the_payload_s_metakey() -> None:
    from ingest_to_influxdb.validation import validate_fully

    claimed = {**READING, "metakey": "123456790", CONNECTION_FIELD: "pressure-0001"}
    for check in (validate, validate_fully):  # the common case and the full checks agree
        assert check(claimed, PRESSURE, NOW_MS).metakey == "pressure-0001"
        # Not even a malformed metakey is looked at: it is not the reading's to choose.
        assert check({**claimed, "metakey": ["x"]}, PRESSURE, NOW_MS).metakey == "pressure-0001"
        # No broker stood behind it (a replay of an old reading, the local sandbox): the payload's, as before.
        assert check({**READING, "metakey": "123456790"}, PRESSURE, NOW_MS).metakey == "123456790"


def test_a_webhook_endpoint_never_has_a_thing_s_sensor_id() -> None:
    from ingest_to_influxdb.identity import endpoint_identity

    named_like_a_thing = {"pressure": 1, "viscosity": 2, "sensordatetime": WHEN, "endpoint": "pressure-0001"}
    assert sensor(named_like_a_thing) == "lwm2m/pressure-0001" == endpoint_identity("pressure-0001")
    # AWS IoT thing names are [a-zA-Z0-9:_-]+: none holds the namespace's "/".
    assert "/" in endpoint_identity("x")


def test_the_principal_is_kept_with_a_rejected_reading_for_audit_and_never_written() -> None:
    certificate_id = "ab" * 32
    written = validate(
        {**READING, CONNECTION_FIELD: "pressure-0001", PRINCIPAL_FIELD: certificate_id}, PRESSURE, NOW_MS
    )
    assert PRINCIPAL_FIELD not in written.tags and PRINCIPAL_FIELD not in written.fields
    assert certificate_id not in written.tags.values() and certificate_id != written.sensor_id
    rejected = {**READING, CONNECTION_FIELD: "n/a", PRINCIPAL_FIELD: certificate_id}
    with pytest.raises(InvalidReading) as raised:
        validate(rejected, PRESSURE, NOW_MS)
    body = json.loads(
        message_body(Rejection(raised.value.code, str(raised.value), "pressure", "/pressure/data", rejected))
    )
    assert body["reading"][PRINCIPAL_FIELD] == certificate_id
