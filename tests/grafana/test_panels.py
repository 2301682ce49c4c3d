"""Every panel's query of every committed dashboard, run against the real influxd with the reader's credentials.

The readings are the tests' own (tests/grafana/readings.py), written with the writer's credentials in a past
window no other test writes to; each panel's series names, tags and values are checked.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from grafana import model
from grafana.expand import TimeRange, expand
from grafana.panel_data import Line, PanelData
from grafana.render import collect
from reach.endpoints import Endpoints
from reach.influx import InfluxReader
from tests.support import readings
from tests.support.readings import HEALTH, MINUTE_MS, SENSORS, SHELVES


@pytest.fixture(scope="module")
def start(endpoints: Endpoints) -> int:
    return readings.ensure_written(endpoints)


@pytest.fixture(scope="module")
def reader(endpoints: Endpoints) -> InfluxReader:
    return InfluxReader.of(endpoints, "reader")


@pytest.fixture(scope="module")
def dashboards() -> dict[str, model.Dashboard]:
    return {d.uid: d for d in model.load()}


@pytest.fixture(scope="module")
def panels(
    start: int, reader: InfluxReader, dashboards: dict[str, model.Dashboard]
) -> dict[str, dict[str, PanelData]]:
    """uid -> title -> what the panel's queries returned, for a range around the written minutes."""
    time_range = TimeRange(_at(start - MINUTE_MS), _at(start + 10 * MINUTE_MS))
    data = collect(list(dashboards.values()), reader, time_range, lambda: (7, "local queue"))
    by_uid: dict[str, dict[str, PanelData]] = {}
    for uid, dashboard in dashboards.items():
        by_uid[uid] = {d.panel.title: d for d in data if d.dashboard == dashboard.title}
    return by_uid


