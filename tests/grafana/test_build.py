"""The committed dashboards are what the code generates, and they avoid the reference dashboard's defects."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from ingest_to_influxdb import constants

from catalog import load_catalog
from catalog.schema import SENSOR_ID_TAG as CATALOG_SENSOR_ID_TAG
from grafana import build, model
from grafana.expand import TimeRange, duration_ms, expand, interval_ms
from grafana.names import HEALTH, SENSOR_ID_TAG


def test_committed_json_is_up_to_date() -> None:
    assert build.stale() == [], "run 'python -m grafana.build' and commit grafana/dashboards/"


def test_check_mode_reports_a_stale_file(tmp_path: Path) -> None:
    build.write(tmp_path)
    assert build.stale(tmp_path) == []
    path = tmp_path / "shelf-activity.json"
    path.write_text(path.read_text().replace("Shelf activity", "Shelf"))
    (tmp_path / "old.json").write_text("{}")
    assert build.stale(tmp_path) == ["shelf-activity.json", "old.json"]


def test_names_are_the_ones_the_ingest_function_writes() -> None:
    assert (constants.HEALTH_MEASUREMENT, constants.SENSOR_ID_TAG) == (HEALTH, SENSOR_ID_TAG)
    assert CATALOG_SENSOR_ID_TAG == SENSOR_ID_TAG


def test_every_kind_with_a_dashboard_section_gets_its_dashboard() -> None:
    catalog = load_catalog()
    files = build.generate(catalog)
    for kind in catalog:
        assert kind.dashboard is not None
        board = model.parse(json.loads(files[f"{kind.dashboard.uid}.json"]))
        queries = [str(target.query) for panel in board.panels for target in panel.targets]
        assert all(f'"{kind.measurement}"' in query for query in queries)
        shown = {panel.field for panel in kind.dashboard.panels}
        assert all(any(f'"{field}"' in query for query in queries) for field in shown)


@pytest.mark.parametrize("path", sorted(build.DASHBOARDS_DIR.glob("*.json")), ids=lambda p: p.stem)
def test_reference_defects_are_gone(path: Path) -> None:
    raw = json.loads(path.read_text())
    assert raw.get("id") is None, "an internal id baked into the file collides on import"
    assert raw["refresh"] not in ("5s", "10s"), "a refresh every few seconds loads InfluxDB for nothing"
    for panel in raw["panels"]:
        assert panel["datasource"]["uid"] in ("influxdb", "cloudwatch"), (
            f"{panel['title']}: no explicit data source"
        )
    dashboard = model.parse(raw)
    for panel in dashboard.panels:
        for target in panel.targets:
            if target.query and dashboard.uid == "pressure-viscosity":
                assert "fill(0)" not in target.query, (
                    f"{panel.title}: fill(0) draws readings that do not exist"
                )
                assert f'"{SENSOR_ID_TAG}"' in target.query, f"{panel.title}: not per sensor"


def test_pressure_gauge_shows_pressure_on_its_scale() -> None:
    board = next(d for d in model.load() if d.uid == "pressure-viscosity")
    gauge = next(p for p in board.panels if p.title == "Current pressure")
    assert (gauge.type, gauge.minimum, gauge.maximum, gauge.unit) == ("gauge", 500, 1500, "pressurehpa")
    assert gauge.targets[0].query and 'last("pressureValue")' in gauge.targets[0].query
    assert [v.name for v in board.variables] == ["manufacturer", "family", "sensor"]


def test_expansion_as_grafana_does_it() -> None:
    board = next(d for d in model.load() if d.uid == "shelf-activity")
    time_range = TimeRange.last("1h", TimeRange.last("0s", _now()).end)
    text = expand(
        'SELECT x FROM m WHERE "p" =~ /^$product$/ AND $timeFilter GROUP BY time($__interval)',
        board.variables,
        time_range,
        60_000,
    )
    assert text == (
        f'SELECT x FROM m WHERE "p" =~ /^.*$/ AND time >= {time_range.start_ms}ms and time <= {time_range.end_ms}ms '
        "GROUP BY time(1m)"
    )
    assert expand("$__interval_ms", (), time_range, 60_000) == "60000"
    with pytest.raises(ValueError, match=r"\$unknown"):
        expand("SELECT $unknown", board.variables, time_range, 60_000)


def test_interval_respects_the_panels_minimum() -> None:
    board = next(d for d in model.load() if d.uid == "pressure-viscosity")
    hourly = next(p for p in board.panels if "1-hour" in p.title)
    live = next(p for p in board.panels if p.title == "Pressure per sensor")
    day = TimeRange.last("1d", _now())
    assert interval_ms(hourly, day) == duration_ms("1h")
    assert duration_ms("10s") <= interval_ms(live, day) < duration_ms("5m")
    with pytest.raises(ValueError, match="not a duration"):
        duration_ms("an hour")


def _now() -> datetime:
    return datetime.now(UTC)
