"""Notifications per second through the webhook handler, against the real local influxd and moto's server.

Deliveries of 1, 100 and 1,000 button notifications (distinct endpoints, metadata cached after the first
lookup, as in a warm container) go through `lambda_handler` as API Gateway's events; the baseline is the delivery
of one notification. Each figure is a median of several runs; the time of one delivery says how fast the
service gets its answer. The handler, its clients, influxd and moto all run on this machine.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
from ingest_to_influxdb import environment, kinds
from rich.console import Console
from rich.table import Table

from benchmarks.bench_kinds import influxdb_only_kinds
from benchmarks.handler_cases import Context, provision
from catalog import load_catalog
from catalog.lwm2m import webhook_mapping_json
from local_aws.apigateway.http_api import http_api_event
from sandbox.manager.services import Sandbox

RUNS = 3
ENDPOINTS = 1_000
SECRET = "bench-callback-secret"
SIZES = [(1, 300), (100, 20), (1_000, 4)]  # (notifications per delivery, deliveries per run)


class Deliveries:
    def __init__(self) -> None:
        self.n = 0

    def event(self, notifications: int) -> dict[str, Any]:
        notes: list[dict[str, Any]] = []
        for _ in range(notifications):
            self.n += 1
            payload = base64.b64encode(str(self.n).encode()).decode()
            notes.append(
                {"ep": f"bench-button-{self.n % ENDPOINTS}", "path": "/3200/0/5501", "payload": payload}
            )
        body = json.dumps({"notifications": notes}).encode()
        return http_api_event(
            "PUT /notifications", "PUT", "/notifications", {"authorization": f"Bearer {SECRET}"}, body
        )


def run(deliveries: Deliveries, notifications: int, count: int) -> Callable[[], float]:
    from webhook_to_influxdb.handler import lambda_handler

    events = [deliveries.event(notifications) for _ in range(count)]

    def work() -> float:
        started = time.perf_counter()
        for event in events:
            response = lambda_handler(event, Context())
            summary = json.loads(response["body"])
            if response["statusCode"] != 200 or summary["written"] != notifications:
                raise RuntimeError(f"not written: {response}")
        return time.perf_counter() - started

    return work


def main() -> int:
    console = Console()
    rates: dict[int, list[float]] = {}
    per_delivery: dict[int, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-webhook-") as folder:
        sandbox = Sandbox(Path(folder) / "sandbox")
        saved = dict(os.environ)
        try:
            console.print("starting influxd and moto ...")
            endpoints = sandbox.up()
            os.environ.update(endpoints.aws.env())
            os.environ.update(provision(endpoints))
            secret = boto3.client("secretsmanager").create_secret(Name="bench/webhook", SecretString=SECRET)
            os.environ[environment.WEBHOOK_SECRET_ARN] = secret["ARN"]
            os.environ[environment.DEAD_LETTER_QUEUE_URL] = boto3.client("sqs").create_queue(
                QueueName="bench-dead"
            )["QueueUrl"]
            os.environ[environment.LWM2M_MAPPING] = webhook_mapping_json(load_catalog())
            kinds_file = Path(folder) / kinds.PACKAGED_NAME  # as the deploy tool packs them into the zip
            kinds_file.write_text(influxdb_only_kinds())
            os.environ[kinds.FILE_VARIABLE] = str(kinds_file)
            from webhook_to_influxdb import handler

            handler.reset()
            deliveries = Deliveries()
            with contextlib.redirect_stdout(io.StringIO()):
                run(deliveries, 1, 5)()  # cold start: secrets, pool
                run(deliveries, ENDPOINTS, 1)()  # every endpoint's metadata lookup, once
                for _ in range(RUNS):
                    for notifications, count in SIZES:
                        elapsed = run(deliveries, notifications, count)()
                        rates.setdefault(notifications, []).append(notifications * count / elapsed)
                        per_delivery.setdefault(notifications, []).append(elapsed / count * 1000)
        finally:
            sandbox.down()
            os.environ.clear()
            os.environ.update(saved)

    baseline = statistics.median(rates[1])
    table = Table(
        title=f"Webhook: notifications per second through the handler (median of {RUNS} runs, this machine)"
    )
    for column in (
        "notifications per delivery",
        "notifications/s",
        "range",
        "ms per delivery",
        "vs one per delivery",
    ):
        table.add_column(column, justify="right")
    for notifications, _ in SIZES:
        values = rates[notifications]
        median = statistics.median(values)
        table.add_row(
            f"{notifications:,}",
            f"{median:,.0f}",
            f"{min(values):,.0f} - {max(values):,.0f}",
            f"{statistics.median(per_delivery[notifications]):,.1f}",
            f"{median / baseline:,.1f} x",
        )
    console.print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
