"""The Lambda entry point: wires the adapters once per container and reports what each invocation did.

Direct invocation (the IoT rule's Lambda action): one reading; raises when it could not be written, so
Lambda retries it and its on-failure destination keeps it. SQS batch (the queued path) or Kinesis batch (the
stream path): returns the records to retry in `batchItemFailures` (SQS message ids, Kinesis sequence numbers). An invalid reading never raises: it goes to the rejected queue.
"""

from __future__ import annotations

import gc
import logging
import os
from typing import Any

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.config import Config as ClientConfig

from ingest_to_influxdb import compiled, environment, kinds
from ingest_to_influxdb.config import Config
from ingest_to_influxdb.emf import EmbeddedMetrics
from ingest_to_influxdb.events import is_kinesis_event, records_from_event
from ingest_to_influxdb.influx_writer import InfluxWriter
from ingest_to_influxdb.ingestor import BatchResult, Ingestor
from ingest_to_influxdb.kinds import INFLUXDB_SINK, SQL_SINK
from ingest_to_influxdb.log_format import lambda_logger
from ingest_to_influxdb.metadata_store import MetadataStore
from ingest_to_influxdb.ports import RowWriter
from ingest_to_influxdb.rejected_queue import RejectedQueue
from ingest_to_influxdb.secrets import SecretCredentials
from ingest_to_influxdb.sql_sink import DataApiClient, SqlSink

PACKAGE_LOGGER = "ingest_to_influxdb"
SERVICE = os.environ.get(environment.SERVICE_NAME, "ingest")
NAMESPACE = os.environ.get(environment.METRICS_NAMESPACE, environment.NAMESPACE)
logger: Logger = lambda_logger(SERVICE)
metrics = EmbeddedMetrics(NAMESPACE, SERVICE)
# The package's standard-library loggers (ingestor, rejected_queue) log through Powertools' handler: one JSON format.
logging.getLogger(PACKAGE_LOGGER)
copy_config_to_registered_loggers(source_logger=logger, include={PACKAGE_LOGGER})

_ingestor: Ingestor | None = None
# A batch keeps a few objects a reading alive until it ends (its records, readings and lines), all freed by
# reference counting then: at Python's threshold of 700 the young generation was collected some fifteen times in
# a batch of 1,000, for nothing, at 4 % of its CPU (make profile).
YOUNG_GENERATION_THRESHOLD = 20_000
_PYTHON_THRESHOLDS = gc.get_threshold()
# The Data API client's own retries are off (the sink retries within the invocation's time); a statement runs up
# to 45 s before the Data API answers StatementTimeoutException (RDS Data API, ExecuteStatement).
DATA_API_CLIENT = ClientConfig(connect_timeout=5, read_timeout=50, retries={"total_max_attempts": 1})


class IngestFailed(Exception):
    """The reading could not be written now; Lambda's retries and on-failure destination keep it."""


def data_api_client() -> DataApiClient:
    """boto3's `rds-data` client (AWS_ENDPOINT_URL_RDS_DATA points it at a local stand-in of the Data API)."""
    client: DataApiClient = boto3.client("rds-data", config=DATA_API_CLIENT)
    return client


def build_ingestor(config: Config) -> Ingestor:
    """The adapters for a configuration: one HTTP pool, one client of each AWS service, one cache. The SQL sink's
    client is made only when a kind writes to it (its variables are set then)."""
    sinks: dict[str, RowWriter] = {}
    if config.sql is not None:
        sinks[SQL_SINK] = SqlSink(
            data_api_client(), config.sql.resource_arn, config.sql.secret_arn, config.sql.database
        )
    dead_letters = (
        RejectedQueue(boto3.client("sqs"), config.dead_letter_queue_url)
        if config.dead_letter_queue_url
        else None
    )
    return Ingestor(
        metadata=MetadataStore(
            boto3.client("dynamodb"), config.metadata_table, config.metadata_cache_ttl_seconds
        ),
        writer=InfluxWriter(
            config.influxdb_url,
            config.influxdb_database,
            SecretCredentials(boto3.client("secretsmanager"), config.influxdb_secret_arn),
            ca_certificate=config.influxdb_ca_certificate,
        ),
        rejects=RejectedQueue(boto3.client("sqs"), config.rejected_queue_url),
        sinks=sinks,
        dead_letters=dead_letters,
    )


