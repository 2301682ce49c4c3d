"""Lambda's SQS event-source mapping on the on-disk queue, with a fake execution environment and a fake moto: a
partial batch response, a whole batch that fails, and the redrive to the dead letters, with no process started."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

from local_aws.counters import Counters
from local_aws.lambda_.function import LocalFunction
from local_aws.lambda_.sqs_mapping import QueueMapping, QueuePoller
from local_aws.lambda_.workers import FunctionSpec, InvocationError
from local_aws.sqs.queues import LocalQueues, QueuePolicy
from tests.support.clock import Clock

URL, DEAD = "http://local/queue/ingest", "http://local/queue/dead"
ARN = "arn:aws:sqs:us-east-1:123456789012:ingest"


class FakePool:
    """Fails the records whose body says "bad" (a partial batch response), or the whole batch when asked."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.crash = False

    def invoke(self, event: dict[str, Any]) -> dict[str, Any]:
        self.events.append(event)
        if self.crash:
            raise InvocationError("Runtime.ExitError", "the container exited")
        bad = [r["messageId"] for r in event["Records"] if json.loads(r["body"]) == "bad"]
        return {"batchItemFailures": [{"itemIdentifier": i} for i in bad]}


class FakeSqs:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    def send_message(self, QueueUrl: str, MessageBody: str) -> dict[str, str]:  # noqa: N803 (boto3's names)
        self.sent.append((QueueUrl, MessageBody))
        return {"MessageId": "1"}


def _poller(
    tmp_path: Path, max_receives: int = 2, clock: Clock | None = None
) -> tuple[QueuePoller, LocalQueues, FakePool, FakeSqs]:
    queues = LocalQueues(tmp_path / "queues.sqlite", clock or Clock())
    queues.declare(QueuePolicy(URL, ARN, 30, max_receives, DEAD))
    function = LocalFunction("Fn", FunctionSpec("fn", "arn:fn", "x.handler", 128, 10), 0, None, 1)
    mapping = QueueMapping(URL, ARN, function, batch_size=10, window_seconds=0.0, report_failures=True)
    pool, sqs = FakePool(), FakeSqs()
    poller = QueuePoller(mapping, queues, pool, sqs, "us-east-1", Counters(), threading.Event())  # type: ignore[arg-type]
    return poller, queues, pool, sqs


def test_only_the_failed_records_come_back_and_each_record_has_the_queues_arn(tmp_path: Path) -> None:
    poller, queues, pool, _ = _poller(tmp_path)
    queues.send(URL, [json.dumps("ok"), json.dumps("bad"), json.dumps("ok")])
    poller.deliver_batch(poller.gather_batch())
    (event,) = pool.events
    assert [r["eventSourceARN"] for r in event["Records"]] == [ARN] * 3
    assert queues.depth(URL) == 1  # the bad one, visible again in a second
    assert poller.counters.snapshot()["delivered"] == 2 and poller.counters.snapshot()["retried"] == 1


def test_a_failed_batch_comes_back_whole_and_then_goes_to_the_dead_letters(tmp_path: Path) -> None:
    clock = Clock()
    poller, queues, pool, sqs = _poller(tmp_path, max_receives=1, clock=clock)
    queues.send(URL, [json.dumps("ok"), json.dumps("ok")])
    pool.crash = True
    poller.deliver_batch(poller.gather_batch())
    assert queues.depth(URL) == 2 and sqs.sent == []
    clock.now += 2  # past the redelivery delay
    assert poller.gather_batch() == []  # received once already: moved, not delivered again
    assert [queue for queue, _ in sqs.sent] == [DEAD, DEAD] and queues.depth(URL) == 0
