"""The local picture's SQL charts: one per kind that writes to SQL, bars of readings per hour per sensor from the
dashboard's hourly query. The SQL sink is faked here (its real answers: tests/e2e/test_sql_sink.py)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from ingest_to_influxdb import sql_schema

from catalog import load_catalog
from grafana import sql_charts
from grafana.expand import TimeRange
from reach import sql
from tests.support.stopped_sandbox import stopped_endpoints

pytestmark = pytest.mark.pure
WINDOW = TimeRange(datetime(2026, 12, 4, 9, 30, tzinfo=UTC), datetime(2026, 12, 4, 12, 0, tzinfo=UTC))


def test_each_kind_that_writes_to_sql_gets_a_chart_of_bars() -> None:
    board = sql_charts.dashboard(load_catalog())
    assert board is not None
    assert [panel.title.split(":")[0] for panel in board.panels] == ["button", "pressure"]
    assert {panel.draw_style for panel in board.panels} == {"bars"}


def test_the_hourly_query_s_rows_become_one_line_per_sensor(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[tuple[str, dict[str, object]]] = []

    def query(endpoints: object, text: str, parameters: dict[str, object]) -> list[list[object]]:
        asked.append((text, parameters))
        if parameters["board"] == "button":
            raise sql.SqlUnavailable("the local SQL sink is not set up")
        return [["2026-12-04 09:00:00", "p-1", 3, 800.0], ["2026-12-04 10:00:00", "p-1", 5, 810.0],
                ["2026-12-04 10:00:00", "p-2", 2, 790.0]]  # fmt: skip

    monkeypatch.setattr(sql, "query", query)
    catalog = load_catalog()
    board = sql_charts.dashboard(catalog)
    assert board is not None
    button, pressure = sql_charts.collect(stopped_endpoints(), catalog, board, WINDOW)
    assert button.lines == [] and "did not answer (SqlUnavailable)" in button.note
    hour = 3_600_000
    nine = int(datetime(2026, 12, 4, 9, tzinfo=UTC).timestamp() * 1000)
    assert [(line.label, line.times_ms, line.values) for line in pressure.lines] == [
        ("p-1", [nine, nine + hour], [3.0, 5.0]),
        ("p-2", [nine + hour], [2.0]),
    ]
    text, parameters = asked[-1]
    assert text == sql_schema.HOURLY and parameters["field"] == "pressureValue"
    assert parameters["start"] == datetime(2026, 12, 4, 9, tzinfo=UTC)  # the window's first whole hour
