"""Grafana's substitutions in an InfluxQL query: $timeFilter, $__interval, $__interval_ms and template variables.

Follows what Grafana's InfluxDB data source does, for a dashboard opened with every variable on "All".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from grafana.model import Panel, Variable

_UNITS_MS = {
    "ms": 1,
    "s": 1000,
    "m": 60_000,
    "h": 3_600_000,
    "d": 86_400_000,
    "w": 604_800_000,
    "y": 31_536_000_000,
}
# Grafana rounds the computed interval to one of these (kbn.roundInterval, simplified: the next one up).
_NICE_MS = [
    10, 20, 50, 100, 200, 500, 1_000, 2_000, 5_000, 10_000, 15_000, 20_000, 30_000,
    60_000, 120_000, 300_000, 600_000, 900_000, 1_200_000, 1_800_000,
    3_600_000, 7_200_000, 10_800_000, 21_600_000, 43_200_000, 86_400_000, 604_800_000, 2_592_000_000,
]  # fmt: skip
# The data source's "Min time interval" (services/grafana/provisioning/datasources/datasources.yaml: timeInterval).
DATASOURCE_MIN_INTERVAL = "10s"
# Grafana asks for about one point per pixel; a full-width panel is ~1,800 px wide on a common screen.
PIXELS_PER_GRID_COLUMN = 75


def duration_ms(text: str) -> int:
    """'10s', '1m', '7d' -> milliseconds."""
    match = re.fullmatch(r"(\d+)(ms|s|m|h|d|w|y)", text.strip())
    if not match:
        raise ValueError(
            f"not a duration: {text!r} (expected a number and one of ms, s, m, h, d, w, y, e.g. 1h)"
        )
    return int(match.group(1)) * _UNITS_MS[match.group(2)]


def format_ms(ms: int) -> str:
    for unit in ("w", "d", "h", "m", "s"):
        if ms % _UNITS_MS[unit] == 0:
            return f"{ms // _UNITS_MS[unit]}{unit}"
    return f"{ms}ms"


@dataclass(frozen=True)
class TimeRange:
    start: datetime
    end: datetime

    @classmethod
    def last(cls, duration: str, now: datetime) -> TimeRange:
        return cls(now - timedelta(milliseconds=duration_ms(duration)), now)

    @property
    def start_ms(self) -> int:
        return int(self.start.timestamp() * 1000)

    @property
    def end_ms(self) -> int:
        return int(self.end.timestamp() * 1000)


def panel_range(panel: Panel, dashboard_range: TimeRange) -> TimeRange:
    """A panel with a relative time of its own ("7d") shows that range up to the dashboard's end."""
    if panel.time_from:
        return TimeRange.last(panel.time_from, dashboard_range.end)
    return dashboard_range


def interval_ms(panel: Panel, time_range: TimeRange) -> int:
    """$__interval: range / data points, rounded to a nice value, at least the panel's and the data source's minimum."""
    points = max(panel.w * PIXELS_PER_GRID_COLUMN, 1)
    raw = max((time_range.end_ms - time_range.start_ms) // points, 1)
    nice = next((n for n in _NICE_MS if n >= raw), _NICE_MS[-1])
    floor = max(duration_ms(panel.min_interval or "0ms"), duration_ms(DATASOURCE_MIN_INTERVAL))
    return max(nice, floor)


def expand(query: str, variables: tuple[Variable, ...], time_range: TimeRange, interval: int) -> str:
    """The query as Grafana sends it to InfluxDB with every variable on "All"."""
    text = query.replace("$timeFilter", f"time >= {time_range.start_ms}ms and time <= {time_range.end_ms}ms")
    text = text.replace("$__interval_ms", str(interval)).replace("$__interval", format_ms(interval))
    for variable in sorted(variables, key=lambda v: len(v.name), reverse=True):
        value = variable.all_value if variable.all_value is not None else ".*"
        text = _substitute(text, rf"\$\{{{variable.name}\}}|\${variable.name}\b", value)
    leftover = re.search(r"\$\{?\w+", text)
    if leftover and not leftover.group(0).startswith("$tag_"):
        raise ValueError(f"query still holds {leftover.group(0)!r} after expansion: {text}")
    return text


def _substitute(text: str, pattern: str, value: str) -> str:
    return re.sub(pattern, lambda _match: value, text)
