"""A refused delivery says why, in its answer and in the function's log: the header missing, or present but not
the callback's secret (the first is a registration without the header, the second a rotated or wrong secret)."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from webhook_to_influxdb import handler

from tests.support.webhook_env import CALLBACK_SECRET, Webhook, event_file


@pytest.fixture
def warnings() -> Iterator[list[str]]:
    """The function's log lines (its logger does not propagate to the root logger, where caplog listens)."""
    lines: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(record.getMessage())

    keep = Keep(level=logging.WARNING)
    function_logger = logging.getLogger(handler.logger.name)  # the standard logger under Powertools' Logger
    function_logger.addHandler(keep)
    try:
        yield lines
    finally:
        function_logger.removeHandler(keep)


@pytest.mark.parametrize(
    ("authorization", "reason", "logged"),
    [
        (None, "missing", "without the callback's authorization header"),
        ("Bearer wrong", "wrong", "whose authorization header does not match the callback's secret"),
        (CALLBACK_SECRET, "wrong", "whose authorization header does not match the callback's secret"),
    ],
)
def test_a_refusal_says_missing_or_wrong(
    webhook: Webhook, warnings: list[str], authorization: str | None, reason: str, logged: str
) -> None:
    status, body = webhook.put(event_file("webhook_delivery.json"), authorization=authorization)
    assert status == 401
    assert body["error"] == f"{reason} authorization header: register the callback again"
    [line] = [line for line in warnings if line.startswith("refused a delivery")]
    assert logged in line
