"""What the local rule runner hands Lambda and what Lambda's asynchronous invocation hands back, as JSON text.

An event is encoded once, when the rule's action takes it (`async_event`): one that cannot be written as JSON
(it nests deeper than the encoder goes) or is over the asynchronous invocation's payload limit is refused there,
as Lambda's Invoke refuses it, and the rule's error action gets it. Once stored, an event is never decoded by the
runner again: the on-failure record is written around its text (`failure_record`), so no step of the runner walks
a payload's shape. An event source mapping's batch stays within a synchronous invocation's payload limit
(`sized_batches`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

from sandbox.aws_limits import LAMBDA_ASYNC_MAX_PAYLOAD_BYTES, LAMBDA_SYNC_MAX_PAYLOAD_BYTES


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
