"""What the local rule runner hands Lambda and what Lambda's asynchronous invocation hands back, as JSON text.

An event is encoded once, when the rule's action takes it (`async_event`): one that cannot be written as JSON
(it nests deeper than the encoder goes) or is over the asynchronous invocation's payload limit is refused there,
as Lambda's Invoke refuses it, and the rule's error action gets it. Once stored, an event is never decoded by the
runner again: the on-failure record is written around its text (`failure_record`), so no step of the runner walks
a payload's shape. An event source mapping's batch stays within a synchronous invocation's payload limit
(`sized_batches`).
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

from local_aws.kinesis.streams import StreamRecord
from local_aws.limits import LAMBDA_ASYNC_MAX_PAYLOAD_BYTES, LAMBDA_SYNC_MAX_PAYLOAD_BYTES
from local_aws.sqs.queues import QueueMessage

EXAMPLE_QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:demo-ingest-queue"


class EventRefused(ValueError):
    """Lambda's Invoke would refuse this event; the message says why, for the rule's error action."""


def async_event(message: Any) -> str:
    """The message as the JSON text of an asynchronous invocation, or EventRefused saying why it cannot be."""
    try:
        body = json.dumps(message)  # ASCII: its length is its size in bytes
    except RecursionError:
        raise EventRefused("the event nests too deep to be written as JSON") from None
    except (TypeError, ValueError) as error:
        raise EventRefused(f"the event cannot be written as JSON: {error}") from None
    if len(body) > LAMBDA_ASYNC_MAX_PAYLOAD_BYTES:
        raise EventRefused(
            f"the event is {len(body)} bytes; an asynchronous invocation takes at most "
            f"{LAMBDA_ASYNC_MAX_PAYLOAD_BYTES}"
        )
    return body


def failure_record(
    function_arn: str, body: str, error: tuple[str, str], attempts: int, max_bytes: int
) -> str:
    """The on-failure destination's record of an event that failed every attempt, in the shape Lambda sends,
    with the event's own text as `requestPayload`. A record over the destination's `max_bytes` goes without its
    payload, as Lambda sends it ("Lambda will drop the payload when sending OnFailure event")."""
    error_type, message = error
    record = {
        "version": "1.0",
        "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "requestContext": {
            "requestId": str(uuid4()),
            "functionArn": f"{function_arn}:$LATEST",
            "condition": "RetriesExhausted",
            "approximateInvokeCount": attempts,
        },
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "responsePayload": {"errorMessage": message, "errorType": error_type},
    }
    text = json.dumps(record)
    if len(text.encode()) + len(body.encode()) + len(', "requestPayload": ') > max_bytes:
        return text
    return f'{text[:-1]}, "requestPayload": {body}}}'


def sqs_event(messages: Sequence[QueueMessage], queue_arn: str, region: str) -> dict[str, Any]:
    """An SQS event-source mapping's event, in the shape Lambda documents ("Example Amazon SQS message event")."""
    return {
        "Records": [
            {
                "messageId": m.message_id,
                "receiptHandle": m.receipt_handle,
                "body": m.body,
                "attributes": m.attributes,
                "messageAttributes": {},
                "md5OfBody": hashlib.md5(m.body.encode(), usedforsecurity=False).hexdigest(),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": region,
            }
            for m in messages
        ]
    }


def sqs_batch_event(
    bodies: Sequence[str], queue_arn: str = EXAMPLE_QUEUE_ARN, region: str = "us-east-1"
) -> dict[str, Any]:
    """The event of a batch of newly sent messages with these bodies, as the event-source mapping makes it."""
    now = int(time.time() * 1000)
    # Each as first received, the moment it was sent, with a handle no queue would give.
    messages = [_first_received(str(uuid4()), body, now) for body in bodies]
    return sqs_event(messages, queue_arn, region)


def _first_received(message_id: str, body: str, now_ms: int) -> QueueMessage:
    return QueueMessage(message_id, f"local-{message_id}", body, now_ms, 1, now_ms)


