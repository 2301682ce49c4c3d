"""AWS IoT Core's rules engine: each message of a rule's topic through its SQL, then to its actions.

The rules come from the ingest template's `AWS::IoT::TopicRule`s, evaluated with the parameters the stack was
deployed with. A message is handed off durably before it is acknowledged to the broker:

- Lambda action: the event (its JSON text, `local_aws.lambda_.events.async_event`) is committed to Lambda's
  asynchronous event queue, the event store on disk;
- SQS action: the message goes to the queue, the ingest queue on disk when an event-source mapping reads it
  (`local_aws.sqs.queues`), moto's otherwise;
- Kinesis action: the message goes to the stream on disk (`local_aws.kinesis.streams`), under the partition
  key its substitution template gives (`${clientid()}`, `${topic()}`, `${newuuid()}`);
- error action: when an action cannot be performed (the SQL cannot read the payload, the queue refuses a
  message, Lambda would refuse the event), IoT's error message goes to the error action's queue.

When none can take a hand-off now (moto or the disk is down), its messages stay unacknowledged and it is tried
again with backoff; the broker still has them.
"""

from __future__ import annotations

import base64
import json
import queue
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from local_aws.cloudformation.template import DeployedTemplate, TemplateError
from local_aws.counters import Counters
from local_aws.iot.mqtt_session import BrokerMessage
from local_aws.iot.sql import RuleQuery, parse_rule, rule_receives, subscriptions
from local_aws.kinesis.streams import LocalStreams
from local_aws.lambda_.event_store import EventStore
from local_aws.lambda_.events import EventRefused, async_event
from local_aws.lambda_.function import LocalFunction
from local_aws.lambda_.supervision import Backoff, WorkerHealth
from local_aws.sqs.queues import LocalQueues

# The most one SendMessageBatch to moto takes, and the most bytes it carries.
SQS_BATCH_MAX = 10
SQS_MAX_BATCH_BYTES = 256 * 1024
HAND_OFF_WORKERS = 2  # concurrent hand-offs (each waits on the disk, or moto for an error action)
HAND_OFF_BATCH = 200  # messages taken off the broker per hand-off
MAX_CACHED_TOPICS = 10_000  # topics whose rules the engine keeps worked out
HAND_OFF_GATHER_SECONDS = 0.02  # how long a hand-off waits to fill its batch once one message has come


@dataclass(frozen=True)
class Rule:
    name: str
    query: RuleQuery
    function: LocalFunction | None  # Lambda action
    queue_url: str | None  # SQS action
    error_queue_url: str | None
    stream: StreamTarget | None = None  # Kinesis action


STREAM_PREFIX = "kinesis:"  # an Outgoing whose queue_url is a stream's ARN after this goes to the stream
_SUBSTITUTION = re.compile(r"\$\{([^}]*)\}")
_KEY_FUNCTIONS = {"clientid()", "topic()", "newuuid()"}


@dataclass(frozen=True)
class StreamTarget:
    """A Kinesis action: the stream, and the partition key's substitution template."""

    arn: str
    partition_key: str

    def key(self, topic: str, client_id: str | None) -> str:
        """The partition key for a message, as IoT evaluates the template's `${...}` expressions."""
        values = {"clientid()": client_id or "", "topic()": topic}

        def value(match: re.Match[str]) -> str:
            name = match.group(1).strip()
            return str(uuid.uuid4()) if name == "newuuid()" else values[name]

        return _SUBSTITUTION.sub(value, self.partition_key)


def stream_target(deployed: DeployedTemplate, name: str, action: dict[str, Any]) -> StreamTarget:
    stream = deployed.physical(action["StreamName"])
    key = str(action.get("PartitionKey", "${newuuid()}"))  # IoT: a random key when none is given
    unknown = {m.strip() for m in _SUBSTITUTION.findall(key)} - _KEY_FUNCTIONS
    if unknown:
        raise TemplateError(f"rule {name}: the partition key's {sorted(unknown)} is not played locally")
    return StreamTarget(f"arn:aws:kinesis:{deployed.region}:{deployed.account_id}:stream/{stream}", key)


