"""The rejected readings and the dead letters as a person reads them: peeked, never consumed.

Each message is described by its shape (a rejected-readings record, Lambda's on-failure destination record, an IoT
rule's error-action message, or a reading moved by the ingest queue's redrive policy), with its reason and its age
from SQS's `SentTimestamp`. Nothing is deleted: a peek receives with a visibility timeout and puts every message it
received back at once (`ChangeMessageVisibility` to 0), so replay and the next peek see them all again.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ingest_to_influxdb.dead_letters import READING, missing_sinks

RECEIVE_MAX = 10  # SQS's most messages per ReceiveMessage
# Long enough to page through a listing without receiving a message twice; every message is released at the end
# (ChangeMessageVisibility to 0, the documented minimum: visible again at once, SQS API Reference), so a replay
# started meanwhile waits for one at most this long, and only if the peek was killed before releasing it.
PEEK_HOLD_SECONDS = 30
# A listing long-polls: a short poll samples only some of SQS's servers and may miss messages of a small queue
# (SQS Developer Guide, "Amazon SQS short and long polling"); the live view short-polls, once a second.
LIST_WAIT_SECONDS = 1


@dataclass(frozen=True)
class Letter:
    """One message of the rejected or dead-letter queue."""

    message_id: str
    shape: str  # rejected | missing-sinks | lambda-on-failure | iot-error-action | redriven | unreadable
    reason: str
    topic: str
    device: str
    sent: datetime | None  # SQS's SentTimestamp
    sinks: tuple[str, ...] = ()  # missing-sinks: the sinks that do not hold the reading (the others do)
    kind: str = ""  # missing-sinks: the reading's kind

    def age_seconds(self, now: datetime) -> float | None:
        return None if self.sent is None else max(0.0, (now - self.sent).total_seconds())


def _text(value: object) -> str:
    return value if isinstance(value, str) else "" if value is None else str(value)


def _device(reading: object) -> str:
    if isinstance(reading, str | bytes):
        try:
            reading = json.loads(reading)
        except (ValueError, RecursionError):
            return ""
    if not isinstance(reading, dict):
        return ""
    for key in ("connection_clientid", "deviceid", "ep"):
        if isinstance(reading.get(key), str) and reading[key]:
            return str(reading[key])
    return ""


def _sent(attributes: Mapping[str, str]) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(attributes["SentTimestamp"]) / 1000, UTC)
    except (KeyError, ValueError, TypeError):
        return None


def describe(message: Mapping[str, Any]) -> Letter:
    """What a received SQS message holds and why it is there; any body at all gives a Letter, never an error.

    The shapes are those `ingest_to_influxdb.events.record_from_dead_letter` brings back (tests/events/ has one of
    each as AWS sends it)."""
    body = _text(message.get("Body"))
    message_id = _text(message.get("MessageId"))
    sent = _sent(message.get("Attributes") or {})
    try:
        document: Any = json.loads(body)
    except (ValueError, RecursionError):
        document = None
    if not isinstance(document, dict):
        return Letter(message_id, "unreadable", "the message is not a JSON object", "", "", sent)
    if "reading" in document and "reason" in document and "rejected_at" in document:
        reason = _text(document["reason"])
        code = _text(document.get("code"))
        reason = f"{code}: {reason}" if code and not reason.startswith(code) else reason
        return Letter(
            message_id, "rejected", reason, _text(document.get("topic")), _device(document["reading"]), sent
        )
    missing = missing_sinks(document)
    if missing is not None and READING in document:  # some sinks of its kind hold it (dead_letters.py)
        sinks = ", ".join(missing)
        return Letter(
            message_id,
            "missing-sinks",
            f"not in {sinks}: {_text(document.get('reason'))}",
            _text(document.get("topic")),
            _device(document[READING]),
            sent,
            missing,
            _text(document.get("kind")),
        )
    if "requestContext" in document and "requestPayload" in document:
        context = document.get("requestContext") or {}
        response = document.get("responsePayload")
        error = response.get("errorMessage") if isinstance(response, dict) else response
        condition = _text(context.get("condition") if isinstance(context, dict) else "")
        count = context.get("approximateInvokeCount") if isinstance(context, dict) else None
        attempts = f" after {count} attempts" if isinstance(count, int) else ""
        reason = f"{condition}{attempts}: {_text(error)}" if error else f"{condition}{attempts}"
        payload = document["requestPayload"]
        topic = _text(payload.get("topic")) if isinstance(payload, dict) else ""
        return Letter(message_id, "lambda-on-failure", reason, topic, _device(payload), sent)
    if "base64OriginalPayload" in document:
        failures = document.get("failures")
        reasons = [
            f"{_text(f.get('failedAction'))}: {_text(f.get('errorMessage'))}"
            for f in (failures if isinstance(failures, list) else [])
            if isinstance(f, dict)
        ]
        try:
            original: object = base64.b64decode(_text(document["base64OriginalPayload"]), validate=True)
        except (binascii.Error, ValueError):
            original = None
        device = _text(document.get("clientId")) or _device(original)
        return Letter(
            message_id,
            "iot-error-action",
            "; ".join(reasons) or f"rule {_text(document.get('ruleName'))} failed",
            _text(document.get("topic")),
            device,
            sent,
        )
    # A reading the ingest queue's redrive policy moved after its receives ran out.
    return Letter(
        message_id,
        "redriven",
        "moved by the ingest queue's redrive policy: the function failed it on every receive",
        _text(document.get("topic")),
        _device(document),
        sent,
    )


def depth(sqs: Any, queue_url: str) -> int:
    """The messages waiting (visible) in a queue, as SQS approximates them."""
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages"])
    return int(attributes["Attributes"]["ApproximateNumberOfMessages"])


def peek(sqs: Any, queue_url: str, limit: int, wait_seconds: int = 0) -> list[Letter]:
    """Up to `limit` messages of a queue, described, oldest first; none is deleted and all are visible again on
    return. Received with a visibility timeout so that paging never returns a message twice, then released."""
    seen: dict[str, Mapping[str, Any]] = {}
    handles: list[str] = []
    try:
        while len(seen) < limit:
            received = sqs.receive_message(
                QueueUrl=queue_url,
                MaxNumberOfMessages=min(RECEIVE_MAX, limit - len(seen)),
                VisibilityTimeout=PEEK_HOLD_SECONDS,
                WaitTimeSeconds=wait_seconds,
                AttributeNames=["SentTimestamp"],
            ).get("Messages", [])
            if not received:
                break
            handles += [m["ReceiptHandle"] for m in received]
            seen.update({m["MessageId"]: m for m in received})
    finally:
        release(sqs, queue_url, handles)
    letters = [describe(m) for m in seen.values()]
    return sorted(letters, key=lambda letter: letter.sent or datetime.max.replace(tzinfo=UTC))


@dataclass(frozen=True)
class PartialLetters:
    """The dead letters of readings some sinks of their kind hold."""

    letters: int = 0
    missing: Mapping[tuple[str, str], int] = field(default_factory=dict)  # (kind, sink) -> readings it misses


def partial_letters(
    sqs: Any, queue_url: str, since: datetime | None = None, limit: int = 100_000
) -> PartialLetters:
    """Of the dead letters (sent from `since` on), those some sinks hold, and how many readings each (kind, sink)
    misses."""
    letters, missing = 0, Counter[tuple[str, str]]()
    for letter in peek(sqs, queue_url, limit):
        if letter.sinks and (since is None or letter.sent is None or letter.sent >= since):
            letters += 1
            missing.update((letter.kind, sink) for sink in letter.sinks)
    return PartialLetters(letters, dict(missing))


def release(sqs: Any, queue_url: str, handles: list[str]) -> None:
    """Make received messages visible again at once."""
    for start in range(0, len(handles), RECEIVE_MAX):
        chunk = handles[start : start + RECEIVE_MAX]
        sqs.change_message_visibility_batch(
            QueueUrl=queue_url,
            Entries=[{"Id": str(i), "ReceiptHandle": h, "VisibilityTimeout": 0} for i, h in enumerate(chunk)],
        )


def age_text(seconds: float | None) -> str:
    """An age as people say it: 42 s, 7 min, 3 h, 2 d."""
    if seconds is None:
        return "?"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.0f} h"
    return f"{seconds / 86400:.0f} d"
