"""A new kind of device is one file: a third kind in a temporary catalog folder goes through synth, the deploy to
moto, the rule runner, the simulator, InfluxDB's start-up and the dashboards, with no file of the repository
touched; the same deployment gives pressure a topic of its own, which the function follows.

It is a returning user's sandbox, stopped (`make down`) and started again (`python -m sandbox up`'s deploy) as
the kinds change, so the rule runner rejoins its kept MQTT session, which must be subscribed as the rules now
say: the kind and the topic first on the queued path, then taken out (no subscription left behind), then the
kind added and the topic changed again on the direct path (every reading of both lands)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from awscrt import mqtt
from ingest_to_influxdb import basic_ingest

from catalog.loader import DEFAULT_FOLDER, FOLDER_VARIABLE, PROJECT_ROOT
from grafana import build
from local_aws.iot.subscriptions import SUBSCRIPTIONS_FILE, read_sessions
from reach.endpoints import Endpoints
from reach.mqtt import plain_connection
from sandbox.manager.deployment import RULE_RUNNER, aws_environment, deploy_local, rule_runner_stats
from sandbox.manager.services import Sandbox
from sandbox.scenarios.accounting import count_points, queue_depth
from simulator.api import FleetGroup, run_groups
from simulator.cli import main as simulator
from tests.support.kind_files import TEMPERATURE
from tests.support.pipeline import Pipeline

CUSTOM_PRESSURE_TOPIC = "/plant1/pressure"
DEVICES, READINGS = 3, 5


def git_status() -> str:
    return subprocess.run(
        ["git", "status", "--porcelain"], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True
    ).stdout


@pytest.fixture(scope="module")
def status_before() -> str:
    """The repository's files before anything of the new kind is built or deployed."""
    return git_status()


