"""services/influxdb/init-influxdb.sh on the real influxd: a kind removed from the catalog loses its continuous
queries at the next start (sandbox up, or the ECS task after a deploy); its points stay."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

from catalog.loader import FOLDER_VARIABLE
from reach.endpoints import Endpoints
from sandbox.manager.services import run_influxdb_init
from tests.support import readings
from tests.support.kind_files import add_kind_file, catalog_copy


def test_a_removed_kind_loses_its_continuous_queries_and_keeps_its_data(
    endpoints: Endpoints, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = readings.continuous_queries(endpoints)
    folder = catalog_copy(tmp_path, monkeypatch)
    add_kind_file(folder, "tank")
    try:
        added = run_influxdb_init(endpoints)
        assert added.returncode == 0, added.stderr
        assert set(readings.continuous_queries(endpoints)) == set(before) | {
            "cq_tank_level_1m",
            "cq_tank_level_1h",
        }
        writer = endpoints.influxdb.users.writer
        response = requests.post(
            f"{endpoints.influxdb.url}/write",
            params={"db": endpoints.influxdb.database},
            auth=(writer.username, writer.password),
            data=b"tank_level,sensorID=t1 level=42",
            timeout=10,
            verify=endpoints.influxdb.verify,
        )
        assert response.status_code == 204, response.text

        (folder / "tank.yaml").unlink()
        removed = run_influxdb_init(endpoints)
        assert removed.returncode == 0, removed.stderr
        assert "dropped cq_tank_level_1m" in removed.stdout and "dropped cq_tank_level_1h" in removed.stdout
        assert readings.continuous_queries(endpoints) == before, "the other kinds' queries are untouched"
        (series,) = readings.query(endpoints, 'SELECT "level" FROM "tank_level"')
        assert series["values"][0][1] == 42, "the removed kind's points stay"
    finally:
        monkeypatch.delenv(FOLDER_VARIABLE)
        assert run_influxdb_init(endpoints).returncode == 0
        readings.query(endpoints, 'DROP MEASUREMENT "tank_level"')
