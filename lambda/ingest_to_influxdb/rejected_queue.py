"""Keeps rejected readings, with their reason, in the rejected-readings queue."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

SEND_BATCH_LIMIT = 10
MAX_MESSAGE_BYTES = 256 * 1024


@dataclass(frozen=True)
class RejectedReading:
    reason: str
    code: str
    kind: str | None
    topic: str | None
    reading: Any  # the original object, or the raw text when it was not JSON

    def body(self) -> str:
        document = {
            "reason": self.reason,
            "code": self.code,
            "kind": self.kind,
            "topic": self.topic,
            "reading": self.reading,
            "rejected_at": datetime.now(UTC).isoformat(timespec="milliseconds"),
        }
        text = json.dumps(document, default=str)
        if len(text.encode()) > MAX_MESSAGE_BYTES:  # keep the reason, and as much of the reading as fits
            document["reading"] = json.dumps(self.reading, default=str)[: MAX_MESSAGE_BYTES // 2]
            document["truncated"] = True
            text = json.dumps(document, default=str)
        return text


def send_rejected(client: Any, queue_url: str, rejected: list[RejectedReading]) -> list[int]:
    """Sends every rejection; returns the indexes that could not be sent (the caller must not drop them)."""
    failed: list[int] = []
    for start in range(0, len(rejected), SEND_BATCH_LIMIT):
        chunk = list(enumerate(rejected[start : start + SEND_BATCH_LIMIT], start))
        entries = [{"Id": str(i), "MessageBody": r.body()} for i, r in chunk]
        try:
            response = client.send_message_batch(QueueUrl=queue_url, Entries=entries)
            failed.extend(int(f["Id"]) for f in response.get("Failed", []))
        except (ClientError, BotoCoreError):
            failed.extend(i for i, _ in chunk)
    return failed