@pytest.fixture(scope="module")
def catalog_folder(status_before: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    folder = tmp_path_factory.mktemp("device-kinds")
    for path in DEFAULT_FOLDER.glob("*.yaml"):
        shutil.copy(path, folder)
    (folder / "temperature.yaml").write_text(TEMPERATURE)
    previous = os.environ.get(FOLDER_VARIABLE)
    os.environ[FOLDER_VARIABLE] = str(folder)  # synth, deploy, rule runner, simulator and sandbox all read it
    try:
        yield folder
    finally:
        if previous is None:
            os.environ.pop(FOLDER_VARIABLE)
        else:
            os.environ[FOLDER_VARIABLE] = previous


@contextmanager
def kinds_from(folder: Path) -> Iterator[None]:
    """The catalog folder that synth, deploy, the rule runner and the sandbox's start-up read, for the duration."""
    previous = os.environ[FOLDER_VARIABLE]
    os.environ[FOLDER_VARIABLE] = str(folder)
    try:
        yield
    finally:
        os.environ[FOLDER_VARIABLE] = previous


def points_landed(endpoints: Endpoints, since: datetime, expected: dict[str, int]) -> dict[str, int]:
    """The points per measurement since `since`, once they are `expected` (or 90 s have passed)."""
    until = datetime.now(UTC) + timedelta(minutes=1)
    deadline = time.monotonic() + 90
    while (
        counts := {m: n for m, n in count_points(endpoints, since, until).items() if n}
    ) != expected and time.monotonic() < deadline:
        time.sleep(0.5)
    return counts


def runner_session(sandbox: Sandbox) -> str:
    """How the rule runner's last connection found its session, from its log."""
    lines = sandbox.log_file(RULE_RUNNER).read_text().splitlines()
    return [line for line in lines if "connected to the broker" in line][-1]


@dataclass(frozen=True)
class Deployment:
    ingest_path: str
    with_the_kind: bool  # the catalog with the temperature kind, and pressure on its own topic


QUEUED_WITH_THE_KIND = Deployment("queued", with_the_kind=True)
DIRECT_WITHOUT_IT = Deployment("direct", with_the_kind=False)
DIRECT_WITH_IT = Deployment("direct", with_the_kind=True)


class History:
    """One sandbox of a returning user, deployed again as the tests ask: each time `make down`, then
    `python -m sandbox up`'s deploy with the catalog and parameters of the deployment asked for."""

    def __init__(self, root: Path, catalog_folder: Path) -> None:
        self.sandbox, self.templates, self.catalog_folder = (
            Sandbox(root / "sandbox"),
            root / "templates",
            catalog_folder,
        )
        self.current: Deployment | None = None
        self.pipeline: Pipeline | None = None

    def at(self, deployment: Deployment) -> Pipeline:
        if self.current != deployment or self.pipeline is None:
            self.sandbox.down()
            with kinds_from(self.catalog_folder if deployment.with_the_kind else DEFAULT_FOLDER):
                endpoints = deploy_local(
                    self.sandbox,
                    ingest_path=deployment.ingest_path,
                    templates=self.templates,
                    parameters={"PressureTopic": CUSTOM_PRESSURE_TOPIC} if deployment.with_the_kind else None,
                )
            self.current, self.pipeline = deployment, Pipeline(self.sandbox, endpoints, self.templates)
        return self.pipeline


@pytest.fixture(scope="module")
def history(catalog_folder: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[History]:
    made = History(tmp_path_factory.mktemp("returning"), catalog_folder)
    try:
        yield made
    finally:
        made.sandbox.down()


def test_a_third_kind_and_a_custom_topic_go_end_to_end_on_the_queued_path(
    history: History, status_before: str
) -> None:
    pipeline = history.at(QUEUED_WITH_THE_KIND)
    with aws_environment(pipeline.endpoints):
        goes_end_to_end(pipeline, status_before)


TEMPERATURE_FILTERS = {
    "/rooms/climate",
    basic_ingest.subscription(basic_ingest.rule_name("demo", "temperature")),
}


def test_a_removed_kind_and_a_topic_changed_back_leave_no_subscription_behind(
    history: History, capsys: pytest.CaptureFixture[str]
) -> None:
    history.at(QUEUED_WITH_THE_KIND)
    subscriptions_before = broker_subscriptions(history.sandbox.endpoints())
    pipeline = history.at(DIRECT_WITHOUT_IT)
    assert runner_session(pipeline.sandbox).endswith("(session kept: True)")
    (filters,) = read_sessions(pipeline.sandbox.root / SUBSCRIPTIONS_FILE).values()
    assert "/pressure/data" in filters
    assert not (TEMPERATURE_FILTERS | {CUSTOM_PRESSURE_TOPIC}) & set(filters)
    # The broker's own count: the temperature kind's two fewer (pressure's topic was replaced, not added).
    assert broker_subscriptions(pipeline.endpoints) == subscriptions_before - len(TEMPERATURE_FILTERS)

    # Readings on the removed topics do not reach the runner; those on a rule's topic do.
    with aws_environment(pipeline.endpoints):
        pipeline.publish("/rooms/climate", [b'{"temp": 21, "rh": 40}'])
        # The simulator tells readings sent where no rule reads, and fails.
        code = simulator(["run", "--type", "pressure", "--topic", f"pressure={CUSTOM_PRESSURE_TOPIC}", "--devices", "1",
                          "--count", "2", "--json", "--endpoints", str(pipeline.sandbox.endpoints_path)])  # fmt: skip
        out, err = capsys.readouterr()
        assert code == 1 and json.loads(out)["to_no_rule"] == 2
        assert f"2 pressure to {CUSTOM_PRESSURE_TOPIC}" in " ".join(err.split())
        since = datetime.now(UTC)
        run_groups(pipeline.sandbox.endpoints_path, [FleetGroup("pressure", 1)], rate=20.0, count=READINGS)
        assert points_landed(pipeline.endpoints, since, {"pressure": READINGS}) == {"pressure": READINGS}
    assert runner_received(pipeline.sandbox, at_least=READINGS) == READINGS


def runner_received(sandbox: Sandbox, at_least: int) -> int:
    """What the rule runner has received, once it has at least `at_least` and holds nothing (from its stats). A
    reading on a topic it was still subscribed to would have come before the later ones, on the same session."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        stats = rule_runner_stats(sandbox)
        if stats.get("idle") and stats.get("received", 0) >= at_least:
            return int(stats["received"])
        time.sleep(0.2)
    raise AssertionError(f"the rule runner did not receive {at_least} readings and finish them: {stats}")


def test_a_kind_added_and_a_topic_changed_on_a_returning_sandbox_go_end_to_end(
    history: History, status_before: str
) -> None:
    history.at(DIRECT_WITHOUT_IT)  # what the runner's kept session was subscribed for
    pipeline = history.at(DIRECT_WITH_IT)
    assert runner_session(pipeline.sandbox).endswith("(session kept: True)")
    with aws_environment(pipeline.endpoints):
        goes_end_to_end(pipeline, status_before)


def broker_subscriptions(endpoints: Endpoints, timeout: float = 10.0) -> int:
    """The subscriptions mosquitto holds for every session, from its $SYS topic, once it has settled: the broker
    publishes the count every second (sys_interval 1), so one read can be a second old."""
    counts = [_subscription_count(endpoints, timeout)]
    for _ in range(10):
        time.sleep(1.5)
        counts.append(_subscription_count(endpoints, timeout))
        if counts[-1] == counts[-2]:
            break
    return counts[-1]


def _subscription_count(endpoints: Endpoints, timeout: float) -> int:
    """One read of the count, less the one this asks with."""
    got: Future[int] = Future()

    def on_message(payload: bytes, **_: Any) -> None:
        if not got.done():
            got.set_result(int(payload.decode()))

    connection = plain_connection(endpoints, f"subscriptions-{time.monotonic_ns()}", clean_session=True)
    connection.connect().result(timeout=timeout)
    try:
        topic = "$SYS/broker/subscriptions/count"
        connection.subscribe(topic, mqtt.QoS.AT_MOST_ONCE, callback=on_message)[0].result(timeout)
        return got.result(timeout=timeout) - 1
    finally:
        connection.disconnect().result(timeout=timeout)


def goes_end_to_end(third_kind: Pipeline, status_before: str) -> None:
    template = json.loads((third_kind.templates / "ingest.json").read_text())
    assert template["Parameters"]["TemperatureTopic"]["Default"] == "/rooms/climate"
    assert "TemperatureRule" in template["Resources"]

    rejected_before = queue_depth(third_kind.endpoints.queues["rejected"])
    since = datetime.now(UTC)
    summary = run_groups(
        third_kind.sandbox.endpoints_path,
        [FleetGroup("temperature", DEVICES), FleetGroup("pressure", DEVICES, topic=CUSTOM_PRESSURE_TOPIC)],
        rate=20.0,
        count=READINGS,
    )
    assert summary.acknowledged == 2 * DEVICES * READINGS
    # Points of the new kind and of pressure, and none of any other kind.
    expected = {"pressure": DEVICES * READINGS, "room_climate": DEVICES * READINGS}
    assert points_landed(third_kind.endpoints, since, expected) == expected
    assert queue_depth(third_kind.endpoints.queues["rejected"]) == rejected_before  # none as unknown_topic

    # Enriched: the metadata tags of its item, its own tag, both fields.
    series = third_kind.query(
        f"SELECT count(temperature), count(humidity) FROM room_climate WHERE time >= '{since.isoformat()}' "
        "GROUP BY sensorID, manufacturer, room"
    )
    assert len(series) == DEVICES
    for one in series:
        assert one["tags"]["manufacturer"] in ("Acme Devices Ltd.", "Borealis Instruments")
        assert one["tags"]["room"] in ("kitchen", "hall", "lab")
        assert one["values"][0][1:] == [READINGS, READINGS]

    # Its continuous queries, from the same start-up script, with both aggregates.
    (cqs,) = [s for s in third_kind.query("SHOW CONTINUOUS QUERIES") if s["name"] == "telemetry"]
    queries = {row[0]: row[1] for row in cqs["values"]}
    assert {"cq_room_climate_1m", "cq_room_climate_1h"} <= set(queries)
    assert "max(humidity) AS humidity_max INTO telemetry.rp_1m.room_climate" in queries["cq_room_climate_1m"]

    # Its dashboard: generated, and in the Grafana task that was deployed.
    board = json.loads(build.generate()["room-climate.json"])
    assert [p["title"] for p in board["panels"]] == [
        "Temperature per sensor",
        "Current temperature",
        "Humidity per sensor",
    ]
    stack = boto3.client("cloudformation").describe_stacks(StackName="demo-grafana")["Stacks"][0]
    parameters = {p["ParameterKey"]: p["ParameterValue"] for p in stack["Parameters"]}
    stored = boto3.client("s3").get_object(
        Bucket=parameters["ProvisioningBucket"], Key=parameters["DashboardsPrefix"] + "room-climate.json"
    )
    assert json.loads(stored["Body"].read())["title"] == "Room climate"

    assert git_status() == status_before, "adding a kind touched files of the repository"
