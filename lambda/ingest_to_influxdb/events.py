"""The shapes that reach the function, and the dead-letter shapes that replay brings back, as `Record`s."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any, NamedTuple

from ingest_to_influxdb.dead_letters import MISSING_SINKS, READING, missing_sinks
from ingest_to_influxdb.identity import CONNECTION_FIELD

DIRECT_RECORD_ID = "direct"
KINESIS_SOURCE = "aws:kinesis"
SQS_SOURCE = "aws:sqs"


class Record(NamedTuple):  # a tuple: immutable, and made several times faster than a frozen dataclass
    id: str  # the SQS messageId or Kinesis sequence number (reported back when it fails), or DIRECT_RECORD_ID
    payload: (
        object  # a decoded reading (direct invocation), raw text (an SQS body) or bytes (a Kinesis record)
    )
    topic: str | None = None  # the topic the envelope names, when the reading itself may not
    sinks: tuple[str, ...] | None = (
        None  # only these of its kind's sinks (a dead letter's missing ones); None: all
    )


def _is_batch_of(event: object, source: str) -> bool:
    if not isinstance(event, dict):
        return False
    records = event.get("Records")
    return (
        isinstance(records, list)
        and bool(records)
        and all(isinstance(r, dict) and r.get("eventSource") == source for r in records)
    )


def is_sqs_event(event: object) -> bool:
    return _is_batch_of(event, SQS_SOURCE)


def is_kinesis_event(event: object) -> bool:
    return _is_batch_of(event, KINESIS_SOURCE)


def kinesis_data(record: dict[str, Any]) -> object:
    """A Kinesis record's data: base64 in the event, the reading's bytes once decoded. Data that is not base64
    goes through as it is, to be rejected with its reason (never a failure of the whole batch)."""
    data = record.get("kinesis", {}).get("data", "")
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError, TypeError):
        return data


# A batch's records are made without the NamedTuple's Python-level __new__ (half the time, once per reading).
_new_record = tuple.__new__


def records_from_event(event: object) -> tuple[list[Record], bool]:
    """(records, is_batch): an SQS batch from the queued path, a Kinesis batch from the stream path (each record
    known by its sequence number, which a partial batch response names), or one reading from the IoT rule."""
    if is_sqs_event(event):
        assert isinstance(event, dict)
        return [
            _new_record(Record, (str(r["messageId"]), r.get("body", ""), None, None))
            for r in event["Records"]
        ], True
    if is_kinesis_event(event):
        assert isinstance(event, dict)
        return [Record(str(r["kinesis"]["sequenceNumber"]), kinesis_data(r)) for r in event["Records"]], True
    return [Record(DIRECT_RECORD_ID, event)], False


def records_from_stream_failure(name: str, body: str | bytes) -> list[Record]:
    """The readings of a Kinesis mapping's failure record in its S3 on-failure destination (the metadata and, for
    S3, the invocation's `payload`: the event as the function got it), each known as `<name>#<sequence number>`.
    A record that cannot be read is one raw-text record, to be rejected with its reason."""
    try:
        document: Any = json.loads(body)
        payload = document["payload"]
        event = json.loads(payload) if isinstance(payload, str | bytes) else payload
        records = event["Records"]
        return [
            Record(f"{name}#{r['kinesis']['sequenceNumber']}", kinesis_data(r))
            for r in records
            if isinstance(r, dict)
        ]
    except (ValueError, RecursionError, KeyError, TypeError):
        return [Record(name, body)]


def record_from_dead_letter(message_id: str, body: str) -> Record:
    """A dead-letter or rejected-queue message as the reading it holds.

    Understands: a Lambda on-failure destination record (`requestPayload`), an IoT rule error-action
    message (`base64OriginalPayload`), a reading some sinks missed (`reading` and `missing_sinks`: written to
    those only), a rejected-readings message (`reading`), and a plain reading moved by an SQS redrive policy.
    Anything else goes through as raw text and is rejected with its reason.
    """
    try:
        document: Any = json.loads(body)
    except (ValueError, RecursionError):
        return Record(message_id, body)
    if not isinstance(document, dict):
        return Record(message_id, body)
    if "requestContext" in document and "requestPayload" in document:
        return Record(message_id, document["requestPayload"])
    if "base64OriginalPayload" in document:
        try:
            original = base64.b64decode(document["base64OriginalPayload"], validate=True)
        except (binascii.Error, ValueError, TypeError):
            return Record(message_id, body)
        reading = _with_connection(_with_topic(original, document.get("topic")), document.get("clientId"))
        return Record(message_id, reading, _topic(document))
    if MISSING_SINKS in document and READING in document:
        return Record(
            message_id,
            _with_topic(document[READING], document.get("topic")),
            _topic(document),
            missing_sinks(document),
        )
    if "reading" in document and "reason" in document and "rejected_at" in document:
        return Record(message_id, _with_topic(document["reading"], document.get("topic")), _topic(document))
    return Record(message_id, body)


def _topic(document: dict[str, Any]) -> str | None:
    topic = document.get("topic")
    return topic if isinstance(topic, str) else None


def _with_topic(reading: object, topic: object) -> object:
    """IoT's error action keeps the payload as published, before the rule set `topic`: set it again.

    The topic the rule received the reading on decides its kind, as the rule's `topic() AS topic` does
    on the live path: a `topic` inside the payload never overrides it.
    """
    if isinstance(reading, bytes | str):
        try:
            decoded = json.loads(reading)
        except (ValueError, RecursionError):  # not JSON, not UTF-8, or too deep: rejected with its reason
            return reading
        if not isinstance(decoded, dict):
            return reading
        reading = decoded
    if isinstance(reading, dict) and isinstance(topic, str):
        return {**reading, "topic": topic}
    return reading


def _with_connection(reading: object, client_id: object) -> object:
    """The error action keeps the payload as the device sent it: the connection's client id is the message's
    `clientId` (the broker's word), never a `connection_clientid` the payload itself carries."""
    if not isinstance(reading, dict):
        return reading
    return {**reading, CONNECTION_FIELD: client_id if isinstance(client_id, str) else None}
