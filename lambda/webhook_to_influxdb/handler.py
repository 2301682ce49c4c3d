"""The webhook function: API Gateway's `PUT /notifications` from the device-management service.

A delivery without the callback's header gets 401 and is not read. Its notifications become readings that go
through the ingest core exactly as the IoT rule's do (validation, metadata, InfluxDB, rejected queue). What
cannot be written now is put on the dead-letter queue (`make replay` brings it back) *before* the delivery
is acknowledged, naming the sinks of its kind that miss it (InfluxDB, SQL: the catalog's `sinks`); only when
that queue does not take it either is the answer 503, so the service sends the delivery again. So the service sees 200 for everything that is written or kept, answers come fast even while
InfluxDB is down, and its channel is not dropped for failing.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext
from ingest_to_influxdb import environment, kinds
from ingest_to_influxdb import handler as ingest
from ingest_to_influxdb.dead_letters import dead_letter_body
from ingest_to_influxdb.errors import ConfigError
from ingest_to_influxdb.events import Record
from ingest_to_influxdb.ingestor import BatchResult
from ingest_to_influxdb.log_format import lambda_logger
from ingest_to_influxdb.rejected_queue import RejectedQueue
from ingest_to_influxdb.rejections import Rejection, message_body

from webhook_to_influxdb.auth import HEADER, MISSING, SecretUnavailable, SharedSecret
from webhook_to_influxdb.deliveries import BadDelivery, Delivery, parse_body, readings_of
from webhook_to_influxdb.mapping import Resource, mapping_from_env

logger: Logger = lambda_logger(ingest.SERVICE)


@dataclass(frozen=True)
class Webhook:
    secret: SharedSecret
    mapping: dict[str, Resource]
    dead_letters: RejectedQueue  # an SQS sender, here for the dead-letter queue


_webhook: Webhook | None = None


def build_webhook(env: Mapping[str, str]) -> Webhook:
    def required(name: str) -> str:
        value = env.get(name, "").strip()
        if not value:
            raise ConfigError(f"the environment variable {name} is not set: the webhook stack sets it")
        return value

    return Webhook(
        secret=SharedSecret(boto3.client("secretsmanager"), required(environment.WEBHOOK_SECRET_ARN)),
        mapping=mapping_from_env(env),
        dead_letters=RejectedQueue(boto3.client("sqs"), required(environment.DEAD_LETTER_QUEUE_URL)),
    )


def webhook() -> Webhook:
    global _webhook
    if _webhook is None:
        _webhook = build_webhook(os.environ)
    return _webhook


def reset() -> None:
    """Forget the container's state, as a new container would (tests)."""
    global _webhook
    _webhook = None
    ingest.reset()


def respond(status: int, body: Mapping[str, object]) -> dict[str, Any]:
    return {"statusCode": status, "headers": {"content-type": "application/json"}, "body": json.dumps(body)}


def _body(event: Mapping[str, Any]) -> str | bytes:
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        try:
            return base64.b64decode(body)
        except (binascii.Error, ValueError):
            return str(body)
    return str(body)


def publish_metrics(delivery: Delivery) -> None:
    """A delivery is rarer than a reading and each says something: printed with the delivery, zeros left out."""
    ingest.metrics.add("WebhookNotifications", delivery.notifications)
    ingest.metrics.add("UnknownResources", sum(delivery.unknown_paths.values()))
    for (metric, endpoint), count in delivery.metrics.items():
        ingest.metrics.add(metric, count, dimension=("endpoint", endpoint))


def handle(hook: Webhook, event: Mapping[str, Any], context: LambdaContext) -> dict[str, Any]:
    try:
        refusal = hook.secret.refusal(dict(event.get("headers") or {}))
        if refusal is not None:
            ingest.metrics.add("WebhookUnauthorized", 1)
            problem = (
                f"without the callback's {HEADER} header"
                if refusal == MISSING
                else f"whose {HEADER} header does not match the callback's secret"
            )
            logger.warning(f"refused a delivery {problem}: register the callback again")
            return respond(401, {"error": f"{refusal} {HEADER} header: register the callback again"})
    except SecretUnavailable as error:
        logger.error("cannot check the delivery's header", extra={"error": str(error)})
        return respond(503, {"error": "the callback's secret cannot be read now; send the delivery again"})
    core = ingest.ingestor()
    body = _body(event)
    try:
        document = parse_body(body)
    except BadDelivery as bad:
        ingest.metrics.add("WebhookBadDeliveries", 1)
        rejection = Rejection(bad.code, bad.reason, "unknown", None, body)
        if core.rejects.send([message_body(rejection)]):
            return respond(503, {"error": f"{bad.reason}; it could not be kept, send it again"})
        return respond(400, {"error": bad.reason, "kept": "on the rejected-readings queue"})
    delivery = readings_of(document, hook.mapping, int(time.time() * 1000))
    records = [Record(str(i), reading) for i, reading in enumerate(delivery.readings)]
    result = (
        core.ingest(records, lambda: context.get_remaining_time_in_millis() / 1000)
        if records
        else BatchResult()
    )
    unsent = (
        core.rejects.send([message_body(r) for r in delivery.rejections]) if delivery.rejections else set()
    )
    # What the core could not write or keep now, and rejections the rejected queue did not take: dead letters.
    # (A reading some sinks hold is on them already: the core put it there, naming the sinks that miss it.)
    reason = "; ".join(result.errors[:3]) or "it could not be written now"
    dead = [dead_letter(delivery.readings[int(record_id)], reason) for record_id in result.failed]
    dead += [message_body(delivery.rejections[i]) for i in sorted(unsent)]
    undelivered = hook.dead_letters.send(dead) if dead else set()
    ingest.publish_metrics(result)
    publish_metrics(delivery)
    summary = {
        "notifications": delivery.notifications,
        "readings": len(records),
        "written": result.total_written,
        "rejected": sum(result.rejected.values()) + len(delivery.rejections) - len(unsent),
        "dead_letters": len(dead) - len(undelivered) + result.dead_lettered,
        "unknown_resources": sum(delivery.unknown_paths.values()),
        "other": dict(delivery.other),
    }
    if delivery.unknown_paths or delivery.rejections or result.failed or result.rejected:
        logger.info(
            "delivery summary",
            extra={**summary, "unknown_paths": dict(delivery.unknown_paths), "errors": result.errors[:5]},
        )
    if undelivered:
        logger.error(
            "a delivery could neither be written nor kept", extra={**summary, "errors": result.errors[:5]}
        )
        return respond(
            503, {**summary, "error": "InfluxDB and the dead-letter queue are unavailable; send it again"}
        )
    return respond(200, summary)


def dead_letter(reading: dict[str, Any], reason: str) -> str:
    """A reading no sink took, naming every sink of its kind (replay writes it to each)."""
    kind = kinds.kind_for_topic(reading.get("topic"))
    if kind is None:  # (the mapping gives every reading a kind's topic)
        return json.dumps(reading)
    return dead_letter_body(reading, kind.topic, kind.name, kind.sinks, reason)


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:  # context: a LambdaContext
    try:
        return _handle(event, context)
    finally:
        ingest.metrics.flush()


@logger.inject_lambda_context(clear_state=True)
def _handle(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return handle(webhook(), event, context)