def sized_batches(records: Sequence[dict[str, Any]], envelope: int = 64) -> list[list[dict[str, Any]]]:
    """An event source mapping's records in batches whose event (`{"Records": [...]}`) is within a synchronous
    invocation's payload limit. A record's body is at most an SQS message, so every record fits in a batch."""
    bound = envelope + sum(_longest(record) for record in records)
    if bound <= LAMBDA_SYNC_MAX_PAYLOAD_BYTES:  # the usual batch: no record is measured
        return [list(records)] if records else []
    batches: list[list[dict[str, Any]]] = [[]]
    size = envelope
    for record in records:
        length = len(json.dumps(record)) + 2  # ", " between records
        if batches[-1] and size + length > LAMBDA_SYNC_MAX_PAYLOAD_BYTES:
            batches.append([])
            size = envelope
        batches[-1].append(record)
        size += length
    return batches


def _longest(record: dict[str, Any]) -> int:
    """A bound on a record's JSON length: its strings with every character escaped at its longest (\\uXXXX),
    and room for its names and the queue's few short attributes."""
    return 2048 + sum(6 * len(value) for value in record.values() if isinstance(value, str))


def kinesis_event(
    records: Sequence[StreamRecord], stream_arn: str, region: str, role_arn: str
) -> dict[str, Any]:
    """A Kinesis event-source mapping's event, in the shape Lambda documents ("Example Kinesis record event"):
    the data base64-encoded, the arrival in seconds, the event id the shard and sequence number."""
    return {
        "Records": [
            {
                "kinesis": {
                    "kinesisSchemaVersion": "1.0",
                    "partitionKey": r.partition_key,
                    "sequenceNumber": r.sequence_number,
                    "data": base64.b64encode(r.data).decode(),
                    "approximateArrivalTimestamp": r.arrival_ms / 1000,
                },
                "eventSource": "aws:kinesis",
                "eventVersion": "1.0",
                "eventID": f"{r.shard_id}:{r.sequence_number}",
                "eventName": "aws:kinesis:record",
                "invokeIdentityArn": role_arn,
                "awsRegion": region,
                "eventSourceARN": stream_arn,
            }
            for r in records
        ]
    }


def stream_failure_record(
    function_arn: str,
    stream_arn: str,
    event: dict[str, Any],
    condition: str,
    attempts: int,
    error: tuple[str, str] | None,
) -> str:
    """What a Kinesis event-source mapping sends an Amazon S3 on-failure destination about a discarded batch: the
    metadata (`KinesisBatchInfo`, as for SQS and SNS destinations) and, for S3 alone, the invocation's payload
    itself ("For Amazon S3 destinations, Lambda also sends the entire invocation record along with the
    metadata": https://docs.aws.amazon.com/lambda/latest/dg/kinesis-on-failure-destination.html)."""
    records = event["Records"]
    first, last = records[0], records[-1]
    record: dict[str, Any] = {
        "requestContext": {
            "requestId": str(uuid4()),
            "functionArn": function_arn,
            "condition": condition,  # RetryAttemptsExhausted or RecordAgeExceeded
            "approximateInvokeCount": attempts,
        },
        "responseContext": {
            "statusCode": 200,
            "executedVersion": "$LATEST",
            "functionError": "Unhandled" if error else "",
        },
        "version": "1.0",
        "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "KinesisBatchInfo": {
            "shardId": str(first["eventID"]).split(":", 1)[0],
            "startSequenceNumber": first["kinesis"]["sequenceNumber"],
            "endSequenceNumber": last["kinesis"]["sequenceNumber"],
            "approximateArrivalOfFirstRecord": _iso(first["kinesis"]["approximateArrivalTimestamp"]),
            "approximateArrivalOfLastRecord": _iso(last["kinesis"]["approximateArrivalTimestamp"]),
            "batchSize": len(records),
            "streamArn": stream_arn,
        },
        "payload": json.dumps(event),
    }
    return json.dumps(record)


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


EXAMPLE_STREAM_ARN = "arn:aws:kinesis:us-east-1:123456789012:stream/demo-ingest"
EXAMPLE_ROLE_ARN = "arn:aws:iam::123456789012:role/demo-ingest"


def kinesis_batch_event(
    bodies: Sequence[str | bytes], stream_arn: str = EXAMPLE_STREAM_ARN, region: str = "us-east-1"
) -> dict[str, Any]:
    """The event of a batch of newly put records with these data, as the stream's event-source mapping makes it."""
    now = int(time.time() * 1000)
    # As just put on shard 0, in this order.
    records = [
        StreamRecord(i + 1, 0, f"device-{i}", body.encode() if isinstance(body, str) else body, now)
        for i, body in enumerate(bodies)
    ]
    return kinesis_event(records, stream_arn, region, EXAMPLE_ROLE_ARN)
