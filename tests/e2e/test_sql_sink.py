"""The demo's kinds that write to both sinks (pressure over MQTT, the button by webhook) through the real broker,
rule runner, functions, InfluxDB and MariaDB (behind the local RDS Data API): every reading in both stores, the
hourly chart's numbers the same from each, and a hostile sensor id stored as it came."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from ingest_to_influxdb import sql_schema
from ingest_to_influxdb.kinds import SQL_SINK

from catalog import load_catalog
from reach import sql
from sandbox.scenarios.accounting import count_rows
from simulator.webhook import WebhookFleet, local_target
from tests.support.pipeline import Pipeline, reading

DEVICES, READINGS = 6, 12
T = TypeVar("T")


def sql_readings(pipeline: Pipeline, prefix: str) -> dict[str, int]:
    """Readings per sensor of the pressure kind in the SQL sink, for sensors whose id starts with `prefix`."""
    rows = sql.query(
        pipeline.endpoints,
        "SELECT sensor, COUNT(DISTINCT ts) FROM events WHERE board = :board AND sensor LIKE :prefix GROUP BY sensor",
        {"board": "pressure", "prefix": f"{prefix}%"},
    )
    return {str(sensor): int(str(count)) for sensor, count in rows}


def influx_readings(pipeline: Pipeline, prefix: str) -> dict[str, int]:
    series = pipeline.query(
        f"SELECT count(pressureValue) FROM pressure WHERE sensorID =~ /^{prefix}/ GROUP BY sensorID"
    )
    return {s["tags"]["sensorID"]: int(s["values"][0][1]) for s in series}


def wait_for(read: Callable[[], T], expected: T, timeout: float = 120) -> T:
    """What `read()` gives once it is `expected`, or at the timeout."""
    deadline = time.monotonic() + timeout
    while (found := read()) != expected and time.monotonic() < deadline:
        time.sleep(0.5)
    return found


def test_the_demo_kinds_write_to_both_sinks() -> None:
    kinds = {kind.name: kind for kind in load_catalog()}
    assert SQL_SINK in kinds["pressure"].sinks and SQL_SINK in kinds["button"].sinks


def test_every_reading_reaches_both_stores_with_the_same_hourly_numbers(pipeline: Pipeline) -> None:
    prefix = f"sql-{uuid.uuid4().hex[:6]}-"
    # Readings over three hours (a device catching up), so the hourly chart has several bars.
    start = (datetime.now(UTC) - timedelta(hours=3)).replace(minute=0, second=0, microsecond=0)
    step = timedelta(hours=3) / READINGS
    for device in range(DEVICES):
        payloads = [
            reading(
                f"{prefix}{device}", start + i * step + timedelta(milliseconds=device), 600 + 10 * i + device
            )
            for i in range(READINGS)
        ]
        pipeline.publish("/pressure/data", payloads)
    # (the sensor id is the kind's sensor_id attributes joined: deviceid-clientid)
    expected = {f"{prefix}{device}-{prefix}{device}-client": READINGS for device in range(DEVICES)}
    assert wait_for(lambda: influx_readings(pipeline, prefix), expected) == expected
    assert wait_for(lambda: sql_readings(pipeline, prefix), expected) == expected

    # The hourly chart: readings and the mean pressure per hour per sensor, from each store.
    end = start + timedelta(hours=3)
    series = pipeline.query(
        f"SELECT count(pressureValue), mean(pressureValue) FROM pressure WHERE sensorID =~ /^{prefix}/ "
        f"AND time >= '{start.isoformat()}' AND time < '{end.isoformat()}' GROUP BY time(1h), sensorID"
    )
    from_influx = {
        (datetime.fromtimestamp(t / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S"), s["tags"]["sensorID"]): (
            n,
            mean,
        )
        for s in series
        for t, n, mean in s["values"]
        if n
    }
    rows = sql.query(
        pipeline.endpoints,
        sql_schema.HOURLY,
        {"board": "pressure", "field": "pressureValue", "start": start, "end": end},
    )
    from_sql = {
        (str(hour)[:19], str(sensor)): (int(str(count)), float(str(mean)))
        for hour, sensor, count, mean in rows
        if str(sensor).startswith(prefix)
    }
    assert from_sql.keys() == from_influx.keys() and len(from_sql) == 3 * DEVICES
    for key, (count, mean) in from_influx.items():
        assert from_sql[key][0] == count, key
        assert abs(from_sql[key][1] - mean) < 1e-6, key

    # Enriched in SQL too: the device's metadata tags, joinable on the reading.
    tags = sql.query(
        pipeline.endpoints,
        "SELECT DISTINCT name FROM event_tags WHERE board = :board AND sensor = :sensor",
        {"board": "pressure", "sensor": f"{prefix}0-{prefix}0-client"},
    )
    assert {"manufacturer", "family"} <= {str(name) for (name,) in tags}


def test_a_hostile_sensor_id_is_stored_as_it_came(direct_pipeline: Pipeline) -> None:
    hostile = f"x'); DROP TABLE events; -- \\ \" :ts %_ {uuid.uuid4().hex[:6]}"
    direct_pipeline.publish("/pressure/data", [reading(hostile, datetime.now(UTC) - timedelta(seconds=5))])
    sensor = f"{hostile}-{hostile}-client"

    def stored() -> list[list[object]]:
        return sql.query(
            direct_pipeline.endpoints,
            "SELECT sensor, field, value FROM events WHERE board = :board AND sensor = :sensor ORDER BY field",
            {"board": "pressure", "sensor": sensor},
        )

    assert wait_for(stored, [[sensor, "pressureValue", 800.0], [sensor, "viscosity", 50.0]]) == [
        [sensor, "pressureValue", 800.0],
        [sensor, "viscosity", 50.0],
    ]


def test_button_presses_by_webhook_reach_sql(direct_pipeline: Pipeline) -> None:
    since = datetime.now(UTC) - timedelta(seconds=1)
    before = count_rows(direct_pipeline.endpoints, since, since + timedelta(minutes=5)).get("button", 0)
    fleet = WebhookFleet(local_target(direct_pipeline.sandbox.endpoints_path), 3, 0, seed=11)
    counters = fleet.run(rate=20, count=2)
    assert counters.readings_failed == 0
    expected = before + counters.readings_sent
    until = datetime.now(UTC) + timedelta(minutes=1)
    assert (
        wait_for(lambda: count_rows(direct_pipeline.endpoints, since, until).get("button", 0), expected)
        == expected
    )
