"""Plays AWS IoT Core's rules engine, and Lambda's invocation of the ingest function, on this machine.

The rules come from the synthesized ingest template, evaluated with the parameters the stack was
deployed with (`sandbox.template`). Each rule's topic is subscribed on the local broker
(`sandbox.mqtt_intake`); its SQL is evaluated (`sandbox.iot_sql`); its action is performed as AWS would:

- Lambda action: the event is committed to the local stand-in for Lambda's asynchronous event queue
  (`sandbox.event_store`, on disk), and only then is the message acknowledged to the broker. Invokers,
  as many as the function's reserved concurrency allows locally, run each event in a container
  (`sandbox.containers`); a failed one is retried as an asynchronous invocation is (the attempts of the
  function's EventInvokeConfig; shorter delays), then goes to the on-failure destination, in the shape
  Lambda gives it, and leaves the store only once that destination took it.
- SQS action: the messages go to the queue and are acknowledged once the queue took them. A queue that
  an event source mapping of the template reads (the ingest queue) is played by the runner itself, on
  disk, with SQS's semantics and the deployed queue's attributes (`sandbox.local_queues`: moto was the
  bottleneck SQS is not); any other queue is moto's. Pollers feed the handler in batches as an event
  source mapping does (batch size and window from the template), deleting only what the handler did
  not report as failed; the queue's redrive policy moves what keeps failing to its dead-letter queue.
- When an action cannot be performed (the SQL cannot read the payload, the queue refuses a message, Lambda
  would refuse the event: `sandbox.lambda_events`), the rule's error action sends IoT's error message to its queue.

No single message stops a path: what crosses to a container is the event's JSON text, and whatever fails for one
event (its encoding, its container dying, its timeout) is that event's outcome: retried, then the on-failure
destination or the error action. A stored event counts its attempts on disk, so one that fails at every
restart ends at the on-failure destination too.

So a message is acknowledged only once something that survives a crash of the runner holds it: the
event store, the ingest queue (on disk) or the error action's queue. When none can take it now (moto or the disk
is down), it stays unacknowledged and the hand-off is tried again with backoff; the broker still has it.
Every thread is supervised (`sandbox.supervision`): services' errors are retried, and a thread that
dies stops the runner loudly instead of leaving it up and silent.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import queue
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config as BotoConfig

from sandbox.containers import ContainerPool, FunctionSpec, InvocationError, load_handler
from sandbox.event_store import EventStore, Retry, StoredEvent
from sandbox.iot_sql import RuleQuery, parse_rule, rule_receives, subscriptions
from sandbox.lambda_events import EventRefused, async_event, failure_record, sized_batches
from sandbox.local_queues import MAX_MESSAGE_BYTES, LocalQueues, QueueMessage, QueuePolicy
from sandbox.mqtt_intake import Delivery
from sandbox.supervision import Backoff, Supervisor, WorkerHealth
from sandbox.template import DeployedTemplate, ResourceRef, TemplateError

# Asynchronous invocation retries wait about 1 and 2 minutes on AWS; locally a fraction of that.
LOCAL_RETRY_DELAYS = (0.5, 1.0, 2.0)
LOCAL_REDELIVERY_SECONDS = 1  # visibility of a failed SQS record before it is received again
LOCAL_MAX_BATCH_WINDOW = 1.0  # the event source mapping's batching window, capped so local runs stay quick
# A received message the runner did not finish (it was killed) is received again after this, not after the
# queue's own visibility timeout (5 minutes); long enough that a busy machine finishes a batch first.
LOCAL_VISIBILITY_SECONDS = 120
# The most one SendMessageBatch to moto takes, and the most bytes it carries.
SQS_BATCH_MAX = 10
SQS_MAX_BATCH_BYTES = 256 * 1024
# Lambda runs up to the reserved concurrency at once; this machine has few cores, so locally at most:
LOCAL_MAX_CONCURRENCY = 4
LOCAL_MAX_POLLERS = 4  # concurrent batches of the event source mapping
POLL_INTERVAL = 0.05  # how often a poller looks again while it fills a batch or finds the queue empty
# Stored events one invoker takes at once; each is still its own invocation, one after the other in one
# container, but the store and the container's pipe are paid once for all of them.
INVOKE_BATCH = 50
HAND_OFF_WORKERS = 2  # concurrent hand-offs (each waits on the disk, or moto for an error action)
HAND_OFF_BATCH = 200  # messages taken off the broker per hand-off
MAX_CACHED_TOPICS = 10_000  # topics whose rules the runner keeps worked out
HAND_OFF_GATHER_SECONDS = 0.02  # how long a hand-off waits to fill its batch once one message has come
# Connection errors are the runner's to retry (with backoff, visibly), not botocore's to hide for a minute.
SQS_CLIENT_CONFIG = BotoConfig(
    retries={"max_attempts": 2, "mode": "standard"}, connect_timeout=2, read_timeout=20,
    max_pool_connections=HAND_OFF_WORKERS + LOCAL_MAX_POLLERS + LOCAL_MAX_CONCURRENCY,
)  # fmt: skip


@dataclass
class Counters:
    received: int = 0
    acknowledged: int = 0  # to the broker, once durably handed off
    filtered: int = 0  # did not match the rule's WHERE
    stored: int = 0  # committed to the local event store (direct path)
    queued: int = 0  # accepted by the rule's SQS queue (queued path)
    delivered: int = 0  # handled by the function without error
    retried: int = 0
    on_failure: int = 0  # sent to the function's on-failure destination
    error_action: int = 0  # sent to the rule's error action
    redriven: int = 0  # moved to the dead-letter queue by the ingest queue's redrive policy
    batches: int = 0
    in_flight: int = 0  # taken off the broker, not acknowledged yet
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, **amounts: int) -> None:
        with self.lock:
            for name, amount in amounts.items():
                setattr(self, name, getattr(self, name) + amount)

    def snapshot(self) -> dict[str, int]:
        with self.lock:
            return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "lock"}


@dataclass(frozen=True)
class LocalFunction:
    """The function of the template, run in local containers (`sandbox.containers`)."""

    logical_id: str
    spec: FunctionSpec
    retry_attempts: int
    on_failure_queue_url: str | None
    reserved_concurrency: int

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def arn(self) -> str:
        return self.spec.arn


@dataclass(frozen=True)
class Rule:
    name: str
    query: RuleQuery
    function: LocalFunction | None  # Lambda action
    queue_url: str | None  # SQS action
    error_queue_url: str | None


@dataclass(frozen=True)
class QueueMapping:
    queue_url: str
    queue_arn: str
    function: LocalFunction
    batch_size: int
    window_seconds: float
    report_failures: bool


def build_function(deployed: DeployedTemplate, logical_id: str, overrides: dict[str, str]) -> LocalFunction:
    """The function as the template defines it, its environment pointed at the local services."""
    props = deployed.resources[logical_id]["Properties"]
    variables = props.get("Environment", {}).get("Variables", {})
    for name, value in variables.items():
        if name in overrides:
            continue
        try:
            os.environ[name] = str(deployed.physical(deployed.resolve(value)))
        except TemplateError as error:
            raise TemplateError(f"environment variable {name} of {logical_id}: {error}") from error
    os.environ.update(overrides)
    invoke_config: dict[str, Any] = next(
        (
            r["Properties"]
            for r in deployed.of_type("AWS::Lambda::EventInvokeConfig").values()
            if deployed.resolve(r["Properties"].get("FunctionName")) == ResourceRef(logical_id)
        ),
        {},
    )
    destination = invoke_config.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination")
    on_failure = deployed.resolve(destination) if destination else None
    handler_path = str(deployed.resolve(props["Handler"]))
    load_handler(handler_path)  # a handler that cannot be imported stops the runner at start, clearly
    return LocalFunction(
        logical_id=logical_id,
        spec=FunctionSpec(
            name=str(deployed.physical(ResourceRef(logical_id))),
            arn=str(deployed.physical(ResourceRef(logical_id, "Arn"))),
            handler_path=handler_path,
            memory=int(deployed.resolve(props.get("MemorySize", 128))),
            timeout=int(deployed.resolve(props.get("Timeout", 3))),
        ),
        retry_attempts=int(deployed.resolve(invoke_config.get("MaximumRetryAttempts", 2))),
        on_failure_queue_url=_queue_url(deployed, on_failure) if on_failure else None,
        reserved_concurrency=int(deployed.resolve(props.get("ReservedConcurrentExecutions", 1000))),
    )


def _queue_url(deployed: DeployedTemplate, reference: Any) -> str:
    if isinstance(reference, ResourceRef):
        return str(deployed.physical(ResourceRef(reference.logical_id)))
    if isinstance(reference, str) and reference.startswith("arn:aws:sqs:"):
        name = reference.rsplit(":", 1)[-1]
        return str(boto3.client("sqs").get_queue_url(QueueName=name)["QueueUrl"])
    return str(reference)


def load_rules(
    deployed: DeployedTemplate, overrides: dict[str, str]
) -> tuple[list[Rule], list[QueueMapping]]:
    functions: dict[str, LocalFunction] = {}

    def function(reference: Any) -> LocalFunction:
        if not isinstance(reference, ResourceRef):
            raise TemplateError(f"a Lambda action must name the template's function, not {reference!r}")
        if reference.logical_id not in functions:
            functions[reference.logical_id] = build_function(deployed, reference.logical_id, overrides)
        return functions[reference.logical_id]

    rules = []
    for logical_id, resource in deployed.of_type("AWS::IoT::TopicRule").items():
        props = deployed.resolve(resource["Properties"])
        payload = props["TopicRulePayload"]
        name = str(props.get("RuleName", logical_id))
        if payload.get("RuleDisabled") is True:
            continue
        lambda_target, queue_url = None, None
        for action in payload.get("Actions", []):
            if "Lambda" in action:
                lambda_target = function(action["Lambda"]["FunctionArn"])
            elif "Sqs" in action:
                queue_url = _queue_url(deployed, action["Sqs"]["QueueUrl"])
            else:
                raise TemplateError(f"rule {name}: the action {next(iter(action))} is not played locally")
        error = payload.get("ErrorAction", {}).get("Sqs")
        rules.append(
            Rule(
                name=name,
                query=parse_rule(payload["Sql"], name),
                function=lambda_target,
                queue_url=queue_url,
                error_queue_url=_queue_url(deployed, error["QueueUrl"]) if error else None,
            )
        )
    mappings = []
    for resource in deployed.of_type("AWS::Lambda::EventSourceMapping").values():
        props = deployed.resolve(resource["Properties"])
        source = props["EventSourceArn"]
        mappings.append(
            QueueMapping(
                queue_url=_queue_url(deployed, source),
                queue_arn=str(deployed.physical(source)),
                function=function(props["FunctionName"]),
                batch_size=int(props.get("BatchSize", 10)),
                window_seconds=min(
                    LOCAL_MAX_BATCH_WINDOW, float(props.get("MaximumBatchingWindowInSeconds", 0))
                ),
                report_failures="ReportBatchItemFailures" in props.get("FunctionResponseTypes", []),
            )
        )
    return rules, mappings


class HandOffFailed(Exception):
    """A hand-off could not be made durable now; the messages stay unacknowledged with the broker."""


@dataclass
class _Outgoing:
    """One SQS message the hand-off must place, and the error-action message to send if the queue refuses it."""

    delivery: int  # index of the delivery in the hand-off's batch
    queue_url: str
    body: str
    fallback: Callable[[str], _Outgoing] | None = None


def _sqs_batches(items: list[_Outgoing]) -> list[list[_Outgoing]]:
    """SendMessageBatch requests within SQS's limits: 10 entries, 256 KiB in all."""
    batches: list[list[_Outgoing]] = [[]]
    size = 0
    for item in items:
        length = len(item.body.encode())
        if batches[-1] and (len(batches[-1]) == SQS_BATCH_MAX or size + length > SQS_MAX_BATCH_BYTES):
            batches.append([])
            size = 0
        batches[-1].append(item)
        size += length
    return [batch for batch in batches if batch]


