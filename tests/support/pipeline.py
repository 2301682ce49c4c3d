"""The whole pipeline on real processes: influxd, mosquitto, moto server, and the rule runner.

Only the AWS cloud is played by moto; IoT Core's rules engine and Lambda's invocation are played by
the sandbox's rule runner, from the same synthesized template that AWS gets.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from infrastructure.stacks import influxdb
from reach import influx
from reach.endpoints import STREAM_KEY, Endpoints
from reach.mqtt import publish_all
from sandbox.manager.deployment import (
    aws_environment,
    deploy_local,
    rule_runner_stats,
)
from sandbox.manager.services import Sandbox
from sandbox.scenarios.accounting import broker_backlog, in_flight, queue_depths


class Pipeline:
    def __init__(self, sandbox: Sandbox, endpoints: Endpoints, templates: Path) -> None:
        self.sandbox, self.endpoints, self.templates = sandbox, endpoints, templates

    def query(self, q: str) -> list[dict[str, Any]]:
        return influx.query(self.endpoints, q)

    def wait_drained(self, timeout: float = 120) -> None:
        """Until the broker, the rule runner and the ingest queue or stream hold nothing (the readings are written,
        rejected or dead-lettered), twice in a row a second apart."""
        deadline, quiet = time.monotonic() + timeout, 0
        while quiet < 2:
            assert time.monotonic() < deadline, f"still in flight after {timeout} s"
            flight = in_flight(
                broker_backlog(self.endpoints),
                rule_runner_stats(self.sandbox),
                (depths := queue_depths(self.endpoints, self.sandbox.root)).get("ingest", 0),
                depths.get(STREAM_KEY, 0),
            )
            quiet = quiet + 1 if flight.total == 0 else 0
            time.sleep(1.0)

    def publish(self, topic: str, payloads: list[bytes]) -> None:
        """Publish raw payloads at QoS 1 and wait for every PUBACK."""
        publish_all(self.endpoints, topic, payloads, f"e2e-publisher-{datetime.now(UTC).timestamp()}")


def reading(
    deviceid: str, when: datetime, pressure: int = 800, viscosity: int = 50, metakey: str = "123456789"
) -> bytes:
    body = {
        "pressure": pressure,
        "viscosity": viscosity,
        "sensordatetime": when.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "deviceid": deviceid,
        "clientid": f"{deviceid}-client",
        "metakey": metakey,
    }
    return json.dumps(body).encode()


def recent(minutes: int = 10) -> datetime:
    return datetime.now(UTC) - timedelta(minutes=minutes)


@pytest.fixture(scope="session")
def pipelines(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Pipeline]]:
    """One deployment per ingest path, made when first asked for, shared by every e2e test."""
    made: dict[str, Pipeline] = {}
    try:
        yield made
    finally:
        for pipeline in made.values():
            pipeline.sandbox.down()


def pipeline_for(pipelines: dict[str, Pipeline], root: Path, ingest_path: str) -> Pipeline:
    if ingest_path not in pipelines:
        sandbox = Sandbox(root / "sandbox")
        templates = root / "templates"
        try:
            endpoints = deploy_local(sandbox, ingest_path=ingest_path, templates=templates)
        except BaseException:
            sandbox.down()
            raise
        pipelines[ingest_path] = Pipeline(sandbox, endpoints, templates)
    return pipelines[ingest_path]


def _in_use(
    pipelines: dict[str, Pipeline], tmp_path_factory: pytest.TempPathFactory, ingest_path: str
) -> Iterator[Pipeline]:
    """The path's deployment, with the process's AWS settings pointing at its moto while the test runs."""
    chosen = pipeline_for(pipelines, tmp_path_factory.mktemp(f"e2e-{ingest_path}"), ingest_path)
    with aws_environment(chosen.endpoints):
        yield chosen


@pytest.fixture(params=["direct", "queued"])
def pipeline(
    request: pytest.FixtureRequest, pipelines: dict[str, Pipeline], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Pipeline]:
    yield from _in_use(pipelines, tmp_path_factory, request.param)


@pytest.fixture
def direct_pipeline(
    pipelines: dict[str, Pipeline], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Pipeline]:
    yield from _in_use(pipelines, tmp_path_factory, "direct")


@pytest.fixture
def stream_pipeline(
    pipelines: dict[str, Pipeline], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Pipeline]:
    yield from _in_use(pipelines, tmp_path_factory, "stream")


WRITER_SECRET = influxdb.secret_name("writer", "demo")


def count_for(pipeline: Pipeline, device_prefix: str) -> int:
    series = pipeline.query(f"SELECT count(pressureValue) FROM pressure WHERE sensorID =~ /^{device_prefix}/")
    return int(series[0]["values"][0][1]) if series else 0


def drain(pipeline: Pipeline, queue: str) -> list[dict[str, Any]]:
    import boto3

    sqs, url, bodies = boto3.client("sqs"), pipeline.endpoints.queues[queue], []
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get(
        "Messages"
    ):
        for message in messages:
            bodies.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return bodies