def rules_from_template(
    deployed: DeployedTemplate, function: Callable[[Any], LocalFunction], queue_url: Callable[[Any], str]
) -> list[Rule]:
    """Every enabled rule of the template; `function` gives the function a Lambda action names."""
    rules = []
    for logical_id, props in deployed.properties_of_type("AWS::IoT::TopicRule"):
        payload = props["TopicRulePayload"]
        name = str(props.get("RuleName", logical_id))
        if payload.get("RuleDisabled") is True:
            continue
        lambda_target, queue_target, stream = None, None, None
        for action in payload.get("Actions", []):
            if "Lambda" in action:
                lambda_target = function(action["Lambda"]["FunctionArn"])
            elif "Sqs" in action:
                queue_target = queue_url(action["Sqs"]["QueueUrl"])
            elif "Kinesis" in action:
                stream = stream_target(deployed, name, action["Kinesis"])
            else:
                raise TemplateError(f"rule {name}: the action {next(iter(action))} is not played locally")
        error = payload.get("ErrorAction", {}).get("Sqs")
        rules.append(
            Rule(
                name=name,
                query=parse_rule(payload["Sql"], name),
                function=lambda_target,
                queue_url=queue_target,
                error_queue_url=queue_url(error["QueueUrl"]) if error else None,
                stream=stream,
            )
        )
    return rules


class HandOffFailed(Exception):
    """A hand-off could not be made durable now; the messages stay unacknowledged with the broker."""


@dataclass
class Outgoing:
    """One SQS message the hand-off must place, and the error-action message to send if the queue refuses it."""

    delivery: int  # index of the delivery in the hand-off's batch
    queue_url: str
    body: str
    fallback: Callable[[str], Outgoing] | None = None
    partition_key: str | None = None  # a stream's record (queue_url is STREAM_PREFIX + its ARN)


def sqs_batches(items: list[Outgoing]) -> list[list[Outgoing]]:
    """SendMessageBatch requests within SQS's limits: 10 entries, 256 KiB in all."""
    batches: list[list[Outgoing]] = [[]]
    size = 0
    for item in items:
        length = len(item.body.encode())
        if batches[-1] and (len(batches[-1]) == SQS_BATCH_MAX or size + length > SQS_MAX_BATCH_BYTES):
            batches.append([])
            size = 0
        batches[-1].append(item)
        size += length
    return [batch for batch in batches if batch]


