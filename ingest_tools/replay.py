"""`python -m ingest_tools.replay`: drain the dead letters back through the ingest code.

A message is deleted only after its reading was written, or kept on the rejected-readings queue
because it can never be written; before it is deleted its id goes into a ledger file, so a run that
was stopped between the two does not file the same rejection again. Whatever one message holds, it
alone is affected: a message that cannot be read is rejected with its reason, never a crash. It understands every dead-letter shape: Lambda's on-failure
destination records, IoT rule error-action messages, and readings moved by the ingest queue's redrive
policy. On the stream path it then reads the stream mapping's on-failure bucket: each object is a failed batch
with its records (`payload`), deleted once every reading of it is placed (a reading's id is the object's key and
its sequence number, in the same ledger). `--queue rejected` re-checks rejected readings after a fix: the valid ones are written, the
others go back to the rejected queue with their current reason. A dead letter that names the sinks missing its
reading (`missing_sinks`: a sink of its kind was down while the others took it) is written to those sinks only.

Locally the ingest code runs in this process against the sandbox (InfluxDB from endpoints.json, the
writer's credentials from its secret in moto; the SQL sink the sandbox's MariaDB through its local RDS Data API,
else whatever SQL_RESOURCE_ARN, SQL_SECRET_ARN, SQL_DATABASE and AWS_ENDPOINT_URL_RDS_DATA name). On AWS (`--aws`)
InfluxDB is reachable only inside the VPC, so each reading is handed to the deployed function itself.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
from ingest_to_influxdb import basic_ingest, kinds
from ingest_to_influxdb.config import Config, sql_config
from ingest_to_influxdb.errors import ConfigError
from ingest_to_influxdb.events import Record, record_from_dead_letter, records_from_stream_failure
from ingest_to_influxdb.handler import build_ingestor
from ingest_to_influxdb.ingestor import Ingestor
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from infrastructure.stacks import influxdb, ingest
from ingest_tools.tooling import Deployment, locate
from reach.endpoints import DEFAULT_PATH, STREAM_FAILURES_KEY

RECEIVE_MAX = 10
HOLD_SECONDS = 120  # a message left in the queue is not received again during this run
DEFAULT_LEDGER = Path(".sandbox/replay-ledger.txt")
QUEUES = {
    "dead-letter": ("dead_letter", ingest.DEAD_LETTER_QUEUE_URL.output),
    "rejected": ("rejected", ingest.REJECTED_QUEUE_URL.output),
}


@dataclass
class Outcome:
    failed: set[str] = field(default_factory=set)
    written: int = 0
    rejected: int = 0
    errors: list[str] = field(default_factory=list)


Handle = Callable[[list[Record]], Outcome]


@dataclass
class Summary:
    received: int = 0
    written: int = 0
    rejected: int = 0
    failed: int = 0
    already_placed: int = 0  # placed by an earlier run that stopped before deleting them
    held_elsewhere: int = 0  # being received by another consumer (or a stopped run) when this one ended
    errors: list[str] = field(default_factory=list)


class Ledger:
    """The ids of messages whose outcome is durable (written, or filed as rejected), one per line."""

    def __init__(self, path: Path, queue_url: str) -> None:
        self.path, self.prefix = path, f"{queue_url} "
        lines = path.read_text().splitlines() if path.exists() else []
        self.placed = {line[len(self.prefix) :] for line in lines if line.startswith(self.prefix)}

    def add(self, message_ids: list[str]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a") as ledger:
            ledger.writelines(f"{self.prefix}{message_id}\n" for message_id in message_ids)
            ledger.flush()
            os.fsync(ledger.fileno())
        self.placed.update(message_ids)


def safely(handle: Handle) -> Handle:
    """A batch whose handling raises is handled one record at a time; a record that raises alone fails alone."""

    def each(records: list[Record]) -> Outcome:
        try:
            return handle(records)
        except Exception as error:
            if len(records) == 1:
                return Outcome({records[0].id}, errors=[f"{type(error).__name__}: {error}"])
        outcome = Outcome()
        for record in records:
            single = each([record])
            outcome.failed |= single.failed
            outcome.written += single.written
            outcome.rejected += single.rejected
            outcome.errors += single.errors
        return outcome

    return each


def read_record(message: Mapping[str, Any]) -> Record:
    try:
        return record_from_dead_letter(message["MessageId"], message["Body"])
    except Exception:  # an unforeseen shape: the body as it is, to be rejected with its reason
        return Record(message["MessageId"], message["Body"])


def ingestor_handle(ingestor: Ingestor) -> Handle:
    """The ingest code in this process, exactly as the function runs it."""

    def handle(records: list[Record]) -> Outcome:
        result = ingestor.ingest(records)
        return Outcome(set(result.failed), result.total_written, sum(result.rejected.values()), result.errors)

    return handle


def function_handle(function_name: str) -> Handle:
    """The deployed function, invoked synchronously with each reading (on AWS)."""
    client = boto3.client("lambda")

    def handle(records: list[Record]) -> Outcome:
        outcome = Outcome()
        for record in records:
            payload = record.payload if not isinstance(record.payload, bytes) else record.payload.decode()
            response = client.invoke(FunctionName=function_name, Payload=json.dumps(payload).encode())
            result = json.loads(response["Payload"].read() or b"{}")
            if response.get("FunctionError"):
                outcome.failed.add(record.id)
                outcome.errors.append(str(result.get("errorMessage", result)))
            else:
                outcome.written += int(result.get("written", 0))
                outcome.rejected += int(result.get("rejected", 0))
        return outcome

    return handle


def _made_by_this_run(body: str, started: datetime) -> bool:
    """A rejection this run put back on the rejected queue: not to be taken again."""
    try:
        rejected_at = json.loads(body).get("rejected_at", "")
        return datetime.fromisoformat(rejected_at) >= started
    except (ValueError, AttributeError, TypeError):
        return False


def drain(queue_url: str, handle: Handle, console: Console, ledger: Ledger) -> Summary:
    sqs, summary, started = boto3.client("sqs"), Summary(), datetime.now(UTC)
    handle = safely(handle)
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages"])
    depth = int(attributes["Attributes"]["ApproximateNumberOfMessages"])
    released: list[str] = []  # failed, or put back by this run: visible again once the run ends
    columns = (TextColumn("replaying"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("replaying", total=depth or None)
        while received := sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=RECEIVE_MAX,
            VisibilityTimeout=HOLD_SECONDS,
            WaitTimeSeconds=0,
        ).get("Messages", []):
            taken = [m for m in received if not _made_by_this_run(m["Body"], started)]
            released += [m["ReceiptHandle"] for m in received if m not in taken]
            placed_before = [m for m in taken if m["MessageId"] in ledger.placed]
            taken = [m for m in taken if m not in placed_before]
            outcome = handle([read_record(m) for m in taken]) if taken else Outcome()
            done = [m for m in taken if m["MessageId"] not in outcome.failed]
            ledger.add([m["MessageId"] for m in done])  # durable before the messages go
            if done or placed_before:
                sqs.delete_message_batch(
                    QueueUrl=queue_url,
                    Entries=[
                        {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                        for i, m in enumerate(done + placed_before)
                    ],
                )
            summary.already_placed += len(placed_before)
            released += [m["ReceiptHandle"] for m in taken if m["MessageId"] in outcome.failed]
            summary.received += len(taken)
            summary.written += outcome.written
            summary.rejected += outcome.rejected
            summary.failed += len(outcome.failed)
            summary.errors += [e for e in outcome.errors if e not in summary.errors]
            progress.advance(task, len(taken))
    for start in range(0, len(released), RECEIVE_MAX):
        chunk = released[start : start + RECEIVE_MAX]
        sqs.change_message_visibility_batch(
            QueueUrl=queue_url,
            Entries=[{"Id": str(i), "ReceiptHandle": h, "VisibilityTimeout": 0} for i, h in enumerate(chunk)],
        )
    attributes = sqs.get_queue_attributes(
        QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessagesNotVisible"]
    )
    summary.held_elsewhere = int(attributes["Attributes"]["ApproximateNumberOfMessagesNotVisible"])
    return summary


def drain_bucket(bucket: str, handle: Handle, console: Console, ledger: Ledger) -> Summary:
    """Replay the stream path's failed batches from the on-failure bucket; an object goes once all it holds is
    placed (written, or kept on the rejected queue with its reason)."""
    s3, summary = boto3.client("s3"), Summary()
    handle = safely(handle)
    keys = [
        item["Key"]
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
        for item in page.get("Contents", [])
    ]
    columns = (TextColumn("replaying failed batches"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("replaying", total=len(keys) or None)
        for key in keys:
            body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
            records = records_from_stream_failure(key, body)
            placed_before = [r for r in records if r.id in ledger.placed]
            taken = [r for r in records if r.id not in ledger.placed]
            outcome = handle(taken) if taken else Outcome()
            ledger.add([r.id for r in taken if r.id not in outcome.failed])  # durable before the object goes
            if not outcome.failed:
                s3.delete_object(Bucket=bucket, Key=key)
            summary.already_placed += len(placed_before)
            summary.received += len(taken)
            summary.written += outcome.written
            summary.rejected += outcome.rejected
            summary.failed += len(outcome.failed)
            summary.errors += [e for e in outcome.errors if e not in summary.errors]
            progress.advance(task)
    return summary


def use_deployed_kinds(deployment: Deployment, endpoints: Path | None) -> None:
    """The ingest code run here reads the kinds the deployed function carries (written next to endpoints.json
    by the rule runner, from the function's zip) and the topics its environment gives them."""
    packed = (endpoints or DEFAULT_PATH).parent / kinds.PACKAGED_NAME
    if not packed.exists():
        raise SystemExit(
            f"{packed} does not exist: the rule runner writes it when it starts; run 'make demo'"
        )
    os.environ[kinds.FILE_VARIABLE] = str(packed)
    function = deployment.outputs.get(ingest.FUNCTION_NAME.output)
    if function:
        variables = boto3.client("lambda").get_function_configuration(FunctionName=function)
        environment = variables.get("Environment", {}).get("Variables", {})
        # The kinds' topics, and the rules of the kinds that take Basic Ingest (their readings name the rule).
        for name in (kinds.TOPICS_VARIABLE, basic_ingest.RULES_VARIABLE):
            if environment.get(name):
                os.environ[name] = environment[name]
    kinds.reset()


def local_config(deployment: Deployment, queues: dict[str, str], table: str | None) -> Config:
    """The function's configuration pointed at the sandbox, as the local rule runner gives it."""
    local = deployment.local
    if local is None:
        raise SystemExit("the local configuration needs the sandbox's endpoints: run 'make demo'")
    secret_name = influxdb.secret_name("writer", deployment.environment)
    try:
        secret_arn = boto3.client("secretsmanager").describe_secret(SecretId=secret_name)["ARN"]
    except Exception as error:
        raise SystemExit(
            f"the writer's secret {secret_name} is not in the sandbox ({error}): run 'make demo'"
        ) from None
    # The sandbox's SQL sink, through its local RDS Data API, as the rule runner gives it.
    if local.sql is not None:
        os.environ.update(local.sql.function_environment())
    try:  # the SQL sink, when a kind the function carries writes to it
        sql = sql_config(os.environ, kinds.table().sinks)
    except ConfigError as error:
        raise SystemExit(f"{error} (for the replay: set them in its environment)") from None
    metadata_table = table or deployment.outputs.get(ingest.METADATA_TABLE_NAME.output)
    if not metadata_table:
        raise SystemExit(
            f"no metadata table: deploy the {deployment.environment}-ingest stack or pass --table"
        )
    return Config(
        influxdb_url=local.influxdb.url,
        influxdb_database=local.influxdb.database,
        influxdb_secret_arn=secret_arn,
        metadata_table=metadata_table,
        rejected_queue_url=queues["rejected"],
        # the sandbox's influxd serves HTTPS with a certificate of the sandbox's CA
        influxdb_ca_certificate=Path(local.influxdb.ca_file).read_text() if local.influxdb.ca_file else None,
        sql=sql,
    )


def print_summary(console: Console, queue: str, summary: Summary) -> None:
    table = Table(title=f"Replay of the {queue}")
    table.add_column("messages")
    table.add_column("count", justify="right")
    table.add_row("received", str(summary.received))
    table.add_row("written (to every sink that missed them)", str(summary.written))
    table.add_row("kept on the rejected queue (with reason)", str(summary.rejected))
    table.add_row("failed again (left in the queue)", str(summary.failed))
    if summary.already_placed:
        table.add_row("placed by an earlier run (now deleted)", str(summary.already_placed))
    if summary.held_elsewhere:
        table.add_row("held by another consumer or a stopped run", str(summary.held_elsewhere))
    console.print(table)
    for error in summary.errors[:5]:
        console.print(f"[red]error:[/] {error}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ingest_tools.replay", description=__doc__)
    parser.add_argument("--queue", choices=sorted(QUEUES), default="dead-letter")
    parser.add_argument("--environment", default="demo")
    parser.add_argument(
        "--endpoints", type=Path, help="the sandbox's endpoints.json (default .sandbox/endpoints.json)"
    )
    parser.add_argument("--table", help="the metadata table (default: the ingest stack's MetadataTableName)")
    parser.add_argument("--aws", action="store_true", help="replay on AWS through the deployed function")
    parser.add_argument(
        "--ledger", type=Path, default=DEFAULT_LEDGER, help="where replay notes what it has placed"
    )
    args = parser.parse_args(argv)
    console = Console()
    local_name, output_name = QUEUES[args.queue]
    deployment = locate(args.environment, args.endpoints, args.aws, need_stack=args.aws or not args.table)
    if args.aws:
        queue_url = deployment.outputs[output_name]
        bucket = deployment.outputs.get(ingest.STREAM_FAILURE_BUCKET_NAME.output)
        handle = function_handle(deployment.outputs[ingest.FUNCTION_NAME.output])
    else:
        queues = {**(deployment.local.queues if deployment.local else {})}
        queues.setdefault("rejected", deployment.outputs.get(ingest.REJECTED_QUEUE_URL.output, ""))
        queues.setdefault("dead_letter", deployment.outputs.get(ingest.DEAD_LETTER_QUEUE_URL.output, ""))
        if not queues[local_name] or not queues["rejected"]:
            raise SystemExit("the sandbox has no ingest queues yet: run 'make demo' first")
        queue_url = queues[local_name]
        bucket = queues.get(STREAM_FAILURES_KEY)
        use_deployed_kinds(deployment, args.endpoints)
        handle = ingestor_handle(build_ingestor(local_config(deployment, queues, args.table)))
    summary = drain(queue_url, handle, console, Ledger(args.ledger, queue_url))
    print_summary(console, f"{args.queue} queue", summary)
    if bucket and args.queue == "dead-letter":  # the stream path's dead letters
        failed_batches = drain_bucket(bucket, handle, console, Ledger(args.ledger, f"s3://{bucket}"))
        print_summary(console, "stream's failed batches", failed_batches)
        summary.failed += failed_batches.failed
    if summary.failed:
        console.print(
            "[red]some messages failed again[/]: are the sinks up (InfluxDB, SQL)? Run the replay again once they are."
        )
        return 1
    if summary.held_elsewhere:
        console.print(
            f"[red]{summary.held_elsewhere} messages are being received elsewhere[/] (another replay, or one "
            f"that was stopped): they are visible again within {HOLD_SECONDS} s; run the replay again then."
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
