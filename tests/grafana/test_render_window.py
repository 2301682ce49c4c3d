"""The demo's picture of a 30 s run, drawn from the real influxd: a plant engineer reads it.

The readings are written as the ingest function writes them (each sensor's metadata item as tags) for 30 s, by
20 sensors whose sample metadata names their line, machine and position and two whose metakey has no item; the
catalog is device-kinds/ plus a kind written with Grafana's unit ids for L/min and °C. The test reads the figure's
texts: the time axis spans the run, no label is a raw unit id or the raw id of a sensor that has a display name,
and no legend lists more than a readable number of entries.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from catalog import load_catalog
from catalog.units import display_unit
from grafana import model, render
from grafana.display import apply_renames
from grafana.names import DISPLAY_NAME_SEPARATOR
from grafana.panel_data import Line, PanelData
from grafana.panels import TOP_SENSORS
from reach.endpoints import Endpoints
from tests.support.kind_files import add_kind_file, catalog_copy
from tests.support.readings import escape, write_lines

PROJECT_ROOT = Path(__file__).resolve().parents[2]
METADATA = json.loads((PROJECT_ROOT / "sample-data" / "device-metadata.json").read_text())
RUN_S = 30
UNKNOWN_SENSORS = (
    "Qq0noMeta-0001",
    "Qq0noMeta-0002",
)  # metakeys with no metadata item: raw ids are all there is


@pytest.fixture
def kinds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    folder = catalog_copy(tmp_path, monkeypatch)
    add_kind_file(folder, "coolant")
    yield folder


def _tags(item: dict[str, str]) -> str:
    return ",".join(f"{k}={escape(v)}" for k, v in sorted(item.items()) if k != "metakey")


def _write_run(endpoints: Endpoints, start: datetime) -> dict[str, str]:
    """30 s of readings a second from `start`; returns sensor id -> its display name (or its id)."""
    pressure_items = [item for item in METADATA if item["metakey"].isdigit()][:20]
    names: dict[str, str] = {}
    lines = []
    start_ms = int(start.timestamp() * 1000)
    sensors = [(f"Pp{n:05d}-{item['metakey']}", _tags(item)) for n, item in enumerate(pressure_items)]
    sensors += [(sensor, "") for sensor in UNKNOWN_SENSORS]
    for index, (sensor, tags) in enumerate(sensors):
        item = pressure_items[index] if index < len(pressure_items) else None
        names[sensor] = (
            DISPLAY_NAME_SEPARATOR.join((item["line"], item["machine"], item["position"])) if item else sensor
        )
        for second in range(RUN_S):
            point_tags = f"sensorID={sensor}" + (f",{tags}" if tags else "")
            value = 600 + 40 * index + second
            lines.append(
                f"pressure,{point_tags} pressureValue={value},viscosity={30 + index} {start_ms + second * 1000}"
            )
            lines.append(
                f"coolant,{point_tags} flow={index % 40},temperature={20 + index} {start_ms + second * 1000}"
            )
    for second in range(0, RUN_S, 5):
        lines.append(
            f"ingest_health,kind=pressure,outcome=written,instance=t count=110 {start_ms + second * 1000}"
        )
    write_lines(endpoints, lines)
    return names


def _texts(figure: object) -> list[str]:
    from matplotlib.figure import Figure

    assert isinstance(figure, Figure)
    texts = [t.get_text() for t in figure.texts]
    for ax in figure.axes:
        texts += [ax.get_title(loc="left"), ax.get_xlabel(), ax.get_ylabel()]
        texts += [t.get_text() for t in ax.get_yticklabels() + ax.get_xticklabels() + ax.texts]
        legend = ax.get_legend()
        if legend is not None:
            texts += [t.get_text() for t in legend.get_texts()]
    return [t for t in texts if t]


def test_the_picture_of_a_30_s_run_reads_as_a_plant_engineer_writes(
    endpoints: Endpoints, kinds: Path, tmp_path: Path
) -> None:
    # Two days ago, 5 s past a whole minute: no other test writes there, and the run stays inside one minute.
    minute = (int(time.time()) - 2 * 86_400) // 3600 * 3600 + 20 * 60
    start = datetime.fromtimestamp(minute + 5, UTC)
    names = _write_run(endpoints, start)
    end = start + timedelta(seconds=RUN_S + 2)
    out = Path(os.environ.get("RENDER_TEST_OUT", tmp_path / "dashboards.png"))  # to look at it
    data, figure = render.picture(endpoints, out, render.window(now=end, start=start), "a 30 s run")
    assert out.stat().st_size > 0

    from matplotlib import dates as mdates

    run = (mdates.date2num(start), mdates.date2num(end))  # type: ignore[no-untyped-call]
    over_time = [
        (d, ax)
        for d, ax in zip(data, figure.axes, strict=True)
        if d.panel.type == "timeseries" and d.lines and not render.one_interval(d) and not d.panel.time_from
    ]
    assert over_time, "no panel drew the run over time"
    for d, ax in over_time:
        assert ax.get_xlim() == pytest.approx(run), f"{d.panel.title}: the time axis is not the run"

    texts = _texts(figure)
    unit_ids = {
        f.unit for kind in load_catalog() for f in kind.fields.values() if display_unit(f.unit) != f.unit
    }
    assert {"flowlpm", "celsius", "pressurehpa", "suffix: cP"} <= unit_ids
    raw_units = [t for t in texts if any(unit in t for unit in unit_ids)]
    assert raw_units == [], "a label shows a Grafana unit id"
    assert (
        any("L/min" in t for t in texts) and any("°C" in t for t in texts) and any("hPa" in t for t in texts)
    )

    named = {sensor for sensor, name in names.items() if name != sensor}
    raw_ids = [t for t in texts if any(sensor in t for sensor in named)]
    assert raw_ids == [], "a sensor with a display name is shown by its raw id"
    shown = " ".join(texts)
    assert "Line 2 · Filler · outlet" in shown  # the 20th item: the highest pressure of the named sensors
    assert any(sensor in shown for sensor in UNKNOWN_SENSORS) or "others" in shown

    for d, ax in zip(data, figure.axes, strict=True):
        legend = ax.get_legend()
        entries = len(legend.get_texts()) if legend is not None else 0
        rows = len(ax.get_yticklabels()) if d.panel.type in ("gauge", "bargauge") else 0
        assert max(entries, rows) <= TOP_SENSORS + 1, f"{d.panel.title}: {max(entries, rows)} entries"

    zeros = {d.panel.title: ax for d, ax in zip(data, figure.axes, strict=True) if d.panel.no_value == "0"}
    rejected = zeros["Readings rejected"]
    assert [t.get_text() for t in rejected.texts] == ["0"], "no rejection is a 0, not 'No data'"


def test_display_names_follow_grafanas_rename_by_regex() -> None:
    renames = [
        ("/^([^|]*)\\|([^|]+)\\|([^|]+)\\|([^|]+)$/", "$2 · $3 · $4"),
        ("/^([^|]*)\\|([^|]+)\\|([^|]+)\\|$/", "$2 · $3"),
        ("/^([^|]*)\\|.*$/", "$1"),
    ]
    assert apply_renames("abc-1|Line 1|Mixer 1|inlet", renames) == "Line 1 · Mixer 1 · inlet"
    assert apply_renames("abc-1|Line 1|Mixer 1|", renames) == "Line 1 · Mixer 1"
    assert apply_renames("abc-1||Mixer 1|inlet", renames) == "abc-1"
    assert apply_renames("abc-1|||", renames) == "abc-1"


def test_the_window_is_the_run_when_a_start_is_given() -> None:
    end = datetime(2026, 12, 1, 10, 0, 40, tzinfo=UTC)
    start = end - timedelta(seconds=36)
    window = render.window(now=end, start=start)
    assert (window.start, window.end) == (start, end)
    assert render.window("15m", now=end).start == end - timedelta(minutes=15)
    with pytest.raises(ValueError, match="not before its end"):
        render.window(now=start, start=end)
    assert "(36 s)" in render.describe(window, True, "1h")


def test_the_highest_latest_values_are_named_and_the_rest_are_others() -> None:
    lines = [Line(f"s{n}", [0, 1], [float(n), float(100 - n)]) for n in range(12)]
    named, others = render.ranked(lines, top=8)
    assert [line.label for line in named] == [f"s{n}" for n in range(8)]  # latest 100, 99, ...
    assert len(others) == 4 and render.others_label(others) == "4 others (grey)"
    assert render.ranked(lines[:9], top=8) == (lines[:9], [])  # one left over: named too


def test_one_value_per_series_only_when_the_interval_outlasts_the_window() -> None:
    panel = next(p for d in model.load() for p in d.panels if p.title == "Presses per hour per endpoint")
    hour = 3_600_000
    short = PanelData("b", panel, [Line("e", [0], [3.0])], hour, 60_000, 90_000)
    assert render.one_interval(short)
    week = PanelData("b", panel, [Line("e", [0], [3.0])], hour, 0, 7 * 24 * hour)
    assert not render.one_interval(week)
