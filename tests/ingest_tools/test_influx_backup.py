"""Backups you can restore, on the real influxd of the influxdb task's own command (start.sh): write, back up
(`make backup`), wipe, restore (`make restore`), and every point is back, in every retention policy, with its tags
and field types; a restore into the running database keeps what was written since the backup.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from ingest_tools import influx_backup
from reach.endpoints import Endpoints, endpoints_file
from tests.support.influx_task import InfluxTask, credentials, running_task, secrets_client

POLICIES = ("autogen", "rp_1m", "rp_1h")  # init-influxdb.sh's


@pytest.fixture(scope="module")
def task(endpoints: Endpoints, tmp_path_factory: pytest.TempPathFactory) -> Iterator[InfluxTask]:
    with running_task(secrets_client(endpoints), "bak", tmp_path_factory.mktemp("influx-backup")) as task:
        yield task


@pytest.fixture
def local(task: InfluxTask, endpoints: Endpoints) -> Endpoints:
    """endpoints.json as the tool reads it, naming this task's InfluxDB."""
    return task.endpoints(endpoints)


def write(task: InfluxTask, lines: list[str], rp: str | None = None) -> None:
    user, password = credentials(task.secrets, task.environment, "admin")
    params = {"db": "telemetry", "precision": "ms", **({"rp": rp} if rp else {})}
    answer = requests.post(
        f"{task.url}/write",
        params=params,
        auth=(user, password),
        data="\n".join(lines).encode(),
        timeout=30,
        verify=task.ca_file,
    )
    assert answer.status_code == 204, answer.text


def everything(task: InfluxTask) -> dict[str, Any]:
    """Every point of every policy with its series, tags and values, and every field's type."""
    user, password = credentials(task.secrets, task.environment, "admin")
    found: dict[str, Any] = {}
    for statement in [f'SELECT * FROM "{rp}"./.*/ GROUP BY *' for rp in POLICIES] + ["SHOW FIELD KEYS"]:
        found[statement] = task.query(statement, user, password)
    return found


def points(found: dict[str, Any]) -> int:
    return sum(
        len(s["values"]) for statement, series in found.items() if "SELECT" in statement for s in series
    )


def readings(start_ms: int, count: int) -> list[str]:
    """Both kinds' shapes: float fields and tags with a space (pressure), an integer field (product_count)."""
    pressure = [
        f"pressure,sensorID=p{s},manufacturer=Acme\\ Devices pressureValue={s + i / 10},viscosity={i}.5 "
        f"{start_ms + i * 1000}"
        for s in range(20)
        for i in range(count)
    ]
    shelf = [
        f"product_count,sensorID=shelf{s},product_id=sku{s} count={i}i {start_ms + i * 1000}"
        for s in range(3)
        for i in range(count)
    ]
    return pressure + shelf


def hours_ago_ms() -> int:
    """Five hours ago, on a minute: inside every policy's duration, outside the windows the continuous queries
    compute again (10 min, 3 h), so they add no point of their own while the test compares."""
    return (int(time.time()) - 5 * 3600) // 60 * 60_000


def test_write_back_up_wipe_restore_every_point_back(
    task: InfluxTask, local: Endpoints, tmp_path: Path
) -> None:
    start = hours_ago_ms()
    write(task, readings(start, count=50))
    write(task, [f"pressure,sensorID=p{s} pressureValue={s}.25 {start}" for s in range(20)], rp="rp_1m")
    write(
        task,
        [f"product_count,sensorID=shelf{s},product_id=sku{s} count=7 {start}" for s in range(3)],
        rp="rp_1h",
    )
    before = everything(task)
    assert points(before) == 23 * 50 + 20 + 3

    assert "backup: telemetry in" in influx_backup.backup(local, tmp_path / "backup")

    # The volume is lost: a new, empty file system and a first start (users from the secrets).
    task.stop()
    shutil.rmtree(task.root / "efs")
    task.start()
    assert points(everything(task)) == 0

    assert "is back in telemetry" in influx_backup.restore(local, tmp_path / "backup")
    assert everything(task) == before


def test_restore_into_the_running_database_keeps_what_came_since(
    task: InfluxTask, local: Endpoints, tmp_path: Path
) -> None:
    start = hours_ago_ms() - 600_000
    write(task, [f"pressure,sensorID=kept pressureValue={i}.5 {start + i * 1000}" for i in range(30)])
    influx_backup.backup(local, tmp_path / "backup")
    write(task, [f"pressure,sensorID=since pressureValue={i}.5 {start + i * 1000}" for i in range(30)])
    user, password = credentials(task.secrets, task.environment, "admin")
    task.query('DELETE FROM "pressure" WHERE "sensorID" = \'kept\'', user, password)

    influx_backup.restore(local, tmp_path / "backup")

    for sensor in ("kept", "since"):
        answer = task.query(
            f'SELECT count(*) FROM "pressure" WHERE "sensorID" = \'{sensor}\'', user, password
        )
        assert answer[0]["values"][0][1] == 30, sensor
    # The temporary database the backup was restored into is gone.
    answer = task.query("SHOW DATABASES", user, password)
    assert [row[0] for row in answer[0]["values"]] == ["telemetry"]


def test_the_command_line_backs_up_and_restores(
    task: InfluxTask, local: Endpoints, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`make backup` and `make restore BACKUP=...` as a user runs them, on endpoints.json."""
    path = endpoints_file(tmp_path)
    local.save(path)
    assert influx_backup.main(["--endpoints", str(path), "backup", "--to", str(tmp_path / "b")]) == 0
    assert influx_backup.main(["--endpoints", str(path), "restore", str(tmp_path / "b")]) == 0
    assert "is back in telemetry" in capsys.readouterr().out
    # A directory that holds no backup: one line saying so, exit 1, nothing touched.
    assert influx_backup.main(["--endpoints", str(path), "restore", str(tmp_path)]) == 1
    assert "holds no portable backup" in capsys.readouterr().err
    assert influx_backup.main(["--endpoints", str(endpoints_file(tmp_path / "none")), "backup"]) == 2
