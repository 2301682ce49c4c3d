"""The rejected-readings queue: SendMessageBatch, within SQS's entry and size limits."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from ingest_to_influxdb.constants import SQS_MAX_BATCH_ENTRIES, SQS_MAX_MESSAGE_BYTES

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

logger = logging.getLogger(__name__)


def _batches(bodies: Sequence[str]) -> Iterator[list[int]]:
    batch: list[int] = []
    size = 0
    for i, body in enumerate(bodies):
        length = len(body.encode())
        if batch and (len(batch) == SQS_MAX_BATCH_ENTRIES or size + length > SQS_MAX_MESSAGE_BYTES):
            yield batch
            batch, size = [], 0
        batch.append(i)
        size += length
    if batch:
        yield batch


class RejectedQueue:
    def __init__(self, client: SQSClient, queue_url: str) -> None:
        self.client, self.queue_url = client, queue_url

    def send(self, bodies: Sequence[str]) -> set[int]:
        """Indices of the messages SQS did not take (after one more try for those it refused)."""
        unsent: set[int] = set()
        for batch in _batches(bodies):
            todo = batch
            for _ in range(2):
                todo = self._send(bodies, todo)
                if not todo:
                    break
            unsent.update(todo)
        return unsent

    def _send(self, bodies: Sequence[str], indices: list[int]) -> list[int]:
        try:
            response = self.client.send_message_batch(
                QueueUrl=self.queue_url,
                Entries=[{"Id": str(i), "MessageBody": bodies[i]} for i in indices],
            )
        except (ClientError, BotoCoreError) as error:
            logger.warning("the rejected-readings queue is unavailable: %s", error)
            return indices
        failed = response.get("Failed", [])
        for entry in failed:
            logger.warning("the rejected-readings queue refused a message: %s", entry.get("Message"))
        return [int(entry["Id"]) for entry in failed]
