"""The ingest function: a thin handler over `processing`, for a single reading or an SQS batch."""

from __future__ import annotations

import functools
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit, single_metric

from ingest_to_influxdb.config import Config
from ingest_to_influxdb.credentials import fetch_credentials
from ingest_to_influxdb.errors import TransientError
from ingest_to_influxdb.influx_writer import InfluxWriter, WriteTarget
from ingest_to_influxdb.metadata_store import MetadataStore
from ingest_to_influxdb.processing import Ingestor, Message, Outcome

logger = Logger()
metrics = Metrics()


@functools.cache
def ingestor() -> Ingestor:
    """Built once per container: configuration, credentials, the HTTP pool and the metadata cache."""
    config = Config.from_env()
    credentials = fetch_credentials(boto3.client("secretsmanager"), config.influxdb_secret_arn)
    writer = InfluxWriter(
        WriteTarget(config.influxdb_url, config.influxdb_database, credentials),
        config.influxdb_timeout_seconds,
    )
    metadata = MetadataStore(
        boto3.client("dynamodb"), config.metadata_table, config.metadata_cache_ttl_seconds
    )
    return Ingestor(metadata, writer, boto3.client("sqs"), config.rejected_queue_url)


def is_sqs_batch(event: Any) -> bool:
    records = event.get("Records") if isinstance(event, dict) else None
    return isinstance(records, list) and all(
        isinstance(r, dict) and r.get("eventSource") == "aws:sqs" for r in records
    )


def record_metrics(outcome: Outcome) -> None:
    metrics.add_metric(name="Written", unit=MetricUnit.Count, value=sum(outcome.written.values()))
    metrics.add_metric(
        name="MetadataMisses", unit=MetricUnit.Count, value=sum(outcome.metadata_misses.values())
    )
    metrics.add_metric(
        name="DroppedMetadataAttributes", unit=MetricUnit.Count, value=outcome.dropped_attributes
    )
    metrics.add_metric(name="Failed", unit=MetricUnit.Count, value=len(outcome.failed_ids))
    if outcome.write_ms is not None:
        metrics.add_metric(name="WriteLatency", unit=MetricUnit.Milliseconds, value=outcome.write_ms)
    for (kind, reason), count in outcome.rejected.items():
        with single_metric(name="Rejected", unit=MetricUnit.Count, value=count) as metric:
            metric.add_dimension(name="reason", value=reason)
            metric.add_dimension(name="kind", value=kind)


@metrics.log_metrics
def lambda_handler(event: Any, context: Any) -> dict[str, Any]:
    def remaining_seconds() -> float:
        return float(context.get_remaining_time_in_millis()) / 1000

    batch = is_sqs_batch(event)
    messages = (
        [Message(r["messageId"], r.get("body", "")) for r in event["Records"]]
        if batch
        else [Message("event", event)]
    )
    outcome = ingestor().ingest(messages, remaining_seconds)
    record_metrics(outcome)
    if outcome.rejected:
        logger.info(
            "readings rejected", extra={"rejected": {f"{k}/{r}": n for (k, r), n in outcome.rejected.items()}}
        )
    if outcome.failed_ids:
        logger.warning(
            "readings not written; they will be retried",
            extra={"failed": len(outcome.failed_ids), "error": outcome.failure},
        )
    if batch:
        return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in outcome.failed_ids]}
    if outcome.failed_ids:
        # Raising makes Lambda retry the event, then send it to the on-failure destination.
        raise TransientError(outcome.failure or "the reading was not written")
    return {"written": sum(outcome.written.values()), "rejected": sum(outcome.rejected.values())}
