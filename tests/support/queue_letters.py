"""A sandbox whose queues hold what an operator looks for: a reading the function rejected (with its reason) and
dead letters of the two shapes AWS puts there (Lambda's on-failure record, IoT's error-action message, as in
tests/events/), beside a reading that was written. For the live view's and the queue listing's tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3

from reach.endpoints import Endpoints
from tests.support.function_env import FunctionEnv, pressure

EVENTS = Path(__file__).resolve().parents[1] / "events"
DEAD_LETTER_SHAPES = ("lambda_destination_record.json", "rule_error_action.json")
TOPIC = "/pressure/data"
REJECTED_DEVICE = "watchbad"


def fill_queues(function: FunctionEnv) -> Endpoints:
    """One written reading, one rejected, two dead letters; the sandbox's endpoints naming the test's queues."""
    now = datetime.now(UTC)
    # A little ahead of now: the session's InfluxDB holds other tests' sensors, and the view shows the most recent.
    ahead = now + timedelta(minutes=2)
    assert function.invoke({**pressure("watchok", ahead), "topic": TOPIC})["written"] == 1
    assert (
        function.invoke({**pressure(REJECTED_DEVICE, now, pressure="high"), "topic": TOPIC})["rejected"] == 1
    )
    sqs = boto3.client("sqs")
    for name in DEAD_LETTER_SHAPES:
        sqs.send_message(QueueUrl=function.dead_letter_url, MessageBody=(EVENTS / name).read_text())
    return function.endpoints.model_copy(
        update={"queues": {"rejected": function.rejected_url, "dead_letter": function.dead_letter_url}}
    )


def waiting(queue_url: str) -> int:
    """Every message of the queue, visible or held: a peek must leave the sum as it was."""
    attributes = boto3.client("sqs").get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(
        attributes["ApproximateNumberOfMessagesNotVisible"]
    )
