"""Lambda's event-source mapping of an SQS queue: pollers that feed the function batches of the queue's messages.

From `AWS::Lambda::EventSourceMapping`: the batch size, the batching window (capped locally so runs stay quick)
and partial batch responses (`ReportBatchItemFailures`). A poller receives up to a batch, invokes the function
with the records in SQS's event shape (`local_aws.lambda_.events.sqs_event`), deletes what the function did not
report as failed and makes the rest visible again soon; the queue's redrive policy moves a message received too
often to its dead-letter queue (in moto, where replay reads it).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from local_aws.cloudformation.template import DeployedTemplate
from local_aws.counters import Counters
from local_aws.lambda_.events import sized_batches, sqs_event
from local_aws.lambda_.function import LocalFunction
from local_aws.lambda_.supervision import Backoff, WorkerHealth
from local_aws.lambda_.workers import ContainerPool, InvocationError
from local_aws.sqs.addresses import queue_url_of_arn
from local_aws.sqs.queues import LocalQueues, QueueMessage, QueuePolicy

LOCAL_REDELIVERY_SECONDS = 1  # visibility of a failed SQS record before it is received again
LOCAL_MAX_BATCH_WINDOW = 1.0  # the event source mapping's batching window, capped so local runs stay quick
# A received message the runner did not finish (it was killed) is received again after this, not after the
# queue's own visibility timeout (5 minutes); long enough that a busy machine finishes a batch first.
LOCAL_VISIBILITY_SECONDS = 120
LOCAL_MAX_POLLERS = 4  # concurrent batches of the event source mapping
POLL_INTERVAL = 0.05  # how often a poller looks again while it fills a batch or finds the queue empty


@dataclass(frozen=True)
class QueueMapping:
    queue_url: str
    queue_arn: str
    function: LocalFunction
    batch_size: int
    window_seconds: float
    report_failures: bool


def mappings_from_template(
    deployed: DeployedTemplate, function: Callable[[Any], LocalFunction], queue_url: Callable[[Any], str]
) -> list[QueueMapping]:
    """Every SQS event-source mapping of the template; `function` gives the function a `FunctionName` names."""
    mappings = []
    for _, props in deployed.properties_of_type("AWS::Lambda::EventSourceMapping"):
        source = props["EventSourceArn"]
        if not str(deployed.physical(source)).startswith("arn:aws:sqs:"):
            continue  # a stream's mapping (local_aws.lambda_.kinesis_mapping)
        mappings.append(
            QueueMapping(
                queue_url=queue_url(source),
                queue_arn=str(deployed.physical(source)),
                function=function(props["FunctionName"]),
                batch_size=int(props.get("BatchSize", 10)),
                window_seconds=min(
                    LOCAL_MAX_BATCH_WINDOW, float(props.get("MaximumBatchingWindowInSeconds", 0))
                ),
                report_failures="ReportBatchItemFailures" in props.get("FunctionResponseTypes", []),
            )
        )
    return mappings


def queue_policy(sqs: Any, mapping: QueueMapping) -> QueuePolicy:
    """The deployed queue's visibility timeout and redrive policy, as moto holds them."""
    attributes = sqs.get_queue_attributes(
        QueueUrl=mapping.queue_url, AttributeNames=["VisibilityTimeout", "RedrivePolicy", "QueueArn"]
    )["Attributes"]
    redrive = json.loads(attributes.get("RedrivePolicy", "null")) or {}
    dead_letters = redrive.get("deadLetterTargetArn")
    return QueuePolicy(
        url=mapping.queue_url,
        arn=attributes.get("QueueArn", mapping.queue_arn),
        visibility_timeout=int(attributes.get("VisibilityTimeout", 30)),
        max_receive_count=int(redrive["maxReceiveCount"]) if dead_letters else None,
        dead_letter_url=queue_url_of_arn(sqs, dead_letters) if dead_letters else None,
    )


class QueuePoller:
    """One mapping's pollers: `loop` is one poller thread's life."""

    def __init__(
        self,
        mapping: QueueMapping,
        queues: LocalQueues,
        pool: ContainerPool,
        sqs: Any,
        region: str,
        counters: Counters,
        stopping: threading.Event,
    ) -> None:
        self.mapping, self.queues, self.pool, self.sqs, self.region = mapping, queues, pool, sqs, region
        self.counters, self.stopping = counters, stopping

    def loop(self, health: WorkerHealth) -> None:
        retry = Backoff()
        while not self.stopping.is_set():
            try:
                messages = self.gather_batch()
                if messages:
                    self.deliver_batch(messages)
                health.ok()
                retry = Backoff()
            except Exception as error:  # the disk or moto: what was received comes back after its visibility
                health.trouble(f"polling {self.mapping.queue_url} failed, retrying: {error}")
                self.stopping.wait(retry.next())

    def gather_batch(self) -> list[QueueMessage]:
        """Up to BatchSize messages, waiting at most the batching window once the first has come."""
        mapping = self.mapping
        messages: list[QueueMessage] = []
        deadline: float | None = None
        while len(messages) < mapping.batch_size and not self.stopping.is_set():
            received = self.queues.receive(
                mapping.queue_url, mapping.batch_size - len(messages), LOCAL_VISIBILITY_SECONDS
            )
            if received.to_redrive:
                self.redrive(received.to_redrive)
            messages.extend(received.messages)
            if not messages:
                self.stopping.wait(POLL_INTERVAL)
                return messages  # nothing yet: let the caller check whether to stop
            deadline = deadline or time.monotonic() + mapping.window_seconds
            if time.monotonic() >= deadline:
                break
            if len(messages) < mapping.batch_size:
                time.sleep(POLL_INTERVAL)
        return messages

    def redrive(self, messages: list[QueueMessage]) -> None:
        """What the queue's redrive policy moves: to its dead-letter queue (in moto), then out of the store.
        A message moto does not take stays, and is moved when it is received again after its visibility."""
        dead_letters = self.queues.policy(self.mapping.queue_url).dead_letter_url
        assert dead_letters is not None
        for message in messages:  # rare, and each may be up to 256 KiB: one request each
            self.sqs.send_message(QueueUrl=dead_letters, MessageBody=message.body)
            self.queues.delete(self.mapping.queue_url, [message.receipt_handle])
            self.counters.add(redriven=1)

    def deliver_batch(self, messages: list[QueueMessage]) -> None:
        mapping = self.mapping
        event = sqs_event(messages, mapping.queue_arn, self.region)
        failed_ids: set[str] = set()
        for records in sized_batches(event["Records"]):  # within a synchronous invocation's payload limit
            self.counters.add(batches=1)
            try:
                response = self.pool.invoke({"Records": records})
                if mapping.report_failures:
                    failures = (response or {}).get("batchItemFailures", [])
                    failed_ids.update(str(item["itemIdentifier"]) for item in failures)
            except InvocationError:  # the whole batch failed: every record comes back
                failed_ids.update(str(record["messageId"]) for record in records)
        done = [m.receipt_handle for m in messages if m.message_id not in failed_ids]
        failed = [m.receipt_handle for m in messages if m.message_id in failed_ids]
        self.queues.delete(mapping.queue_url, done)
        self.queues.change_visibility(mapping.queue_url, failed, LOCAL_REDELIVERY_SECONDS)
        self.counters.add(delivered=len(done), retried=len(failed))
