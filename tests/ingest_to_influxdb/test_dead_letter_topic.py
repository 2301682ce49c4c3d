"""On replay a reading's kind comes from the topic the rule received it on, never from its payload."""

from __future__ import annotations

import base64
import json

from ingest_to_influxdb.events import record_from_dead_letter
from ingest_to_influxdb.identity import CONNECTION_FIELD


def test_an_error_action_payload_cannot_claim_another_topic() -> None:
    payload = {"deviceid": "d", "clientid": "c", "count": 1, "product_id": "p", "topic": "/shelf/data"}
    body = {
        "ruleName": "demo_ingest_pressure",
        "topic": "/pressure/data",
        "base64OriginalPayload": base64.b64encode(json.dumps(payload).encode()).decode(),
        "failures": [],
    }
    record = record_from_dead_letter("m1", json.dumps(body))
    assert isinstance(record.payload, dict) and record.payload["topic"] == "/pressure/data"


def test_a_dead_letter_too_deep_or_not_utf8_reaches_the_checks_instead_of_crashing() -> None:
    def error_action(original: bytes) -> str:
        return json.dumps(
            {"topic": "/pressure/data", "base64OriginalPayload": base64.b64encode(original).decode()}
        )

    assert record_from_dead_letter("m", error_action(b"[" * 5000)).payload == b"[" * 5000
    # Python reads the bytes of a lone surrogate as one (json.loads is lenient): the checks reject it.
    record = record_from_dead_letter("m", error_action(b'{"deviceid": "\xed\xa0\x80"}'))
    assert record.payload == {"deviceid": "\ud800", "topic": "/pressure/data", CONNECTION_FIELD: None}
    deep = '{"requestContext": {}, "requestPayload": ' + "[" * 5000 + "]" * 5000 + "}"
    assert record_from_dead_letter("m", deep).payload == deep