class RuleRunner:
    """Takes messages off the broker, hands each durably to its rule's action, then acknowledges it.

    Threads, each supervised (`sandbox.supervision`): hand-off workers (rules evaluated, events stored
    or queued in batches, then acknowledged), and for the function: invokers of the stored events
    (direct path) and pollers of the queues (queued path), as many as its local concurrency.
    """

    def __init__(
        self,
        rules: list[Rule],
        mappings: list[QueueMapping],
        region: str,
        store: EventStore | None,
        queues: LocalQueues | None = None,
    ) -> None:
        self.rules, self.mappings, self.region, self.store = rules, mappings, region, store
        self.queues = queues
        self.counters = Counters()
        self.sqs = boto3.client("sqs", region_name=region, config=SQS_CLIENT_CONFIG)
        self.supervisor = Supervisor()
        self._inbox: queue.Queue[Delivery] = queue.Queue()
        self._stopping = threading.Event()
        self._event_stored = threading.Event()
        self._functions = {f.name: f for f in self._all_functions()}
        self._topic_rules: dict[str, list[Rule]] = {}
        self._pools = {
            name: ContainerPool(f.spec, min(f.reserved_concurrency, LOCAL_MAX_CONCURRENCY))
            for name, f in self._functions.items()
        }

    def _all_functions(self) -> list[LocalFunction]:
        found = [r.function for r in self.rules if r.function] + [m.function for m in self.mappings]
        return list({f.name: f for f in found}.values())

    @property
    def topic_filters(self) -> list[str]:
        return subscriptions([(rule.name, rule.query.topic_filter) for rule in self.rules])

    def start(self) -> None:
        direct = any(rule.function for rule in self.rules)
        if direct and self.store is None:
            raise RuntimeError("a rule invokes a function directly: the runner needs an event store")
        if self.mappings and self.queues is None:
            raise RuntimeError("an event source mapping reads a queue: the runner needs a queue store")
        for mapping in self.mappings:
            assert self.queues is not None
            self.queues.declare(self._queue_policy(mapping))
        for pool in self._pools.values():
            pool.warm()
        for i in range(HAND_OFF_WORKERS):
            self.supervisor.start(f"hand-off-{i}", self._hand_off_loop)
        if direct:
            for name, pool in self._pools.items():
                for i in range(pool.size):
                    self.supervisor.start(f"invoke-{name}-{i}", self._invoke_loop)
        for mapping in self.mappings:
            pollers = min(mapping.function.reserved_concurrency, LOCAL_MAX_POLLERS)
            for i in range(pollers):
                self.supervisor.start(f"poll-{mapping.function.name}-{i}", self._poll_loop, mapping)

    def stop(self) -> None:
        """Stop taking work; what was not acknowledged stays with the broker, what was stored stays stored."""
        self._stopping.set()
        self.supervisor.join(timeout=30)
        for pool in self._pools.values():
            pool.close()

    def _queue_policy(self, mapping: QueueMapping) -> QueuePolicy:
        """The deployed queue's visibility timeout and redrive policy, as moto holds them."""
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=mapping.queue_url, AttributeNames=["VisibilityTimeout", "RedrivePolicy", "QueueArn"]
        )["Attributes"]
        redrive = json.loads(attributes.get("RedrivePolicy", "null")) or {}
        dead_letters = redrive.get("deadLetterTargetArn")
        return QueuePolicy(
            url=mapping.queue_url,
            arn=attributes.get("QueueArn", mapping.queue_arn),
            visibility_timeout=int(attributes.get("VisibilityTimeout", 30)),
            max_receive_count=int(redrive["maxReceiveCount"]) if dead_letters else None,
            dead_letter_url=_queue_url_of_arn(self.sqs, dead_letters) if dead_letters else None,
        )

    def _played(self, queue_url: str) -> bool:
        return self.queues is not None and any(m.queue_url == queue_url for m in self.mappings)

    def backlog(self) -> dict[str, int]:
        """What the runner holds and has not finished: taken off the broker but not acknowledged yet
        (`unacknowledged`), events stored for the function (`stored_events`), and messages in the queues it
        plays (`queued_messages`: the ingest queue; the accounting reads that from the store itself)."""
        stored = self.store.depth() if self.store else 0
        queued = sum(self.queues.depth(m.queue_url) for m in self.mappings) if self.queues else 0
        return {
            "unacknowledged": self.counters.snapshot()["in_flight"],
            "stored_events": stored,
            "queued_messages": queued,
        }

    def idle(self) -> bool:
        return not any(self.backlog().values())

    # -- receiving and handing off ----------------------------------------------------------------
    def on_delivery(self, delivery: Delivery) -> None:
        """awscrt's thread: queue it and return at once (the acknowledgement waits for the hand-off)."""
        self.counters.add(received=1, in_flight=1)
        self._inbox.put(delivery)

    def _take(self, limit: int) -> list[Delivery]:
        """Up to `limit` deliveries: once one has come, what else is waiting, and what comes within the gather
        time. Taken in runs, not one wait each: a wait per message set every thread of the runner waking."""
        try:
            batch = [self._inbox.get(timeout=0.2)]
        except queue.Empty:
            return []
        deadline = time.monotonic() + HAND_OFF_GATHER_SECONDS
        while len(batch) < limit:
            try:
                while len(batch) < limit:
                    batch.append(self._inbox.get_nowait())
            except queue.Empty:
                if time.monotonic() >= deadline:
                    break
                time.sleep(HAND_OFF_GATHER_SECONDS / 4)
        return batch

    def _hand_off_loop(self, health: WorkerHealth) -> None:
        while not self._stopping.is_set():
            batch = self._take(HAND_OFF_BATCH)
            if not batch:
                continue
            events, outgoing = self._evaluate(batch)
            retry = Backoff()
            while True:
                try:
                    self._place(events, outgoing)
                    break
                except Exception as error:  # moto or the disk: the broker keeps the messages meanwhile
                    health.trouble(f"hand-off failed, retrying: {error}")
                    if self._stopping.wait(retry.next()):
                        self.counters.add(in_flight=-len(batch))  # left to the broker: sent again later
                        return
            health.ok()
            for delivery in batch:
                delivery.ack()
            self.counters.add(in_flight=-len(batch), acknowledged=len(batch))

    def _evaluate(self, batch: list[Delivery]) -> tuple[dict[str, list[str]], list[_Outgoing]]:
        """Each message's actions: events for the functions (JSON text), messages for the queues (error
        actions too)."""
        events: dict[str, list[str]] = {}
        outgoing: list[_Outgoing] = []
        for index, delivery in enumerate(batch):
            for rule in self._rules_for(delivery.topic):
                self._evaluate_one(rule, index, delivery, events, outgoing)
        return events, outgoing

    def _rules_for(self, topic: str) -> list[Rule]:
        """The rules a topic's messages go to, worked out once per topic (devices publish on a few)."""
        found = self._topic_rules.get(topic)
        if found is None:
            found = [r for r in self.rules if rule_receives(r.name, r.query.topic_filter, topic)]
            if len(self._topic_rules) >= MAX_CACHED_TOPICS:
                self._topic_rules.clear()
            self._topic_rules[topic] = found
        return found

    def _evaluate_one(
        self,
        rule: Rule,
        index: int,
        delivery: Delivery,
        events: dict[str, list[str]],
        outgoing: list[_Outgoing],
    ) -> None:
        topic, payload = delivery.topic, delivery.payload

        def error_action(reason: str) -> _Outgoing:
            return _Outgoing(index, self._error_queue(rule, reason), self._error_body(rule, delivery, reason))

        try:
            document = json.loads(payload)
            if not isinstance(document, dict):
                raise ValueError(
                    "the payload is JSON but not an object, so SELECT cannot read its attributes"
                )
            message = rule.query.apply(document, topic, delivery.client_id)
        except (ValueError, RecursionError) as error:  # AWS cannot evaluate the SQL either: the error action
            outgoing.append(error_action(f"SQL evaluation failed: {error}"))
            return
        if message is None:
            self.counters.add(filtered=1)
            return
        if rule.function is not None:
            try:  # encoded here, once: the event store and the container take this text
                events.setdefault(rule.function.name, []).append(async_event(message))
            except EventRefused as refused:  # Lambda's Invoke would refuse it: IoT runs the error action
                outgoing.append(error_action(f"Lambda Invoke failed: {refused}"))
        if rule.queue_url is not None:

            def fallback(reason: str) -> _Outgoing:
                return error_action(f"SQS SendMessage failed: {reason}")

            try:
                body = json.dumps(message)
            except (RecursionError, ValueError, TypeError) as error:
                outgoing.append(error_action(f"SQS SendMessage failed: the message is not JSON: {error!r}"))
            else:
                outgoing.append(_Outgoing(index, rule.queue_url, body, fallback))

    def _error_queue(self, rule: Rule, reason: str) -> str:
        if rule.error_queue_url is None:
            raise RuntimeError(f"rule {rule.name} has no error action and could not deliver: {reason}")
        return rule.error_queue_url

    @staticmethod
    def _error_body(rule: Rule, delivery: Delivery, reason: str) -> str:
        return json.dumps(
            {
                "ruleName": rule.name,
                "topic": delivery.topic,
                "cloudwatchTraceId": str(uuid.uuid4()),
                # The publisher's client id, which replay binds the reading to (null: the broker did not say).
                "clientId": delivery.client_id,
                "base64OriginalPayload": base64.b64encode(delivery.payload).decode(),
                "failures": [
                    {"failedAction": "LambdaAction" if rule.function else "SqsAction", "errorMessage": reason}
                ],
            }
        )

    def _place(self, events: dict[str, list[str]], outgoing: list[_Outgoing]) -> None:
        """Store the events and send the messages. What is placed is removed from `outgoing`, and a refused
        message's error action put in its place, even when a later send raises: a retry does only the rest."""
        for name in list(events):
            assert self.store is not None
            self.store.put(name, events[name])
            self.counters.add(stored=len(events.pop(name)))
            self._event_stored.set()
        while outgoing:
            by_queue: dict[str, list[_Outgoing]] = {}
            for item in outgoing:
                by_queue.setdefault(item.queue_url, []).append(item)
            placed: set[int] = set()  # id() of each item the queue took or refused
            refused: list[_Outgoing] = []
            try:
                for queue_url, items in by_queue.items():
                    played = self._played(queue_url)  # on disk: one transaction for all, no SQS batch limits
                    send = self._send_here if played else self._send_to_moto
                    for chunk in [items] if played else _sqs_batches(items):
                        failed = send(queue_url, chunk)
                        queued = sum(1 for i, item in enumerate(chunk) if i not in failed and item.fallback)
                        self.counters.add(queued=queued, error_action=len(chunk) - len(failed) - queued)
                        for i, item in enumerate(chunk):
                            if i not in failed:
                                placed.add(id(item))
                            elif item.fallback is not None:  # the queue refused it: IoT runs the error action
                                placed.add(id(item))
                                refused.append(item.fallback(failed[i]))
                            else:
                                raise HandOffFailed(
                                    f"the error action's queue refused a message: {failed[i]}"
                                )
            finally:
                outgoing[:] = [item for item in outgoing if id(item) not in placed] + refused

    def _send_here(self, queue_url: str, chunk: list[_Outgoing]) -> dict[int, str]:
        """To a queue the runner plays (on disk): the refused ones by index, with SQS's reason."""
        assert self.queues is not None
        return self.queues.send(queue_url, [item.body for item in chunk])[1]

    def _send_to_moto(self, queue_url: str, chunk: list[_Outgoing]) -> dict[int, str]:
        response = self.sqs.send_message_batch(
            QueueUrl=queue_url,
            Entries=[{"Id": str(i), "MessageBody": item.body} for i, item in enumerate(chunk)],
        )
        return {int(f["Id"]): str(f.get("Message", f.get("Code", ""))) for f in response.get("Failed", [])}

    # -- direct path: asynchronous invocation -----------------------------------------------------
    def _invoke_loop(self, health: WorkerHealth) -> None:
        assert self.store is not None
        while not self._stopping.is_set():
            claimed = self.store.claim(INVOKE_BATCH)
            if not claimed:
                self._event_stored.wait(0.1)
                self._event_stored.clear()
                continue
            by_function: dict[str, list[StoredEvent]] = {}
            for stored in claimed:
                by_function.setdefault(stored.function, []).append(stored)
            for name, batch in by_function.items():
                function = self._functions.get(name)
                if function is None:
                    health.trouble(f"a stored event names the function {name}, which is not deployed")
                    self.store.settle([], [Retry(s.id, s.attempts, 5.0) for s in batch])
                    continue
                self._invoke_stored(function, batch, health)

    def _invoke_stored(self, function: LocalFunction, batch: list[StoredEvent], health: WorkerHealth) -> None:
        """Each event its own invocation, in one container; then what they came to, in one transaction. An
        event whose attempts are used up (it failed them, or the runner stopped during them: a claim counts on
        disk) is not run again: it goes to the on-failure destination."""
        assert self.store is not None
        to_run = [stored for stored in batch if stored.attempts <= function.retry_attempts]
        pool = self._pools[function.name]
        outcomes = pool.invoke_each([stored.body.encode() for stored in to_run]) if to_run else []
        done: list[int] = []
        again: list[Retry] = []
        failed = [
            (stored, stored.error or _INTERRUPTED, stored.attempts)
            for stored in batch
            if stored.attempts > function.retry_attempts
        ]
        delivered = retried = 0
        troubled = False
        for stored, outcome in zip(to_run, outcomes, strict=True):
            if outcome is None:  # not run (its container died first): due again, no attempt made
                again.append(Retry(stored.id, stored.attempts, 0.0))
                continue
            attempts = stored.attempts + 1
            if not isinstance(outcome, InvocationError):
                done.append(stored.id)
                delivered += 1
            elif attempts <= function.retry_attempts:
                retried += 1
                delay = LOCAL_RETRY_DELAYS[min(attempts - 1, len(LOCAL_RETRY_DELAYS) - 1)]
                again.append(Retry(stored.id, attempts, delay, (outcome.error_type, str(outcome))))
            else:
                failed.append((stored, (outcome.error_type, str(outcome)), attempts))
        for stored, error, attempts in failed:
            try:
                self._on_failure(function, stored.body, error, attempts)
                done.append(stored.id)
            except Exception as failure:  # kept in the store, and sent again later (not run again)
                health.trouble(f"the on-failure destination did not take an event: {failure}")
                troubled = True
                again.append(Retry(stored.id, attempts, Backoff.LONGEST, error))
        self.store.settle(done, again)
        self.counters.add(delivered=delivered, retried=retried)
        if not troubled:
            health.ok()

    def _on_failure(self, function: LocalFunction, body: str, error: tuple[str, str], attempts: int) -> None:
        if function.on_failure_queue_url is None:
            raise RuntimeError(
                f"{function.name} has no on-failure destination for a failed event: {error[1]}"
            )
        record = failure_record(function.arn, body, error, attempts, MAX_MESSAGE_BYTES)
        self.sqs.send_message(QueueUrl=function.on_failure_queue_url, MessageBody=record)
        self.counters.add(on_failure=1)

    # -- queued path: the event source mapping ---------------------------------------------------
    def _poll_loop(self, health: WorkerHealth, mapping: QueueMapping) -> None:
        retry = Backoff()
        while not self._stopping.is_set():
            try:
                messages = self._gather_batch(mapping)
                if messages:
                    self._deliver_batch(mapping, messages)
                health.ok()
                retry = Backoff()
            except Exception as error:  # the disk or moto: what was received comes back after its visibility
                health.trouble(f"polling {mapping.queue_url} failed, retrying: {error}")
                self._stopping.wait(retry.next())

    def _gather_batch(self, mapping: QueueMapping) -> list[QueueMessage]:
        """Up to BatchSize messages, waiting at most the batching window once the first has come."""
        assert self.queues is not None
        messages: list[QueueMessage] = []
        deadline: float | None = None
        while len(messages) < mapping.batch_size and not self._stopping.is_set():
            received = self.queues.receive(
                mapping.queue_url, mapping.batch_size - len(messages), LOCAL_VISIBILITY_SECONDS
            )
            if received.to_redrive:
                self._redrive(mapping, received.to_redrive)
            messages.extend(received.messages)
            if not messages:
                self._stopping.wait(POLL_INTERVAL)
                return messages  # nothing yet: let the caller check whether to stop
            deadline = deadline or time.monotonic() + mapping.window_seconds
            if time.monotonic() >= deadline:
                break
            if len(messages) < mapping.batch_size:
                time.sleep(POLL_INTERVAL)
        return messages

    def _redrive(self, mapping: QueueMapping, messages: list[QueueMessage]) -> None:
        """What the queue's redrive policy moves: to its dead-letter queue (in moto), then out of the store.
        A message moto does not take stays, and is moved when it is received again after its visibility."""
        assert self.queues is not None
        dead_letters = self.queues.policy(mapping.queue_url).dead_letter_url
        assert dead_letters is not None
        for message in messages:  # rare, and each may be up to 256 KiB: one request each
            self.sqs.send_message(QueueUrl=dead_letters, MessageBody=message.body)
            self.queues.delete(mapping.queue_url, [message.receipt_handle])
            self.counters.add(redriven=1)

    def _deliver_batch(self, mapping: QueueMapping, messages: list[QueueMessage]) -> None:
        assert self.queues is not None
        event = {
            "Records": [
                {
                    "messageId": m.message_id,
                    "receiptHandle": m.receipt_handle,
                    "body": m.body,
                    "attributes": m.attributes,
                    "messageAttributes": {},
                    "md5OfBody": hashlib.md5(m.body.encode(), usedforsecurity=False).hexdigest(),
                    "eventSource": "aws:sqs",
                    "eventSourceARN": mapping.queue_arn,
                    "awsRegion": self.region,
                }
                for m in messages
            ]
        }
        failed_ids: set[str] = set()
        for records in sized_batches(event["Records"]):  # within a synchronous invocation's payload limit
            self.counters.add(batches=1)
            try:
                response = self._pools[mapping.function.name].invoke({"Records": records})
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


# The error of an event whose last invocation never ended: the runner stopped (or died) while it ran.
_INTERRUPTED = ("Runtime.ExitError", "the invocation did not end: the rule runner stopped while it ran")


def _queue_url_of_arn(sqs: Any, arn: str) -> str:
    return str(sqs.get_queue_url(QueueName=arn.rsplit(":", 1)[-1])["QueueUrl"])


def write_stats(path: Path, runner: RuleRunner) -> None:
    stats = {
        **runner.counters.snapshot(),
        **runner.backlog(),
        "idle": runner.idle(),
        "workers": runner.supervisor.report(),
    }
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(stats) + "\n")
    tmp.replace(path)
