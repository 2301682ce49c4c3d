"""`python -m sandbox.moto_server`: moto's server, with its SQS made fast enough to stand in for SQS.

moto's SQS does O(queue length) work for every message: each SendMessage computes every queue
attribute (three passes over all messages for the approximate counts, which it then ignores), each
received message looks up the retention period through GetQueueAttributes (the same three passes),
and each deleted message is a pass over the queue. With a few thousand messages queued that is tens of
milliseconds a message, so the local queued path crawled where SQS does not. These patches give the
same answers with the work done once per request; nothing else of moto is changed. The tests of the
queued path run through them, against the same checks as before.
"""

from __future__ import annotations

import functools
import threading
import time
from typing import Any

from moto import server
from moto.sqs import models

_sending = threading.local()  # set while a standard queue's SendMessage runs: no counts are read then


def _now_ms() -> float:
    return time.time() * 1000.0  # what moto's unix_time_millis() computes through datetimes


def _visible(self: Any) -> bool:
    return bool(_now_ms() > self.visible_at)


def _delayed(self: Any) -> bool:
    return bool(_now_ms() < self.delayed_until)


def _counted(original: property) -> property:
    def get(self: Any) -> int:
        return 0 if getattr(_sending, "active", False) else int(original.fget(self))  # type: ignore[misc]

    return property(get)


def _send_message(original: Any) -> Any:
    def send_message(self: Any, queue_name: str, *args: Any, **kwargs: Any) -> Any:
        if self.get_queue(queue_name).fifo_queue:
            return original(self, queue_name, *args, **kwargs)
        _sending.active = True
        try:
            return original(self, queue_name, *args, **kwargs)
        finally:
            _sending.active = False

    return send_message


def _retained(self: Any, queue_name: str, message: Any) -> bool:
    retention = int(self.get_queue(queue_name).message_retention_period)
    return bool(retention + message.sent_timestamp / 1000 > time.time())


def _delete_message_batch(
    self: Any, queue_name: str, receipts: list[dict[str, Any]]
) -> tuple[list[str], list[dict[str, Any]]]:
    """One pass over the queue for the whole batch instead of two per message."""
    queue = self.get_queue(queue_name)
    wanted = {r["ReceiptHandle"] for r in receipts}
    found = wanted & queue.deleted_messages  # deleting again is not an error, as on SQS
    kept = []
    for message in queue._messages:
        handles = message.all_receipt_handles
        hits = wanted.intersection(handles)
        if hits:
            found |= hits
            queue.pending_messages.discard(message)
            queue.deleted_messages.update(handles)
        else:
            kept.append(message)
    queue._messages = kept
    success, errors = [], []
    for receipt in receipts:
        if receipt["ReceiptHandle"] in found:
            success.append(receipt["Id"])
        else:
            errors.append(
                {
                    "Id": receipt["Id"],
                    "SenderFault": True,
                    "Code": "ReceiptHandleIsInvalid",
                    "Message": f'The input receipt handle "{receipt["ReceiptHandle"]}" is not a valid receipt handle.',
                }
            )
    return success, errors


def patch() -> None:
    # A pure function that moto calls for every attribute of every queue on every request.
    models.camelcase_to_underscores = functools.lru_cache(maxsize=4096)(models.camelcase_to_underscores)  # type: ignore[attr-defined]
    models.Message.visible = property(_visible)  # type: ignore[assignment,method-assign]
    models.Message.delayed = property(_delayed)  # type: ignore[assignment,method-assign]
    for name in (
        "approximate_number_of_messages",
        "approximate_number_of_messages_not_visible",
        "approximate_number_of_messages_delayed",
    ):
        setattr(models.Queue, name, _counted(getattr(models.Queue, name)))
    backend = models.SQSBackend
    backend.send_message = _send_message(backend.send_message)  # type: ignore[method-assign]
    backend.is_message_valid_based_on_retention_period = _retained  # type: ignore[method-assign]
    backend.delete_message_batch = _delete_message_batch  # type: ignore[method-assign]


if __name__ == "__main__":
    patch()
    server.main()
