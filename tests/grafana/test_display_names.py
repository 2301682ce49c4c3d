"""The generated dashboards name sensors and units as the picture does, with Grafana's own features: per-sensor
queries group by the display name's tags and rename by regex, units stay Grafana's ids (Grafana writes them),
and the count panels say 0 where no point means nothing happened."""

from __future__ import annotations

import json
from typing import Any

import pytest

from catalog import CatalogError, parse_kind
from catalog.units import DISPLAY_UNITS, display_unit, is_known
from grafana import build, display, model
from grafana.names import DISPLAY_NAME_TAGS, SENSOR_ID_TAG


def raw_boards() -> dict[str, dict[str, Any]]:
    return {name: json.loads(text) for name, text in build.generate().items()}


def test_every_per_sensor_panel_names_its_sensors_by_where_they_are() -> None:
    per_sensor = 0
    for name, raw in raw_boards().items():
        for panel in raw["panels"]:
            aliases = {t.get("alias") for t in panel.get("targets", [])}
            if display.ALIAS not in aliases:
                assert not any("$tag_sensorID" in str(a) for a in aliases), f"{name}: {panel['title']}"
                continue
            per_sensor += 1
            for target in panel["targets"]:
                assert all(f'"{tag}"' in target["query"] for tag in (SENSOR_ID_TAG, *DISPLAY_NAME_TAGS))
            assert panel["transformations"] == display.transformations(), panel["title"]
            if panel["type"] == "timeseries":
                legend = panel["options"]["legend"]
                assert (legend["displayMode"], legend["sortBy"], legend["sortDesc"]) == (
                    "table",
                    "Last *",
                    True,
                )
    assert per_sensor >= 5  # pressure (5 panels) and button (1)


def test_units_stay_grafana_ids_and_the_texts_write_them_out() -> None:
    boards = [model.parse(raw) for raw in raw_boards().values()]
    units = {panel.unit for board in boards for panel in board.panels}
    assert units <= set(DISPLAY_UNITS) | {"", "suffix: cP"}
    pressure = next(board for board in boards if board.uid == "pressure-viscosity")
    mean = next(p for p in pressure.panels if p.title == "Pressure per sensor")
    assert mean.unit == "pressurehpa"
    raw = next(r for r in raw_boards().values() if r["uid"] == "pressure-viscosity")
    description = next(p["description"] for p in raw["panels"] if p["title"] == "Pressure per sensor")
    assert "in hPa" in description


def test_counts_say_0_when_nothing_happened() -> None:
    health = next(model.parse(r) for r in raw_boards().values() if r["uid"] == "ingest-health")
    no_value = {p.title: p.no_value for p in health.panels}
    assert no_value["Readings rejected"] == no_value["Metadata misses"] == "0"
    assert no_value["Rejected per minute, by reason"] == "0"


@pytest.mark.parametrize(
    ("unit", "written"),
    [("flowlpm", "L/min"), ("celsius", "°C"), ("percent", "%"), ("short", ""), ("suffix: cP", "cP")],
)
def test_units_as_people_write_them(unit: str, written: str) -> None:
    assert is_known(unit) and display_unit(unit) == written


def test_a_guessed_unit_id_is_refused_naming_the_nearest() -> None:
    kind = {
        "name": "coolant",
        "description": "d",
        "topic": "/coolant/data",
        "measurement": "coolant",
        "sensor_id": ["deviceid"],
        "fields": {"flow": {"attribute": "flow", "label": "Flow", "unit": "litrem"}},
    }
    with pytest.raises(
        CatalogError, match=r"coolant.yaml: fields.flow.unit: .*'litrem' is not a Grafana unit id"
    ):
        parse_kind(kind, "coolant.yaml")
    with pytest.raises(CatalogError, match=r"nearest: .*litre \(L\)"):
        parse_kind(kind, "coolant.yaml")