def _at(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def _values(line: Line) -> list[float]:
    return [v for v in line.values if v is not None and v != 0]


def _by_label(data: PanelData) -> dict[str, list[float]]:
    labels = [line.label for line in data.lines]
    assert len(labels) == len(set(labels)), f"{data.panel.title}: series names repeat: {labels}"
    return {line.label: _values(line) for line in data.lines}


def _times_by_label(data: PanelData) -> dict[str, list[int]]:
    return {
        line.label: [t for t, v in zip(line.times_ms, line.values, strict=True) if v] for line in data.lines
    }


def test_every_panel_was_checked(panels: dict[str, dict[str, PanelData]]) -> None:
    checked = {
        "pressure-viscosity": {
            "Pressure per sensor",
            "Current pressure",
            "Viscosity per sensor",
            "Current viscosity",
            "Pressure, 1-hour means (last 7d)",
            "Viscosity, 1-hour means (last 7d)",
        },
        "ingest-health": {
            "Readings written",
            "Readings rejected",
            "Metadata misses",
            "Readings written per minute, by kind",
            "Rejected per minute, by reason",
            "Metadata misses per minute, by kind",
            "Dead letters waiting",
        },
        "shelf-activity": {"Count per product", "Interactions per product", "Interactions in the time range"},
        "button-presses": {"Presses per hour per endpoint"},
    }
    assert {uid: set(titles) for uid, titles in panels.items()} == checked


def test_pressure_and_viscosity_per_sensor(panels: dict[str, dict[str, PanelData]], start: int) -> None:
    board = panels["pressure-viscosity"]
    expected_times = [start + i * MINUTE_MS for i in range(4)]
    pressure = board["Pressure per sensor"]
    assert _by_label(pressure) == {s.sensor_id: list(s.pressure) for s in SENSORS}
    # One mean per minute with a reading, at that minute; the empty intervals between stay null, never 0.
    assert all(t == expected_times for t in _times_by_label(pressure).values())
    assert all(0 not in line.values for line in pressure.lines)
    assert _by_label(board["Viscosity per sensor"]) == {s.sensor_id: list(s.viscosity) for s in SENSORS}
    # The reading without metadata is there too: "All" matches an absent manufacturer tag.
    assert "Nm1d4Wx-9b2c0004" in _by_label(pressure)


def test_gauges_show_the_latest_value_per_sensor(panels: dict[str, dict[str, PanelData]]) -> None:
    board = panels["pressure-viscosity"]
    gauge = board["Current pressure"]
    assert (gauge.panel.minimum, gauge.panel.maximum) == (500, 1500)
    assert {line.label: line.last for line in gauge.lines} == {s.sensor_id: s.pressure[-1] for s in SENSORS}
    assert {line.label: line.last for line in board["Current viscosity"].lines} == {
        s.sensor_id: s.viscosity[-1] for s in SENSORS
    }


def test_long_range_panels_read_the_hourly_means(panels: dict[str, dict[str, PanelData]]) -> None:
    board = panels["pressure-viscosity"]
    hourly = board["Pressure, 1-hour means (last 7d)"]
    assert "rp_1h" in hourly.panel.targets[0].query  # type: ignore[operator]
    assert hourly.interval_ms >= 3_600_000
    assert _by_label(hourly) == {s.sensor_id: [sum(s.pressure) / 4] for s in SENSORS}
    assert _by_label(board["Viscosity, 1-hour means (last 7d)"]) == {
        s.sensor_id: [sum(s.viscosity) / 4] for s in SENSORS
    }


def test_ingest_health_totals_and_rates(panels: dict[str, dict[str, PanelData]], start: int) -> None:
    board = panels["ingest-health"]

    def total(outcome: str) -> float:
        return float(sum(sum(counts) for _, o, _, counts in HEALTH if o == outcome))

    assert [line.last for line in board["Readings written"].lines] == [total("written")]
    assert [line.last for line in board["Readings rejected"].lines] == [total("rejected")]
    assert [line.last for line in board["Metadata misses"].lines] == [total("metadata_miss")]
    assert _by_label(board["Readings written per minute, by kind"]) == {
        "pressure": [20, 30, 25, 25],
        "shelf": [3, 3, 3, 3],
    }
    assert _by_label(board["Rejected per minute, by reason"]) == {"bad_field": [1, 2], "bad_json": [1]}
    assert _times_by_label(board["Rejected per minute, by reason"])["bad_json"] == [start + MINUTE_MS]
    assert _by_label(board["Metadata misses per minute, by kind"]) == {"pressure": [4, 4, 4, 4]}


def test_dead_letters_come_from_cloudwatch_on_aws(panels: dict[str, dict[str, PanelData]]) -> None:
    dead = panels["ingest-health"]["Dead letters waiting"]
    assert dead.panel.datasource_type == "cloudwatch"
    target = dead.panel.targets[0].raw
    assert (target["namespace"], target["metricName"]) == ("AWS/SQS", "ApproximateNumberOfMessagesVisible")
    assert [line.last for line in dead.lines] == [7]  # locally: the depth the render reads from moto's SQS


def test_per_minute_rates_hold_for_wider_intervals(
    reader: InfluxReader, dashboards: dict[str, model.Dashboard], start: int
) -> None:
    """With 2-minute intervals a count per minute is half the interval's sum."""
    board = dashboards["ingest-health"]
    panel = next(p for p in board.panels if p.title == "Readings written per minute, by kind")
    time_range = TimeRange(_at(start), _at(start + 4 * MINUTE_MS - 1))
    query = expand(panel.targets[0].query or "", board.variables, time_range, 2 * MINUTE_MS)
    series = {s.tags["kind"]: s.column("written") for s in reader.query(query)}
    assert series == {"pressure": [25.0, 25.0], "shelf": [3.0, 3.0]}


def test_shelf_counts_and_interactions_per_product(panels: dict[str, dict[str, PanelData]]) -> None:
    board = panels["shelf-activity"]
    apple = [a + b for a, b in zip(SHELVES[0][2], SHELVES[1][2], strict=True)]
    assert _by_label(board["Count per product"]) == {"sku-apple": apple, "sku-pear": list(SHELVES[2][2])}
    # shelf-02's counter reset (9 -> 0) counts nothing, not -9.
    assert _by_label(board["Interactions per product"]) == {"sku-apple": [6, 3, 4], "sku-pear": [1, 2, 7]}
    in_range = board["Interactions in the time range"]
    assert {line.label: line.last for line in in_range.lines} == {"sku-apple": 13, "sku-pear": 10}


def test_button_presses_per_hour_per_endpoint(panels: dict[str, dict[str, PanelData]]) -> None:
    hourly = panels["button-presses"]["Presses per hour per endpoint"]
    # All four readings lie in one hour; button-01's reset (12 -> 0) counts nothing, then 0 -> 3 counts 3.
    assert _by_label(hourly) == {"button-01": [2 + 3], "button-02": [0 + 1 + 3]}


def test_template_variables_return_the_metadata_values(
    start: int, reader: InfluxReader, dashboards: dict[str, model.Dashboard]
) -> None:
    def values(uid: str, name: str, **chosen: str) -> set[str]:
        variable = next(v for v in dashboards[uid].variables if v.name == name)
        assert isinstance(variable.query, str)
        text = variable.query
        for key, value in chosen.items():
            text = text.replace(f"${key}", value)
        text = expand(text, dashboards[uid].variables, TimeRange(_at(start), _at(start)), 10_000)
        return {v for s in reader.query(text) for v in s.column("value")}

    assert {"Acme Devices Ltd.", "Globex"} <= values("pressure-viscosity", "manufacturer")
    assert {"sensors", "valves"} <= values("pressure-viscosity", "family")
    assert values("pressure-viscosity", "family", manufacturer="Globex") == {"sensors"}
    assert {s.sensor_id for s in SENSORS} <= values("pressure-viscosity", "sensor")
    assert values("pressure-viscosity", "sensor", manufacturer="Acme Devices Ltd\\.", family="valves") == {
        "Pq7b2Rt-9b2c0002"
    }
    assert {"sku-apple", "sku-pear"} <= values("shelf-activity", "product")
    assert {"pressure", "shelf"} <= values("ingest-health", "kind")
