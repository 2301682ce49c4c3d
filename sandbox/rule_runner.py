"""Plays AWS IoT Core's rules engine, and Lambda's invocation of the ingest function, on this machine.

The rules come from the synthesized ingest template, evaluated with the parameters the stack was
deployed with (`sandbox.template`). Each rule's topic is subscribed on the local broker; its SQL is
evaluated (`sandbox.iot_sql`); its action is performed as AWS would:

- Lambda action: the handler that the function's `Handler` names runs in this process, with the
  function's environment pointed at the local services. When it raises, it is retried as an
  asynchronous invocation is (the attempts of the function's EventInvokeConfig; shorter delays), then
  the event goes to the on-failure destination, in the shape Lambda gives it.
- SQS action: the message goes to the queue in moto, from which a poller feeds the handler in batches
  as an event source mapping does (batch size and window from the template), deleting only what the
  handler did not report as failed; the queue's redrive policy moves what keeps failing.
- When an action cannot be performed (the SQL cannot read the payload, the queue refuses it), the
  rule's error action sends IoT's error message to its queue.

Nothing received is dropped silently: every message is counted as received, then delivered,
filtered out by WHERE, retried, sent to the on-failure destination, or sent to the error action.
"""

from __future__ import annotations

import base64
import importlib
import json
import os
import queue
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3

from sandbox.iot_sql import RuleQuery, parse_rule, topic_matches
from sandbox.template import DeployedTemplate, ResourceRef, TemplateError

# Asynchronous invocation retries wait about 1 and 2 minutes on AWS; locally a fraction of that.
LOCAL_RETRY_DELAYS = (0.5, 1.0, 2.0)
LOCAL_REDELIVERY_SECONDS = 1  # visibility of a failed SQS record before it is received again
LOCAL_MAX_BATCH_WINDOW = 1.0  # the event source mapping's batching window, capped so local runs stay quick
SQS_RECEIVE_MAX = 10  # the most one ReceiveMessage call returns


@dataclass
class Counters:
    received: int = 0
    filtered: int = 0  # did not match the rule's WHERE
    queued: int = 0  # accepted by the rule's SQS queue (queued path)
    delivered: int = 0  # handled by the function without error
    retried: int = 0
    on_failure: int = 0  # sent to the function's on-failure destination
    error_action: int = 0  # sent to the rule's error action
    batches: int = 0
    in_flight: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, **amounts: int) -> None:
        with self.lock:
            for name, amount in amounts.items():
                setattr(self, name, getattr(self, name) + amount)

    def snapshot(self) -> dict[str, int]:
        with self.lock:
            return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "lock"}


@dataclass(frozen=True)
class LambdaContext:
    """What Lambda passes a handler as its context, for a function run in process."""

    function_name: str
    invoked_function_arn: str
    memory_limit_in_mb: int
    timeout_seconds: int
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    log_group_name: str = ""
    log_stream_name: str = "local"
    started: float = field(default_factory=time.monotonic)

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.timeout_seconds - (time.monotonic() - self.started)) * 1000))


@dataclass
class LocalFunction:
    """The function of the template, run in process."""

    logical_id: str
    name: str
    arn: str
    handler: Callable[[Any, Any], Any]
    memory: int
    timeout: int
    retry_attempts: int
    on_failure_queue_url: str | None

    def invoke(self, event: Any) -> Any:
        context = LambdaContext(self.name, self.arn, self.memory, self.timeout)
        return self.handler(event, context)


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