class RulesEngine:
    """Takes messages off the broker (`on_delivery`), hands each durably to its rules' actions, then
    acknowledges it; `hand_off_loop` is one hand-off thread's life."""

    def __init__(
        self,
        rules: list[Rule],
        store: EventStore | None,
        queues: LocalQueues | None,
        played: Callable[[str], bool],
        sqs: Any,
        counters: Counters,
        stopping: threading.Event,
        event_stored: Callable[[], None] = lambda: None,
        streams: LocalStreams | None = None,
    ) -> None:
        self.rules, self.store, self.queues, self.played, self.sqs = rules, store, queues, played, sqs
        self.counters, self.stopping, self.event_stored = counters, stopping, event_stored
        self.streams = streams
        self._inbox: queue.Queue[BrokerMessage] = queue.Queue()
        self._topic_rules: dict[str, list[Rule]] = {}

    @property
    def topic_filters(self) -> list[str]:
        return subscriptions([(rule.name, rule.query.topic_filter) for rule in self.rules])

    def on_delivery(self, delivery: BrokerMessage) -> None:
        """awscrt's thread: queue it and return at once (the acknowledgement waits for the hand-off)."""
        self.counters.add(received=1, in_flight=1)
        self._inbox.put(delivery)

    def _take(self, limit: int) -> list[BrokerMessage]:
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

    def hand_off_loop(self, health: WorkerHealth) -> None:
        while not self.stopping.is_set():
            batch = self._take(HAND_OFF_BATCH)
            if not batch:
                continue
            events, outgoing = self.evaluate(batch)
            retry = Backoff()
            while True:
                try:
                    self.place(events, outgoing)
                    break
                except Exception as error:  # moto or the disk: the broker keeps the messages meanwhile
                    health.trouble(f"hand-off failed, retrying: {error}")
                    if self.stopping.wait(retry.next()):
                        self.counters.add(in_flight=-len(batch))  # left to the broker: sent again later
                        return
            health.ok()
            for delivery in batch:
                delivery.ack()
            self.counters.add(in_flight=-len(batch), acknowledged=len(batch))

    def evaluate(self, batch: list[BrokerMessage]) -> tuple[dict[str, list[str]], list[Outgoing]]:
        """Each message's actions: events for the functions (JSON text), messages for the queues (error
        actions too)."""
        events: dict[str, list[str]] = {}
        outgoing: list[Outgoing] = []
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
        delivery: BrokerMessage,
        events: dict[str, list[str]],
        outgoing: list[Outgoing],
    ) -> None:
        topic, payload = delivery.topic, delivery.payload

        def error_action(reason: str) -> Outgoing:
            return Outgoing(index, self._error_queue(rule, reason), self.error_body(rule, delivery, reason))

        try:
            document = json.loads(payload)
            if not isinstance(document, dict):
                raise ValueError(
                    "the payload is JSON but not an object, so SELECT cannot read its attributes"
                )
            message = rule.query.apply(document, topic, delivery.client_id, delivery.principal)
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

        def send(action: str, destination: str, partition_key: str | None = None) -> None:
            """The message as JSON to a queue or a stream; the error action, naming `action`, when it is not JSON
            or when the queue or stream refuses it later."""

            def fallback(reason: str) -> Outgoing:
                return error_action(f"{action} failed: {reason}")

            try:
                body = json.dumps(message)
            except (RecursionError, ValueError, TypeError) as error:
                outgoing.append(fallback(f"the message is not JSON: {error!r}"))
            else:
                outgoing.append(Outgoing(index, destination, body, fallback, partition_key=partition_key))

        if rule.queue_url is not None:
            send("SQS SendMessage", rule.queue_url)
        if rule.stream is not None:
            key = rule.stream.key(topic, delivery.client_id)
            send("Kinesis PutRecord", STREAM_PREFIX + rule.stream.arn, partition_key=key)

    def _error_queue(self, rule: Rule, reason: str) -> str:
        if rule.error_queue_url is None:
            raise RuntimeError(f"rule {rule.name} has no error action and could not deliver: {reason}")
        return rule.error_queue_url

    @staticmethod
    def error_body(rule: Rule, delivery: BrokerMessage, reason: str) -> str:
        """IoT's error-action message ("Error action message format" in the AWS IoT developer guide)."""
        return json.dumps(
            {
                "ruleName": rule.name,
                "topic": delivery.topic,
                "cloudwatchTraceId": str(uuid.uuid4()),
                # The publisher's client id, which replay binds the reading to (null: the broker did not say).
                "clientId": delivery.client_id,
                "base64OriginalPayload": base64.b64encode(delivery.payload).decode(),
                "failures": [
                    {
                        "failedAction": _failed_action(rule),
                        "failedResource": (
                            rule.function.arn
                            if rule.function
                            else rule.stream.arn
                            if rule.stream
                            else rule.queue_url
                        ),
                        "errorMessage": reason,
                    }
                ],
            }
        )

    def place(self, events: dict[str, list[str]], outgoing: list[Outgoing]) -> None:
        """Store the events and send the messages. What is placed is removed from `outgoing`, and a refused
        message's error action put in its place, even when a later send raises: a retry does only the rest."""
        for name in list(events):
            assert self.store is not None
            self.store.put(name, events[name])
            self.counters.add(stored=len(events.pop(name)))
            self.event_stored()
        while outgoing:
            by_queue: dict[str, list[Outgoing]] = {}
            for item in outgoing:
                by_queue.setdefault(item.queue_url, []).append(item)
            placed: set[int] = set()  # id() of each item the queue took or refused
            refused: list[Outgoing] = []
            try:
                for queue_url, items in by_queue.items():
                    to_stream = queue_url.startswith(STREAM_PREFIX)
                    # on disk: one transaction for all, no SQS batch limits
                    played = to_stream or self.played(queue_url)
                    send = (
                        self._put_stream if to_stream else self._send_here if played else self._send_to_moto
                    )
                    for chunk in [items] if played else sqs_batches(items):
                        failed = send(queue_url, chunk)
                        queued = sum(1 for i, item in enumerate(chunk) if i not in failed and item.fallback)
                        self.counters.add(error_action=len(chunk) - len(failed) - queued)
                        self.counters.add(**{"streamed" if to_stream else "queued": queued})
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

    def _send_here(self, queue_url: str, chunk: list[Outgoing]) -> dict[int, str]:
        """To a queue the runner plays (on disk): the refused ones by index, with SQS's reason."""
        assert self.queues is not None
        return self.queues.send(queue_url, [item.body for item in chunk])[1]

    def _put_stream(self, target: str, chunk: list[Outgoing]) -> dict[int, str]:
        """To the stream the runner plays (on disk), in one PutRecords: the refused ones by index, with why."""
        assert self.streams is not None, "a rule puts to a stream: the runner needs a stream store"
        records = [(item.partition_key or "", item.body.encode()) for item in chunk]
        return self.streams.put(target.removeprefix(STREAM_PREFIX), records)[1]

    def _send_to_moto(self, queue_url: str, chunk: list[Outgoing]) -> dict[int, str]:
        response = self.sqs.send_message_batch(
            QueueUrl=queue_url,
            Entries=[{"Id": str(i), "MessageBody": item.body} for i, item in enumerate(chunk)],
        )
        return {int(f["Id"]): str(f.get("Message", f.get("Code", ""))) for f in response.get("Failed", [])}


def _failed_action(rule: Rule) -> str:
    return "LambdaAction" if rule.function else "KinesisAction" if rule.stream else "SqsAction"
