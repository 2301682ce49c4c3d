"""A new kind of device is one file: a third kind in a temporary catalog folder goes through synth, the deploy to
moto, the rule runner, the simulator, InfluxDB's start-up and the dashboards, with no file of the repository
touched; the same deployment gives pressure a topic of its own, which the function follows."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest

from catalog.loader import DEFAULT_FOLDER, FOLDER_VARIABLE
from grafana import build
from sandbox.accounting import count_points, queue_depth
from sandbox.deployment import aws_environment, deploy_local
from sandbox.services import PROJECT_ROOT, Sandbox
from simulator.api import FleetGroup, run_groups
from tests.e2e.conftest import Pipeline

TEMPERATURE = """\
name: temperature
description: Air temperature and humidity of a room.
topic: /rooms/climate
measurement: room_climate
sensor_id: [deviceid, clientid]
fields:
  temperature: {attribute: temp, label: Temperature, unit: celsius, range: {min: 10, max: 35},
                alert: {above: 30, for_minutes: 10}}
  humidity: {attribute: rh, label: Humidity, unit: humidity, range: {min: 0, max: 100}}
tags:
  room: {attribute: room}
silent_after_minutes: 15
downsampling: {fields: [temperature, humidity], aggregates: [mean, max]}
simulator:
  attributes:
    temp: {type: sine, mean: 21, amplitude: 2, period_seconds: 600, noise: 0.2}
    rh: {type: float_range, min: 30, max: 60, decimals: 1}
    room: {type: choice, by_device: true, values: [kitchen, hall, lab]}
    sensordatetime: {type: timestamp, format: iso_ms}
    deviceid: {type: short_id, length: 7, static: true}
    clientid: {type: uuid, static: true}
    metakey: {type: choice, static: true, values: ["123456789", "123456790"]}
dashboard:
  uid: room-climate
  title: Room climate
  description: Temperature and humidity per sensor.
  filters: [manufacturer, sensor]
  panels:
    - {field: temperature, show: mean_per_sensor, width: 16}
    - {field: temperature, show: current_per_sensor, width: 8, thresholds: [{color: green}, {from: 30, color: red}]}
    - {field: humidity, show: mean_per_sensor, width: 24}
"""
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


@pytest.fixture(scope="module", params=["direct", "queued"])
def third_kind(
    request: pytest.FixtureRequest, catalog_folder: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Pipeline]:
    root = tmp_path_factory.mktemp(f"third-kind-{request.param}")
    sandbox = Sandbox(root / "sandbox")
    try:
        endpoints = deploy_local(
            sandbox,
            ingest_path=request.param,
            templates=root / "templates",
            parameters={"PressureTopic": CUSTOM_PRESSURE_TOPIC},
        )
        with aws_environment(endpoints):
            yield Pipeline(sandbox, endpoints, root / "templates")
    finally:
        sandbox.down()


def test_a_third_kind_and_a_custom_topic_go_end_to_end(third_kind: Pipeline, status_before: str) -> None:
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
    until = datetime.now(UTC) + timedelta(minutes=1)
    # Points of the new kind and of pressure, and none of any other kind.
    expected = {"pressure": DEVICES * READINGS, "room_climate": DEVICES * READINGS}
    deadline = time.monotonic() + 90
    while (
        counts := {m: n for m, n in count_points(third_kind.endpoints, since, until).items() if n}
    ) != expected and time.monotonic() < deadline:
        time.sleep(0.5)
    assert counts == expected
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
