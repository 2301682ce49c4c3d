"""No single event stops the rule runner: a payload of any depth the intake decodes ends as an event or the
error action, whatever fails for one event is that event's outcome, and an event that failed its attempts,
even by stopping the runner during them, goes to the on-failure destination on the next start instead of
running again. The runner's SQS client is a stand-in that keeps what it is sent (as the destination would)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from local_aws.iot.mqtt_session import BrokerMessage
from local_aws.iot.rules_engine import Rule, RulesEngine
from local_aws.iot.sql import parse_rule
from local_aws.lambda_.event_store import EventStore
from local_aws.lambda_.events import EventRefused, async_event, failure_record, sized_batches
from local_aws.lambda_.function import LocalFunction
from local_aws.lambda_.workers import FunctionSpec
from local_aws.limits import IOT_MAX_TOPIC_BYTES, MQTT_MAX_PACKET_BYTES
from local_aws.rule_runner import RuleRunner
from local_aws.sqs.queues import MAX_MESSAGE_BYTES

ARN = "arn:aws:lambda:us-east-1:123456789012:function:fn"
DEPTHS = (100, 400, 600, 900, 980, 995, 2000)  # up to what json.loads takes (~990 on 3.11), and beyond


def handler(event: Any, context: Any) -> Any:  # the function below: a reading with "die" kills its container
    if isinstance(event, dict) and event.get("die"):
        os._exit(1)
    return {"ok": True}


class FakeSqs:
    """Takes every message, as a queue would; the runner's only AWS call on the direct path."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    def send_message(self, QueueUrl: str, MessageBody: str) -> dict[str, str]:  # noqa: N803 (boto3's names)
        self.sent.append((QueueUrl, MessageBody))
        return {"MessageId": str(len(self.sent))}

    def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, str]]) -> dict[str, Any]:  # noqa: N803
        self.sent.extend((QueueUrl, entry["MessageBody"]) for entry in Entries)
        return {"Successful": [{"Id": entry["Id"]} for entry in Entries], "Failed": []}


def _runner(
    store: EventStore, sql: str = "SELECT *, topic() AS topic FROM 'd'"
) -> tuple[RuleRunner, FakeSqs]:
    function = LocalFunction(
        "Fn", FunctionSpec("fn", ARN, f"{__name__}.handler", 128, 10), 2, "on-failure", reserved_concurrency=1
    )
    rule = Rule("r", parse_rule(sql, "r"), function, None, "errors")
    fake = FakeSqs()  # the stand-in has only the calls made here
    return RuleRunner([rule], [], "us-east-1", store, sqs=fake), fake


def _nested(depth: int) -> bytes:
    return b'{"pressure": 1, "deep": ' + b"[" * depth + b"]" * depth + b"}"


def test_a_payload_of_any_depth_becomes_an_event_or_the_error_action_never_an_exception(
    tmp_path: Path,
) -> None:
    runner, _ = _runner(EventStore(tmp_path / "events.sqlite"))
    batch = [BrokerMessage("d", _nested(depth), lambda: None) for depth in DEPTHS]
    events, outgoing = runner.engine.evaluate(batch)
    assert len(events.get("fn", [])) + len(outgoing) == len(DEPTHS)
    assert all(json.loads(body)["topic"] == "d" for body in events.get("fn", [])[:3])
    assert all(item.queue_url == "errors" for item in outgoing)
    assert {json.loads(item.body)["topic"] for item in outgoing} <= {"d"}
    assert outgoing and len(events["fn"]) >= 4  # 2000 levels is refused; 100 to 900 are events

    # A WHERE that compares a deep value recurses as deep: it fails for that message only, to the error action.
    where, _ = _runner(EventStore(tmp_path / "where.sqlite"), "SELECT * FROM 'd' WHERE deep = deep")
    events, outgoing = where.engine.evaluate(batch)
    assert len(events.get("fn", [])) + len(outgoing) == len(DEPTHS)


def test_lambda_refuses_what_it_cannot_take_and_the_record_carries_the_event_text() -> None:
    with pytest.raises(EventRefused, match="nests too deep"):
        async_event(_deeper(1100))
    with pytest.raises(EventRefused, match="an asynchronous invocation takes at most 1048576"):
        async_event({"padding": "x" * (1024 * 1024)})
    body = json.dumps({"n": [[1]]})
    record = json.loads(failure_record(ARN, body, ("ValueError", "bad"), 3, 256 * 1024))
    assert record["requestPayload"] == {"n": [[1]]} and record["responsePayload"]["errorType"] == "ValueError"
    assert record["requestContext"]["approximateInvokeCount"] == 3
    too_big = json.loads(failure_record(ARN, json.dumps("x" * 300_000), ("E", "m"), 3, 256 * 1024))
    assert "requestPayload" not in too_big  # dropped, as Lambda drops it for a destination's size limit
    records = [{"messageId": str(i), "body": "y" * 200_000} for i in range(40)]
    batches = sized_batches(records)
    assert [r["messageId"] for b in batches for r in b] == [str(i) for i in range(40)] and len(batches) > 1
    assert all(len(json.dumps({"Records": b})) <= 6 * 1024 * 1024 for b in batches)


def _deeper(depth: int) -> dict[str, Any]:
    value: Any = []
    for _ in range(depth):
        value = [value]
    return {"deeper": value}


@pytest.mark.processes
def test_a_runner_restarted_with_a_failing_event_ends_it_and_goes_on(tmp_path: Path) -> None:
    path = tmp_path / "events.sqlite"
    store = EventStore(path)
    store.put("fn", [json.dumps({"die": True, "n": 0})])
    for _ in range(3):  # the runner stops (dies) while it runs the event, three times: each claim counted
        assert [e.event["n"] for e in store.claim(10)] == [0]
        store.close()
        store = EventStore(path)
    store.put("fn", [json.dumps({"n": 1}), json.dumps({"die": True, "n": 2}), json.dumps({"n": 3})])

    runner, sqs = _runner(store)
    runner.start()
    try:
        deadline = time.monotonic() + 60
        while store.depth() and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        runner.stop()
    assert store.depth() == 0 and not runner.supervisor.failed.is_set()
    records = [json.loads(body) for url, body in sqs.sent if url == "on-failure"]
    assert sorted(r["requestPayload"]["n"] for r in records) == [0, 2]
    by_n = {r["requestPayload"]["n"]: r for r in records}
    assert by_n[0]["responsePayload"]["errorMessage"].startswith("the invocation did not end")
    assert by_n[2]["responsePayload"]["errorType"] == "Runtime.ExitError"
    assert by_n[2]["requestContext"]["approximateInvokeCount"] == 3  # retried twice, as Lambda does
    assert runner.counters.snapshot()["delivered"] == 2  # 1 and 3


def test_the_largest_message_the_broker_passes_fits_the_error_actions_queue(tmp_path: Path) -> None:
    """The error action carries the payload in base64: whatever passes the broker's packet limit must fit an SQS
    message, or the error action itself would be refused (and on AWS the message lost)."""
    runner, _ = _runner(EventStore(tmp_path / "events.sqlite"))
    largest = BrokerMessage("d" * IOT_MAX_TOPIC_BYTES, b"{" * MQTT_MAX_PACKET_BYTES, lambda: None, "c" * 128)
    assert len(RulesEngine.error_body(runner.rules[0], largest, "x" * 1000).encode()) <= MAX_MESSAGE_BYTES
