"""services/influxdb/init-influxdb.sh against the real influxd: retention, grants, continuous queries."""

from __future__ import annotations

import pytest
import requests

from reach.endpoints import Endpoints
from reach.influx import QueryError
from reach.influx import query as influx_query
from sandbox.manager.services import run_influxdb_init
from tests.support import readings
from tests.support.readings import MINUTE_MS, SENSORS, SHELVES


@pytest.fixture(scope="module")
def start(endpoints: Endpoints) -> int:
    return readings.ensure_written(endpoints)


def test_retention_policies(endpoints: Endpoints) -> None:
    (series,) = readings.query(endpoints, 'SHOW RETENTION POLICIES ON "telemetry"')
    policies = {row[0]: (row[1], row[4]) for row in series["values"]}
    assert policies == {
        "autogen": ("720h0m0s", True),
        "rp_1m": ("2160h0m0s", False),
        "rp_1h": ("26280h0m0s", False),
    }


def test_continuous_queries_keep_means_of_every_field_by_every_tag(endpoints: Endpoints) -> None:
    queries = readings.continuous_queries(endpoints)
    assert set(queries) == {"cq_pressure_1m", "cq_pressure_1h", "cq_product_count_1m", "cq_product_count_1h"}
    assert (
        "mean(pressureValue) AS pressureValue, mean(viscosity) AS viscosity INTO telemetry.rp_1m.pressure"
        in (queries["cq_pressure_1m"])
    )
    assert "GROUP BY time(1h), *" in queries["cq_product_count_1h"]


def test_continuous_queries_produce_the_downsampled_series(endpoints: Endpoints, start: int) -> None:
    window = f"time >= {start}ms AND time < {start + 4 * MINUTE_MS}ms"
    minute = readings.query(
        endpoints,
        f'SELECT "pressureValue", "viscosity" FROM "rp_1m"."pressure" WHERE {window} GROUP BY "sensorID"',
    )
    got = {s["tags"]["sensorID"]: [(row[1], row[2]) for row in s["values"]] for s in minute}
    assert got == {s.sensor_id: list(zip(s.pressure, s.viscosity, strict=True)) for s in SENSORS}
    # Every tag is kept: the metadata tags are there to filter on, and absent where the reading had none.
    tags = readings.query(endpoints, 'SHOW TAG VALUES FROM "rp_1m"."pressure" WITH KEY = "manufacturer"')
    assert {"Acme Devices Ltd.", "Globex"} <= {v[1] for v in tags[0]["values"]}
    hour = readings.query(
        endpoints,
        f'SELECT "count" FROM "rp_1h"."product_count" WHERE time >= {start - 600_000}ms '
        f'AND time < {start + 3_000_000}ms GROUP BY "sensorID", "product_id"',
    )
    got_counts = {(s["tags"]["sensorID"], s["tags"]["product_id"]): [r[1] for r in s["values"]] for s in hour}
    assert got_counts == {(sensor, product): [sum(c) / 4] for sensor, product, c in SHELVES}


def test_users_have_exactly_their_grants(endpoints: Endpoints) -> None:
    influx = endpoints.influxdb
    reader = influx.users.reader
    write = requests.post(
        f"{influx.url}/write",
        params={"db": influx.database},
        auth=(reader.username, reader.password),
        data=b"pressure,sensorID=x pressureValue=1",
        timeout=10,
        verify=influx.verify,
    )
    assert write.status_code == 403
    with pytest.raises(QueryError, match="not authorized"):
        influx_query(endpoints, 'SELECT * FROM "pressure" LIMIT 1', user="writer")


def test_script_is_idempotent(endpoints: Endpoints, start: int) -> None:
    before = readings.continuous_queries(endpoints)
    result = run_influxdb_init(endpoints)
    assert result.returncode == 0, result.stderr
    assert readings.continuous_queries(endpoints) == before
    test_retention_policies(endpoints)
    # The data is untouched by a second run.
    assert readings.query(endpoints, f'SELECT count("pressureValue") FROM "pressure" WHERE time = {start}ms')