def ingestor() -> Ingestor:
    """Built on the first invocation of a container (cold start); a bad environment fails it clearly."""
    global _ingestor
    if _ingestor is None:
        table = (
            kinds.table()
        )  # the packed reading kinds and the stack's topics, checked before the first reading
        compiled.checks()  # their msgspec Structs, made once per container
        _ingestor = build_ingestor(Config.from_env(sinks=table.sinks))
        # What the container holds for its life (modules, clients, the kind table) is set apart from the garbage
        # collector: its full collections, which scan every object, took a quarter of a batch's CPU (make
        # profile). What a batch makes is freed by reference counting. The collection first (about 8 ms) keeps
        # no garbage for good.
        gc.collect()
        gc.freeze()
        gc.set_threshold(YOUNG_GENERATION_THRESHOLD, *_PYTHON_THRESHOLDS[1:])
    return _ingestor


def reset() -> None:
    """Forget the container's state, as a new container would (tests and benchmarks)."""
    global _ingestor
    _ingestor = None
    metrics.clear()
    gc.unfreeze()  # what the last cold start set apart is collectable again (the next one sets apart its own)
    gc.set_threshold(*_PYTHON_THRESHOLDS)


def publish_metrics(result: BatchResult) -> None:
    """What every invocation has (written readings, the write's latency) is held by the container; what an
    alarm or an operator acts on goes out with this invocation (see ingest_to_influxdb.emf)."""
    for kind, count in result.written.items():
        metrics.hold("ReadingsWritten", count, dimension=("kind", kind))
    if result.write_seconds is not None:
        metrics.sample("WriteLatency", result.write_seconds * 1000, "Milliseconds")
    for reason, count in result.rejected.items():
        metrics.add("ReadingsRejected", count, dimension=("reason", reason))
    metrics.add("ReadingsFailed", len(result.failed))
    metrics.add("MetadataMisses", result.metadata_misses)
    metrics.add("MetadataAttributesDropped", sum(result.dropped_attributes.values()))
    # Per sink (a kind may write to several): what each took, what each missed (retried or on the dead letters).
    if set(result.sink_written) - {INFLUXDB_SINK}:
        for sink, count in result.sink_written.items():
            metrics.hold("SinkReadingsWritten", count, dimension=("sink", sink))
    for sink, count in result.missing.items():
        metrics.add("SinkReadingsMissing", count, dimension=("sink", sink))
    metrics.add("ReadingsDeadLettered", result.dead_lettered)


def lambda_handler(event: Any, context: Any) -> dict[str, Any]:  # context: Lambda's LambdaContext
    try:
        return _handle(event, context)
    finally:
        metrics.flush()  # also when the invocation fails: its failed count is what the operator needs


@logger.inject_lambda_context(clear_state=True)
def _handle(event: Any, context: LambdaContext) -> dict[str, Any]:
    records, batch = records_from_event(event)
    result = ingestor().ingest(
        records, lambda: context.get_remaining_time_in_millis() / 1000, ordered=is_kinesis_event(event)
    )
    publish_metrics(result)
    summary = {
        "records": len(records),
        "written": result.total_written,
        "rejected": sum(result.rejected.values()),
        "failed": len(result.failed),
        "metadata_misses": result.metadata_misses,
        **({"dead_letters": result.dead_lettered, "missing": dict(result.missing)} if result.missing else {}),
    }
    # Readings to retry: WARN, which a WARN filter keeps (the runtime's own error line may not survive it:
    # it carries `log_level`, not `level`, aws/aws-lambda-python-runtime-interface-client#202).
    if result.failed:
        logger.warning(
            "invocation summary",
            extra={**summary, "rejected_by_reason": dict(result.rejected), "errors": result.errors[:5]},
        )
    elif result.rejected or result.dropped_attributes:
        logger.info(
            "invocation summary",
            extra={**summary, "rejected_by_reason": dict(result.rejected), "errors": result.errors[:5]},
        )
    else:
        logger.debug("invocation summary", extra=summary)
    if batch:
        return {"batchItemFailures": [{"itemIdentifier": record_id} for record_id in result.failed]}
    if result.failed:
        raise IngestFailed("; ".join(result.errors) or "the reading could not be written")
    return summary
