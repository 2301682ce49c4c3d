"""Readings the dashboard tests write themselves, in the point form the ingest function writes, and the values they expect."""

from __future__ import annotations

import functools
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import requests

from reach import influx
from reach.endpoints import Endpoints
from reach.influx import User

MINUTE_MS = 60_000


@dataclass(frozen=True)
class Sensor:
    sensor_id: str
    manufacturer: str | None  # None: a reading whose metakey had no metadata item
    family: str | None
    pressure: tuple[float, ...]  # one reading a minute
    viscosity: tuple[float, ...]

    def tags(self) -> str:
        tags = f"sensorID={self.sensor_id}"
        if self.manufacturer and self.family:
            tags += f",manufacturer={escape(self.manufacturer)},family={self.family},component_id=a1b2c3d4"
            tags += ",calibration_date=2020-09-25"
        return tags


def escape(value: str) -> str:
    return value.replace(" ", r"\ ").replace(",", r"\,").replace("=", r"\=")


SENSORS = (
    Sensor("Xk3a9Qz-9b2c0001", "Acme Devices Ltd.", "sensors", (800, 820, 840, 860), (50, 52, 54, 56)),
    Sensor("Pq7b2Rt-9b2c0002", "Acme Devices Ltd.", "valves", (1000, 1010, 1020, 1030), (30, 31, 32, 33)),
    Sensor("Zz9c3Uv-9b2c0003", "Globex", "sensors", (600, 700, 650, 1400), (90, 91, 92, 93)),
    Sensor("Nm1d4Wx-9b2c0004", None, None, (1200, 1200, 1200, 1200), (70, 70, 70, 70)),
)

# Shelf devices: a cumulative counter per device; shelf-02's counter resets (device restart) at the third reading.
SHELVES = (
    ("shelf-01", "sku-apple", (10, 12, 15, 15)),
    ("shelf-02", "sku-apple", (5, 9, 0, 4)),
    ("shelf-03", "sku-pear", (100, 101, 103, 110)),
)

# Webhook buttons: each endpoint's press counter; button-01's resets (a reboot) at the third reading.
BUTTONS = (
    ("button-01", (10, 12, 0, 3)),
    ("button-02", (1, 1, 2, 5)),
)

# ingest_health: (kind, outcome, reason, count) per minute.
HEALTH = (
    ("pressure", "written", "", (20, 30, 25, 25)),
    ("shelf", "written", "", (3, 3, 3, 3)),
    ("pressure", "rejected", "bad_field", (1, 0, 2, 0)),
    ("pressure", "rejected", "bad_json", (0, 1, 0, 0)),
    ("pressure", "metadata_miss", "", (4, 4, 4, 4)),
)


def lines(start_ms: int) -> list[str]:
    """All points, one reading a minute from `start_ms` (a whole minute), timestamps in ms."""
    out = []
    for sensor in SENSORS:
        for i, (p, v) in enumerate(zip(sensor.pressure, sensor.viscosity, strict=True)):
            out.append(f"pressure,{sensor.tags()} pressureValue={p},viscosity={v} {start_ms + i * MINUTE_MS}")
    for sensor_id, product, counts in SHELVES:
        for i, count in enumerate(counts):
            out.append(
                f"product_count,sensorID={sensor_id},product_id={product} count={count} {start_ms + i * MINUTE_MS}"
            )
    for endpoint, presses in BUTTONS:
        for i, value in enumerate(presses):
            out.append(f"button,sensorID={endpoint} presses={value} {start_ms + i * MINUTE_MS}")
    for kind, outcome, reason, counts in HEALTH:
        tags = f"kind={kind},outcome={outcome},instance=test1" + (f",reason={reason}" if reason else "")
        for i, count in enumerate(counts):
            if count:
                out.append(f"ingest_health,{tags} count={count} {start_ms + i * MINUTE_MS + 30_000}")
    return out


def write(endpoints: Endpoints, start_ms: int) -> None:
    write_lines(endpoints, lines(start_ms))


def write_lines(endpoints: Endpoints, points: Iterable[str]) -> None:
    """Line protocol (times in ms) written with the writer's credentials, as the ingest function writes."""
    influx = endpoints.influxdb
    writer = influx.users.writer
    response = requests.post(
        f"{influx.url}/write",
        params={"db": influx.database, "precision": "ms"},
        auth=(writer.username, writer.password),
        data="\n".join(points).encode(),
        timeout=30,
        verify=influx.verify,
    )
    assert response.status_code == 204, response.text


@functools.cache
def window_start_ms() -> int:
    """Ten minutes past a whole hour three days ago: inside the raw retention and the 7-day panels, away from the
    readings other tests write at the current time, and all four minutes inside one hour."""
    hour_ms = 3_600_000
    return (int(time.time() * 1000) - 3 * 86_400_000) // hour_ms * hour_ms + 10 * MINUTE_MS


def query(endpoints: Endpoints, text: str, user: User = "admin") -> list[dict[str, Any]]:
    return influx.query(endpoints, text, user)


def continuous_queries(endpoints: Endpoints) -> dict[str, str]:
    """Name -> definition of the telemetry database's continuous queries, as the server stores them."""
    for series in query(endpoints, "SHOW CONTINUOUS QUERIES"):
        if series["name"] == endpoints.influxdb.database:
            return {name: text for name, text in series.get("values") or []}
    return {}


def run_downsampling(endpoints: Endpoints, start_ms: int, end_ms: int) -> None:
    """Runs every continuous query's own SELECT ... INTO by hand for a past window (no waiting for the scheduler)."""
    for name, definition in continuous_queries(endpoints).items():
        match = re.search(r"BEGIN (SELECT .+?) (GROUP BY .+) END$", definition)
        assert match, f"{name}: unexpected definition {definition}"
        select, group_by = match.groups()
        query(endpoints, f"{select} WHERE time >= {start_ms}ms AND time < {end_ms}ms {group_by}")


def ensure_written(endpoints: Endpoints) -> int:
    """Writes the readings (idempotent: same points, same timestamps) and their downsampled means; the start."""
    start = window_start_ms()
    write(endpoints, start)
    run_downsampling(endpoints, start - 3_600_000, start + 3_600_000)
    return start
