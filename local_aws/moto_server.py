"""`python -m local_aws.moto_server`: moto's server, with its SQS made fast enough to stand in for SQS.

moto's SQS does O(queue length) work for every message: each SendMessage computes every queue
attribute (three passes over all messages for the approximate counts, which it then ignores), each
received message looks up the retention period through GetQueueAttributes (the same three passes),
each ReceiveMessage first lists every visible message of the queue, and each deleted message is a pass
over the queue. With a few thousand messages queued that is tens of milliseconds a message, so the
local queued path crawled where SQS does not. These patches give the same answers with the work done
once per request, or per message taken: visible messages are found lazily, stopping once the receive
has what it asked for, and a receipt handle finds its message through an index; nothing else of moto
is changed. The tests of the
queued path run through them, against the same checks as before.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

from moto import server
from moto.core import config as moto_config
from moto.moto_server import werkzeug_app
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


class _VisibleMessages:
    """A queue's visible messages, found as they are iterated (ReceiveMessage stops once it has enough)."""

    def __init__(self, queue: Any) -> None:
        self._queue = queue

    def __iter__(self) -> Iterator[Any]:
        now = _now_ms()
        for message in self._queue._messages:
            if now > message.visible_at and now >= message.delayed_until:
                yield message

    def __bool__(self) -> bool:
        return any(True for _ in self)

    def __len__(self) -> int:
        return sum(1 for _ in self)


def _visible_messages(self: Any) -> _VisibleMessages:
    return _VisibleMessages(self)


# Every receipt handle moto gave out, to the message it names: a delete finds its message at once.
_by_handle: dict[str, Any] = {}


def _mark_received(original: Any) -> Any:
    def mark_received(self: Any, visibility_timeout: int | None = None) -> None:
        original(self, visibility_timeout)
        _by_handle[self.receipt_handle] = self

    return mark_received


def _delete_message_batch(
    self: Any, queue_name: str, receipts: list[dict[str, Any]]
) -> tuple[list[str], list[dict[str, Any]]]:
    """Each message found by its receipt handle, and taken out of the queue in place (under the lock that
    SendMessage appends under, so a message sent meanwhile is never dropped)."""
    queue = self.get_queue(queue_name)
    success, errors = [], []
    for receipt in receipts:
        handle = receipt["ReceiptHandle"]
        message = _by_handle.get(handle)
        removed = False
        if message is not None and handle not in queue.deleted_messages:
            with queue._messages_lock:
                try:
                    queue._messages.remove(message)
                    removed = True
                except ValueError:  # not in this queue (another's, or moved to its dead letters)
                    pass
        if removed and message is not None:
            queue.pending_messages.discard(message)
            handles = message.all_receipt_handles
            queue.deleted_messages.update(handles)
            for old in handles:
                _by_handle.pop(old, None)
        if removed or handle in queue.deleted_messages:  # deleting again is not an error, as on SQS
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


def _route_sqs_once(original: Any) -> Any:
    """moto's server works out, under one lock, which service each request is for: the same answer for
    every SQS request (the service is in its signature's credential scope), so it is worked out once."""
    apps: dict[str, Any] = {}

    def get_application(self: Any, environ: dict[str, Any]) -> Any:
        if "/sqs/aws4_request" not in environ.get("HTTP_AUTHORIZATION", ""):
            return original(self, environ)
        app = apps.get("sqs")
        if app is None:
            app = apps["sqs"] = original(self, environ)
        return app

    return get_application


def patch() -> None:
    # IoT Core's certificate id (what principal() returns) is the SHA-256 of the certificate's DER, as the local
    # endpoint computes it; moto hashes the PEM text unless told otherwise.
    moto_config.default_user_config["iot"]["use_valid_cert"] = True
    # One log line per request on stderr cost a sixth of the server's time; errors are still logged.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    dispatcher = werkzeug_app.DomainDispatcherApplication
    dispatcher.get_application = _route_sqs_once(dispatcher.get_application)  # type: ignore[method-assign]
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
    models.Queue.messages = property(_visible_messages)  # type: ignore[assignment,method-assign]
    models.Message.mark_received = _mark_received(models.Message.mark_received)  # type: ignore[method-assign]


if __name__ == "__main__":
    patch()
    server.main()