def load_handler(path: str) -> Callable[[Any, Any], Any]:
    module_name, _, attribute = path.rpartition(".")
    handler: Callable[[Any, Any], Any] = getattr(importlib.import_module(module_name), attribute)
    return handler


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
    name = str(deployed.physical(ResourceRef(logical_id)))
    return LocalFunction(
        logical_id=logical_id,
        name=name,
        arn=str(deployed.physical(ResourceRef(logical_id, "Arn"))),
        handler=load_handler(str(deployed.resolve(props["Handler"]))),
        memory=int(deployed.resolve(props.get("MemorySize", 128))),
        timeout=int(deployed.resolve(props.get("Timeout", 3))),
        retry_attempts=int(deployed.resolve(invoke_config.get("MaximumRetryAttempts", 2))),
        on_failure_queue_url=_queue_url(deployed, on_failure) if on_failure else None,
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


class RuleRunner:
    """Receives MQTT messages and performs the rules' actions; thread-safe counters in `counters`."""

    def __init__(self, rules: list[Rule], mappings: list[QueueMapping], region: str) -> None:
        self.rules, self.mappings = rules, mappings
        self.counters = Counters()
        self.sqs = boto3.client("sqs", region_name=region)
        self.region = region
        self._invocations: queue.Queue[tuple[LocalFunction, Any] | None] = queue.Queue()
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []

    @property
    def topic_filters(self) -> list[str]:
        return sorted({rule.query.topic_filter for rule in self.rules})

    def start(self) -> None:
        # One worker for direct invocations: a Lambda container runs one event at a time.
        self._threads.append(threading.Thread(target=self._invoke_loop, name="invoke", daemon=True))
        for mapping in self.mappings:
            self._threads.append(
                threading.Thread(target=self._poll_loop, args=(mapping,), name="poll", daemon=True)
            )
        for thread in self._threads:
            thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Finish what was received, then stop."""
        self._invocations.put(None)
        self._threads[0].join(timeout)
        self._stopping.set()
        for thread in self._threads[1:]:
            thread.join(timeout)

    def idle(self) -> bool:
        return self._invocations.empty() and self.counters.snapshot()["in_flight"] == 0

    # -- receiving ---------------------------------------------------------------------------------
    def on_message(self, topic: str, payload: bytes, client_id: str | None = None) -> None:
        """One message from the broker; `client_id` is the publisher's, when the broker says (mosquitto does
        not: then the rules' clientid() is null)."""
        self.counters.add(received=1, in_flight=1)
        try:
            for rule in self.rules:
                if topic_matches(rule.query.topic_filter, topic):
                    self._apply(rule, topic, payload, client_id)
        finally:
            self.counters.add(in_flight=-1)

    def _apply(self, rule: Rule, topic: str, payload: bytes, client_id: str | None = None) -> None:
        try:
            document = json.loads(payload)
            if not isinstance(document, dict):
                raise ValueError(
                    "the payload is JSON but not an object, so SELECT cannot read its attributes"
                )
        except ValueError as error:  # AWS cannot evaluate the SQL either: its error action runs
            self._error_action(rule, topic, payload, f"SQL evaluation failed: {error}", client_id)
            return
        message = rule.query.apply(document, topic, client_id)
        if message is None:
            self.counters.add(filtered=1)
            return
        if rule.function is not None:
            self.counters.add(in_flight=1)
            self._invocations.put((rule.function, message))
        if rule.queue_url is not None:
            try:
                self.sqs.send_message(QueueUrl=rule.queue_url, MessageBody=json.dumps(message))
                self.counters.add(queued=1)
            except Exception as error:  # the queue refused the message: IoT runs the error action
                self._error_action(rule, topic, payload, f"SQS SendMessage failed: {error}", client_id)

    def _error_action(
        self, rule: Rule, topic: str, payload: bytes, reason: str, client_id: str | None = None
    ) -> None:
        if rule.error_queue_url is None:
            raise RuntimeError(f"rule {rule.name} has no error action and could not deliver: {reason}")
        body = {
            "ruleName": rule.name,
            "topic": topic,
            "cloudwatchTraceId": str(uuid.uuid4()),
            "clientId": client_id,
            "base64OriginalPayload": base64.b64encode(payload).decode(),
            "failures": [
                {"failedAction": "LambdaAction" if rule.function else "SqsAction", "errorMessage": reason}
            ],
        }
        self.sqs.send_message(QueueUrl=rule.error_queue_url, MessageBody=json.dumps(body))
        self.counters.add(error_action=1)

    # -- direct path: asynchronous invocation ------------------------------------------------------
    def _invoke_loop(self) -> None:
        while (item := self._invocations.get()) is not None:
            function, event = item
            try:
                self._invoke_with_retries(function, event)
            finally:
                self.counters.add(in_flight=-1)

    def _invoke_with_retries(self, function: LocalFunction, event: Any) -> None:
        for attempt in range(function.retry_attempts + 1):
            try:
                function.invoke(event)
            except Exception as error:
                if attempt < function.retry_attempts:
                    self.counters.add(retried=1)
                    time.sleep(LOCAL_RETRY_DELAYS[min(attempt, len(LOCAL_RETRY_DELAYS) - 1)])
                    continue
                self._on_failure(function, event, error, attempt + 1)
                return
            self.counters.add(delivered=1)
            return

    def _on_failure(self, function: LocalFunction, event: Any, error: Exception, attempts: int) -> None:
        if function.on_failure_queue_url is None:
            raise RuntimeError(f"{function.name} has no on-failure destination; the event is lost: {error}")
        record = {
            "version": "1.0",
            "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "requestContext": {
                "requestId": str(uuid.uuid4()),
                "functionArn": f"{function.arn}:$LATEST",
                "condition": "RetriesExhausted",
                "approximateInvokeCount": attempts,
            },
            "requestPayload": event,
            "responseContext": {
                "statusCode": 200,
                "executedVersion": "$LATEST",
                "functionError": "Unhandled",
            },
            "responsePayload": {"errorMessage": str(error), "errorType": type(error).__name__},
        }
        self.sqs.send_message(QueueUrl=function.on_failure_queue_url, MessageBody=json.dumps(record))
        self.counters.add(on_failure=1)

    # -- queued path: the event source mapping -----------------------------------------------------
    def _poll_loop(self, mapping: QueueMapping) -> None:
        while not self._stopping.is_set():
            messages = self._gather_batch(mapping)
            if messages:
                self._deliver_batch(mapping, messages)

    def _gather_batch(self, mapping: QueueMapping) -> list[dict[str, Any]]:
        """Up to BatchSize messages, waiting at most the batching window once the first has come."""
        messages: list[dict[str, Any]] = []
        deadline: float | None = None
        while len(messages) < mapping.batch_size and not self._stopping.is_set():
            response = self.sqs.receive_message(
                QueueUrl=mapping.queue_url,
                MaxNumberOfMessages=min(SQS_RECEIVE_MAX, mapping.batch_size - len(messages)),
                WaitTimeSeconds=0,  # short polls, so a stop is noticed at once
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            )
            received: list[dict[str, Any]] = response.get("Messages", [])  # type: ignore[assignment]
            messages.extend(received)
            if not messages:
                time.sleep(0.1)
                return messages  # nothing yet: let the caller check whether to stop
            deadline = deadline or time.monotonic() + mapping.window_seconds
            if time.monotonic() >= deadline:
                break
            if not received:
                time.sleep(0.05)
        return messages

    def _deliver_batch(self, mapping: QueueMapping, messages: list[dict[str, Any]]) -> None:
        event = {
            "Records": [
                {
                    "messageId": m["MessageId"],
                    "receiptHandle": m["ReceiptHandle"],
                    "body": m["Body"],
                    "attributes": m.get("Attributes", {}),
                    "messageAttributes": m.get("MessageAttributes", {}),
                    "md5OfBody": m.get("MD5OfBody", ""),
                    "eventSource": "aws:sqs",
                    "eventSourceARN": mapping.queue_arn,
                    "awsRegion": self.region,
                }
                for m in messages
            ]
        }
        self.counters.add(batches=1)
        try:
            response = mapping.function.invoke(event)
            failed_ids = (
                {item["itemIdentifier"] for item in (response or {}).get("batchItemFailures", [])}
                if mapping.report_failures
                else set()
            )
        except Exception:  # the whole batch failed: every record comes back
            failed_ids = {m["MessageId"] for m in messages}
        done = [m for m in messages if m["MessageId"] not in failed_ids]
        for start in range(0, len(done), SQS_RECEIVE_MAX):
            self.sqs.delete_message_batch(
                QueueUrl=mapping.queue_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                    for i, m in enumerate(done[start : start + 10])
                ],
            )
        failed = [m for m in messages if m["MessageId"] in failed_ids]
        for start in range(0, len(failed), SQS_RECEIVE_MAX):
            self.sqs.change_message_visibility_batch(
                QueueUrl=mapping.queue_url,
                Entries=[
                    {
                        "Id": str(i),
                        "ReceiptHandle": m["ReceiptHandle"],
                        "VisibilityTimeout": LOCAL_REDELIVERY_SECONDS,
                    }
                    for i, m in enumerate(failed[start : start + 10])
                ],
            )
        self.counters.add(delivered=len(done), retried=len(failed))


def write_stats(path: Path, runner: RuleRunner) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({**runner.counters.snapshot(), "idle": runner.idle()}) + "\n")
    tmp.replace(path)
