"""Grafana's and Chronograf's start scripts pick the reader's credentials from the reader's whole secret: Basic (the
ECS store's username and password) or Token (the managed store's token), whichever it holds. The Basic header's
credentials are sent to the real influxd; no InfluxDB 2.x server can run here, so the Token header is checked as text (Grafana's
provisioning docs give `Authorization: Token <token>` for InfluxQL on InfluxDB 2.x)."""

from __future__ import annotations

import base64
import json
import os
import subprocess
from pathlib import Path

import pytest

from reach.endpoints import Endpoints
from reach.influx import InfluxReader, QueryError

SERVICES = Path(__file__).resolve().parents[2] / "services"


def grafana_start(tmp_path: Path, reader: str) -> subprocess.CompletedProcess[str]:
    """services/grafana/start.sh with a stand-in for the image's /run.sh that prints the header it was given."""
    run = tmp_path / "run.sh"
    run.write_text(
        '#!/bin/sh\necho "authorization=$INFLUXDB_AUTHORIZATION reader=${INFLUXDB_READER:-gone}"\n'
    )
    run.chmod(0o755)
    (tmp_path / "dashboards").mkdir(exist_ok=True)
    (tmp_path / "dashboards" / "one.json").write_text("{}")
    env = {
        "PATH": os.environ["PATH"],
        "GRAFANA_DATASOURCES_YAML": "apiVersion: 1",
        "GRAFANA_DASHBOARDS_YAML": "apiVersion: 1",
        "INFLUXDB_READER": reader,
        "GF_PATHS_PROVISIONING": str(tmp_path / "provisioning"),
        "GRAFANA_DASHBOARDS_DIR": str(tmp_path / "dashboards"),
        "GRAFANA_RUN": str(run),
    }
    script = SERVICES / "grafana" / "start.sh"
    return subprocess.run(
        ["sh", str(script)], env=env, capture_output=True, text=True, timeout=30, check=False
    )


def header(result: subprocess.CompletedProcess[str]) -> str:
    (found,) = [line for line in result.stdout.splitlines() if line.startswith("authorization=")]
    value, _, rest = found.removeprefix("authorization=").partition(" reader=")
    assert rest == "gone", "the whole secret is not passed on to Grafana"
    return value


def test_grafana_reads_the_ecs_store_with_the_reader_s_password(endpoints: Endpoints, tmp_path: Path) -> None:
    influx = endpoints.influxdb
    reader = json.dumps({"username": influx.users.reader.username, "password": influx.users.reader.password})
    result = grafana_start(tmp_path, reader)
    assert result.returncode == 0, result.stderr
    value = header(result)
    assert value.startswith("Basic ")
    # Basic is the user and password in base64: what the reader (and Grafana) sends influxd for them.
    user, _, password = base64.b64decode(value.removeprefix("Basic ")).decode().partition(":")
    assert (user, password) == (influx.users.reader.username, influx.users.reader.password)
    InfluxReader(influx.url, influx.database, user, password, ca_file=influx.ca_file).raw("SHOW MEASUREMENTS")
    with pytest.raises(QueryError, match="401"):
        InfluxReader(influx.url, influx.database, user, "wrong", ca_file=influx.ca_file).raw(
            "SHOW MEASUREMENTS"
        )


def test_grafana_reads_the_managed_store_with_the_reader_s_token(tmp_path: Path) -> None:
    result = grafana_start(tmp_path, '{\n  "token": "aB3-_x=="\n}')
    assert result.returncode == 0, result.stderr
    assert header(result) == "Token aB3-_x=="
    assert "uses the reader's token" in result.stdout


def test_a_reader_secret_with_nothing_usable_stops_grafana(tmp_path: Path) -> None:
    result = grafana_start(tmp_path, '{"username": "reader"}')
    assert result.returncode == 1
    assert "neither a token nor a username and password" in result.stderr


def chronograf_start(tmp_path: Path, reader: str) -> subprocess.CompletedProcess[str]:
    run = tmp_path / "chronograf"
    run.write_text(
        '#!/bin/sh\necho "token=${INFLUXDB_TOKEN:-} org=${INFLUXDB_ORG:-} '
        'user=${INFLUXDB_USERNAME:-} password=${INFLUXDB_PASSWORD:-}"\n'
    )
    run.chmod(0o755)
    env = {
        "PATH": os.environ["PATH"],
        "INFLUXDB_READER": reader,
        "INFLUXDB_ORGANIZATION": "iot-telemetry",
        "CHRONOGRAF_RUN": str(run),
    }
    script = SERVICES / "chronograf" / "start.sh"
    return subprocess.run(
        ["sh", str(script)], env=env, capture_output=True, text=True, timeout=30, check=False
    )


def test_chronograf_connects_with_the_token_or_the_password(tmp_path: Path) -> None:
    from infrastructure.stacks import influxdb

    managed = chronograf_start(tmp_path, '{"token": "t0k"}')
    assert managed.returncode == 0, managed.stderr
    assert f"token=t0k org={influxdb.ORGANIZATION} user= password=" in managed.stdout
    ecs = chronograf_start(tmp_path, '{"username": "reader", "password": "pw"}')
    assert ecs.returncode == 0, ecs.stderr
    assert "token= org= user=reader password=pw" in ecs.stdout
