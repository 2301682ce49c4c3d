"""The button-presses-per-hour panel over several hours of a known counter sequence with a reset, on the real
influxd: its query (from grafana/dashboards/button-presses.json) gives each endpoint's sums per hour."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from grafana import model
from grafana.expand import TimeRange
from grafana.render import query_panel
from reach.endpoints import Endpoints
from reach.influx import InfluxReader
from tests.support.readings import write_lines

HOUR_MS = 3_600_000
MINUTE_MS = 60_000
# (minutes after the first whole hour, presses counter); "hourly-a" reboots at 1:30 and reports 2 after it.
SEQUENCE = {
    "hourly-a": [(5, 10), (20, 12), (50, 15), (70, 18), (90, 2), (100, 7), (125, 7), (170, 9)],
    "hourly-b": [(0, 0), (59, 1), (61, 4)],
}
# Per hour: hourly-a 12-10 + 15-12 = 5; 18-15 + (the reset counts nothing) + 7-2 = 8; 7-7 + 9-7 = 2.
# hourly-b: 1; 3; none. An hour with nothing shows 0 (fill(0)).
EXPECTED = {"hourly-a": [5.0, 8.0, 2.0], "hourly-b": [1.0, 3.0, 0.0]}


def test_presses_per_hour_per_endpoint_handle_a_reset(endpoints: Endpoints) -> None:
    start = (int(time.time() * 1000) - 4 * 86_400_000) // HOUR_MS * HOUR_MS  # away from other tests' windows
    lines = [
        f"button,sensorID={endpoint} presses={value} {start + minute * MINUTE_MS}"
        for endpoint, values in SEQUENCE.items()
        for minute, value in values
    ]
    write_lines(endpoints, lines)
    [board] = [d for d in model.load() if d.uid == "button-presses"]
    [panel] = board.panels
    reader = InfluxReader.of(endpoints)
    time_range = TimeRange(
        datetime.fromtimestamp(start / 1000, UTC),
        datetime.fromtimestamp((start + 3 * HOUR_MS - 1) / 1000, UTC),
    )
    data = query_panel(board, panel, reader, time_range)
    by_endpoint = {line.label: line for line in data.lines if line.label in SEQUENCE}
    assert {label: list(line.values) for label, line in by_endpoint.items()} == EXPECTED
    assert by_endpoint["hourly-a"].times_ms == [start, start + HOUR_MS, start + 2 * HOUR_MS]
