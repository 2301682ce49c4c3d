"""Each InfluxDB secret's rotation as docs/deploying.md says it ("Secrets and their rotation"), carried out on the
real influxd, started by the task's own command (services/influxdb/start.sh) on one retained data directory:
put a new value in the secret, restart the service, and the new password logs in, the old one is refused, the
readings are still written and none already there is lost. Also the stack made anew on the retained file system
(new secrets, no previous version) and a first deploy (no previous version either).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ingest_to_influxdb.influx_writer import InfluxWriter
from ingest_to_influxdb.secrets import SecretCredentials

from infrastructure import service_files
from infrastructure.stacks import influxdb
from reach.endpoints import Endpoints
from reach.influx import QueryError
from tests.support.influx_task import (
    InfluxTask,
    create_secrets,
    credentials,
    new_password,
    role_secret,
    running_task,
    secrets_client,
)

REFUSED = 401
BASE_MS = (int(time.time()) - 600) * 1000  # readings of ten minutes ago: inside the raw retention


def put(client: Any, name: str, username: str) -> str:
    password = new_password()
    client.put_secret_value(
        SecretId=name, SecretString=json.dumps({"username": username, "password": password})
    )
    return password


@pytest.fixture(scope="module")
def secrets(endpoints: Endpoints) -> Any:
    return secrets_client(endpoints)


@pytest.fixture(scope="module")
def task(secrets: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[InfluxTask]:
    """The first deploy: new secrets with no previous version, an empty file system."""
    with running_task(secrets, "rot", tmp_path_factory.mktemp("influx-task")) as task:
        yield task


def function_writer(task: InfluxTask, client: Any) -> InfluxWriter:
    """The ingest function's writer, with its credentials from the writer's secret (re-read after a 401)."""
    name = role_secret(task.environment, "writer")
    return InfluxWriter(
        task.url,
        "telemetry",
        SecretCredentials(client, name),
        retry_delays=(),
        ca_certificate=Path(task.ca_file).read_text(),
    )


def write_reading(writer: InfluxWriter, sensor: str, at_ms: int) -> None:
    refused = writer.write(
        [f"pressure,sensorID={sensor} pressureValue=1.5 {(BASE_MS + at_ms) * 1_000_000}"], lambda: 30.0
    )
    assert refused == {}


def count(task: InfluxTask, sensor: str) -> int:
    user, password = credentials(task.secrets, task.environment, "reader")
    series = task.query(
        f'SELECT count("pressureValue") FROM "pressure" WHERE "sensorID" = \'{sensor}\'', user, password
    )
    return int(series[0]["values"][0][1]) if series else 0


def assert_logs_in(task: InfluxTask, role: str, password: str, *, ok: bool) -> None:
    user = influxdb.ROLES[role]
    if role == "writer":
        answer = task.write(
            f"pressure,sensorID=probe pressureValue=0 {int(time.time() * 1000)}", user, password
        )
        assert answer.status_code == (204 if ok else REFUSED), answer.text
    else:
        statement = "SHOW DATABASES" if role == "admin" else "SHOW MEASUREMENTS"
        if ok:
            task.query(statement, user, password)
        else:
            with pytest.raises(QueryError, match=f"answered {REFUSED}"):
                task.query(statement, user, password)


def test_first_deploy_has_no_previous_secret_and_starts(task: InfluxTask, secrets: Any) -> None:
    name = role_secret(task.environment, "admin")
    stages = [v["VersionStages"] for v in secrets.list_secret_version_ids(SecretId=name)["Versions"]]
    assert stages == [["AWSCURRENT"]]
    for role in influxdb.ROLES:
        assert_logs_in(task, role, credentials(secrets, task.environment, role)[1], ok=True)


def test_admin_rotation(task: InfluxTask, secrets: Any) -> None:
    writer = function_writer(task, secrets)
    write_reading(writer, "admin-rotation", 1_000)
    _, old = credentials(secrets, task.environment, "admin")
    name = role_secret(task.environment, "admin")
    put(secrets, name, "admin")
    new = put(secrets, name, "admin")  # twice before one restart: AWSPREVIOUS is not what the database has
    task.restart()
    assert "setting it with authentication off, on 127.0.0.1 only" in task.log_text()
    assert_logs_in(task, "admin", new, ok=True)
    assert_logs_in(task, "admin", old, ok=False)
    write_reading(writer, "admin-rotation", 2_000)
    assert count(task, "admin-rotation") == 2
    task.restart()  # and the next start is an ordinary one
    assert "authentication off" not in task.log_text()


@pytest.mark.parametrize("role", ["writer", "reader"])
def test_client_rotation(task: InfluxTask, secrets: Any, role: str) -> None:
    writer = function_writer(task, secrets)
    sensor = f"{role}-rotation"
    write_reading(writer, sensor, 1_000)  # the function holds the writer's password from before
    _, old = credentials(secrets, task.environment, role)
    new = put(secrets, role_secret(task.environment, role), influxdb.ROLES[role])
    task.restart()
    assert_logs_in(task, role, new, ok=True)
    assert_logs_in(task, role, old, ok=False)
    write_reading(writer, sensor, 2_000)  # a 401, the secret read again, written
    assert count(task, sensor) == 2


def test_stack_made_anew_on_the_retained_file_system(task: InfluxTask, secrets: Any) -> None:
    """destroy, then deploy: the secrets are new (no previous version), the data directory is the old one."""
    write_reading(function_writer(task, secrets), "made-anew", 1_000)
    task.stop()
    for role in influxdb.ROLES:
        secrets.delete_secret(SecretId=role_secret(task.environment, role), ForceDeleteWithoutRecovery=True)
    create_secrets(secrets, task.environment)
    task.start()
    for role in influxdb.ROLES:
        assert_logs_in(task, role, credentials(secrets, task.environment, role)[1], ok=True)
    write_reading(function_writer(task, secrets), "made-anew", 2_000)
    assert count(task, "made-anew") == 2


def test_break_glass_start_listens_on_loopback_only_without_graphite() -> None:
    """The one start with authentication off is reachable from the task's own containers only."""
    (start,) = [part for part in service_files.load("influxdb").command if "influxd &" in part]
    (line,) = [line for line in start.splitlines() if "INFLUXDB_HTTP_AUTH_ENABLED=false" in line]
    assert 'INFLUXDB_HTTP_BIND_ADDRESS="127.0.0.1:$INFLUXDB_PORT"' in line
    assert (
        "INFLUXDB_GRAPHITE_0_ENABLED=false"
        in start.split("INFLUXDB_HTTP_AUTH_ENABLED=false", 1)[1].split("&")[0]
    )
