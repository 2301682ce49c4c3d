"""Lambda's asynchronous invocation with a fake execution environment and a fake destination queue: the retries,
the on-failure record and an on-failure destination that is down, without a process or a service."""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from pathlib import Path

from local_aws.counters import Counters
from local_aws.lambda_.async_invoke import AsyncInvoker
from local_aws.lambda_.event_store import EventStore
from local_aws.lambda_.function import LocalFunction
from local_aws.lambda_.supervision import WorkerHealth
from local_aws.lambda_.workers import FunctionSpec, InvocationError

ARN = "arn:aws:lambda:us-east-1:123456789012:function:fn"


class FakePool:
    """Answers each event by its body: `"fail"` raises as the handler would, anything else succeeds."""

    def __init__(self) -> None:
        self.ran: list[bytes] = []

    def invoke_each(self, bodies: Sequence[bytes]) -> list[bytes | InvocationError | None]:
        self.ran += bodies
        return [InvocationError("IngestFailed", "down") if b'"fail"' in b else b"null" for b in bodies]


class FakeSqs:
    def __init__(self, down: bool = False) -> None:
        self.sent: list[tuple[str, str]] = []
        self.down = down

    def send_message(self, QueueUrl: str, MessageBody: str) -> dict[str, str]:  # noqa: N803 (boto3's names)
        if self.down:
            raise ConnectionError("the destination is unreachable")
        self.sent.append((QueueUrl, MessageBody))
        return {"MessageId": "1"}


def _invoker(tmp_path: Path, sqs: FakeSqs, retries: int = 1) -> tuple[AsyncInvoker, EventStore, FakePool]:
    store, pool = EventStore(tmp_path / "events.sqlite"), FakePool()
    function = LocalFunction("Fn", FunctionSpec("fn", ARN, "x.handler", 128, 10), retries, "on-failure", 1)
    invoker = AsyncInvoker(store, {"fn": function}, {"fn": pool}, sqs, Counters(), threading.Event())  # type: ignore[dict-item]
    return invoker, store, pool


def _run_all(invoker: AsyncInvoker, store: EventStore, rounds: int) -> None:
    health = WorkerHealth("invoker")
    for _ in range(rounds):
        claimed = store.claim(50, now=float("inf"))  # every event due, retry delays or not
        if claimed:
            invoker.invoke_stored(invoker.functions["fn"], claimed, health)


def test_an_event_is_retried_then_sent_to_the_destination_with_its_text(tmp_path: Path) -> None:
    sqs = FakeSqs()
    invoker, store, pool = _invoker(tmp_path, sqs, retries=1)
    store.put("fn", [json.dumps("ok"), json.dumps("fail")])
    _run_all(invoker, store, rounds=4)
    assert store.depth() == 0
    assert pool.ran.count(b'"fail"') == 2  # the first attempt and one retry
    ((queue, record),) = sqs.sent
    assert queue == "on-failure"
    sent = json.loads(record)
    assert sent["requestPayload"] == "fail" and sent["requestContext"]["approximateInvokeCount"] == 2
    assert sent["responsePayload"] == {"errorMessage": "down", "errorType": "IngestFailed"}
    counts = invoker.counters.snapshot()
    assert (counts["delivered"], counts["retried"], counts["on_failure"]) == (1, 1, 1)


def test_a_destination_that_is_down_keeps_the_event_and_runs_it_no_more(tmp_path: Path) -> None:
    sqs = FakeSqs(down=True)
    invoker, store, pool = _invoker(tmp_path, sqs, retries=0)
    store.put("fn", [json.dumps("fail")])
    _run_all(invoker, store, rounds=3)
    assert store.depth() == 1 and pool.ran == [b'"fail"']  # kept, and never run again
    (kept,) = store.claim(1, now=float("inf"))
    assert kept.error == ("IngestFailed", "down")
    sqs.down = False
    invoker.invoke_stored(invoker.functions["fn"], [kept], WorkerHealth("invoker"))
    assert store.depth() == 0 and len(sqs.sent) == 1 and pool.ran == [b'"fail"']
