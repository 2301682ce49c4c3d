"""The dashboard of a device kind, generated from its kind file's `dashboard` section (device-kinds/<name>.yaml).

Per sensor kinds (pressure): every query groups by sensor, no fill(0) zeros, gauges on the field's own range,
long ranges from the continuous queries' 1-hour means. Counter kinds grouped by a tag (shelf): counts per device
(`sensorID`) first and summed per tag after, so two devices with the same tag neither mix their counters nor hide
one another; the increase is NON_NEGATIVE_DIFFERENCE of each device's counter, so a device restart that resets it
is not counted as negative activity. Counters per sensor (button): each sensor's increases summed per hour, a reset
to 0 (a reboot) counting nothing negative; the presses between a reset and the first value reported after it are not
counted (an IPSO counter that reports its 0 on registration loses none). Panels flow left to right on Grafana's 24-column grid.
"""

from __future__ import annotations

from collections.abc import Iterator

from grafana_foundation_sdk.builders import timeseries
from grafana_foundation_sdk.builders.dashboard import Dashboard
from grafana_foundation_sdk.cog import builder
from grafana_foundation_sdk.models import dashboard as models

from catalog.schema import Dashboard as BoardSpec
from catalog.schema import DeviceKind, Filter, GroupBy, Panel, PanelShow, PointField
from catalog.units import display_unit
from grafana import display
from grafana.influxql import InfluxQL
from grafana.names import FAMILY_TAG, MANUFACTURER_TAG, RP_1H, SENSOR_ID_TAG
from grafana.panels import bar_gauge, gauge_panel, grid, per_sensor, tag_values, time_series
from grafana.panels import dashboard as new_dashboard

LONG_RANGE = "7d"
GRID_COLUMNS = 24
PER_SENSOR = (
    display.ALIAS
)  # the display name's parts; the panel's transformations make the name (grafana/display.py)
BY_SENSOR = display.GROUP_KEYS
FILTER_TAGS = {Filter.MANUFACTURER: MANUFACTURER_TAG, Filter.FAMILY: FAMILY_TAG, Filter.SENSOR: SENSOR_ID_TAG}


def _number(value: float) -> float:
    """500.0 as 500, so the JSON reads as people write it."""
    return int(value) if value.is_integer() else value


def _matches(filters: tuple[Filter, ...]) -> str:
    return " AND ".join(f'"{FILTER_TAGS[f]}" =~ /^${f.value}$/' for f in filters)


def _where(condition: str) -> str:
    return f"WHERE {condition} AND $timeFilter" if condition else "WHERE $timeFilter"


class _Queries:
    """The InfluxQL of one kind's panels."""

    def __init__(self, kind: DeviceKind, board: BoardSpec) -> None:
        self.measurement = f'"{kind.measurement}"'
        self.hourly = f'"{RP_1H}"."{kind.measurement}"'
        self.sensors = _matches(board.filters)
        self.group = board.group_by

    def mean_per_sensor(self, field: str, source: str) -> InfluxQL:
        return InfluxQL(
            f'SELECT mean("{field}") AS "{field}" FROM {source} {_where(self.sensors)} '
            f"GROUP BY time($__interval), {BY_SENSOR} fill(null)"
        ).alias(PER_SENSOR)

    def last_per_sensor(self, field: str) -> InfluxQL:
        return InfluxQL(
            f'SELECT last("{field}") AS "{field}" FROM {self.measurement} {_where(self.sensors)} '
            f"GROUP BY {BY_SENSOR}"
        ).alias(PER_SENSOR)

    def increase_per_sensor_per_hour(self, field: str) -> InfluxQL:
        """Each sensor's counter increase per hour: the step from one hour's last value to the next hour's first
        counts in the next hour."""
        return InfluxQL(
            f'SELECT sum("increase") AS "{field}" FROM ('
            f'SELECT non_negative_difference("{field}") AS "increase" FROM {self.measurement} '
            f"{_where(self.sensors)} GROUP BY {BY_SENSOR}) "
            f"WHERE $timeFilter GROUP BY time(1h), {BY_SENSOR} fill(0)"
        ).alias(PER_SENSOR)

    def _tag(self) -> tuple[str, str]:
        assert self.group is not None  # the schema requires group_by for these panels
        return self.group.tag, f'"{self.group.tag}" =~ /^${self.group.variable}$/'

    def _summed_per_tag(self, inner: str, column: str, fill: str) -> InfluxQL:
        """`inner` per interval and device first, then summed per tag: devices neither mix nor hide."""
        tag, matches = self._tag()
        return InfluxQL(
            f'SELECT sum("{column}") AS "{column}" FROM ('
            f'SELECT {inner} AS "{column}" FROM {self.measurement} WHERE {matches} AND $timeFilter '
            f'GROUP BY time($__interval), "{SENSOR_ID_TAG}", "{tag}") '
            f'WHERE $timeFilter GROUP BY time($__interval), "{tag}" fill({fill})'
        ).alias(f"$tag_{tag}")

    def latest_per_tag(self, field: str) -> InfluxQL:
        return self._summed_per_tag(f'last("{field}")', field, "null")

    def increase_per_tag(self, field: str) -> InfluxQL:
        return self._summed_per_tag(f'non_negative_difference(last("{field}"))', "increase", "0")

    def increase_in_range(self, field: str) -> InfluxQL:
        tag, matches = self._tag()
        return InfluxQL(
            f'SELECT sum("increase") AS "increase" FROM ('
            f'SELECT non_negative_difference("{field}") AS "increase" FROM {self.measurement} '
            f'WHERE {matches} AND $timeFilter GROUP BY "{SENSOR_ID_TAG}", "{tag}") '
            f'GROUP BY "{tag}"'
        ).alias(f"$tag_{tag}")


def _default_text(panel: Panel, field: PointField, group: GroupBy | None) -> tuple[str, str]:
    label, lower = field.label, field.label.lower()
    per = group.label.lower() if group else ""
    unit = display_unit(field.unit)  # as people write it; Grafana formats the values from the unit id itself
    in_unit = f" in {unit}" if unit else ""
    if panel.show is PanelShow.MEAN_PER_SENSOR:
        return (
            f"{label} per sensor",
            f"Mean {lower}{in_unit} of each sensor per interval. Intervals without readings stay empty.",
        )
    if panel.show is PanelShow.CURRENT_PER_SENSOR:
        assert field.range is not None  # the schema requires a range for a gauge
        scale = f"{_number(field.range.min)}-{_number(field.range.max)}{f' {unit}' if unit else ''}"
        return (
            f"Current {lower}",
            f"The latest {lower} of each sensor in the time range, on the devices' {scale} scale.",
        )
    if panel.show is PanelShow.HOURLY_MEAN_PER_SENSOR:
        return (
            f"{label}, 1-hour means (last {LONG_RANGE})",
            f"From the continuous query's 1-hour means{in_unit} in the retention policy {RP_1H} (kept three "
            "years): cheap to draw over long ranges.",
        )
    if panel.show is PanelShow.INCREASE_PER_SENSOR_PER_HOUR:
        return f"{label} per hour per sensor", f"Increase of {lower} per hour, per sensor."
    if panel.show is PanelShow.LATEST_PER_TAG:
        return f"{label} per {per}", f"The latest {lower} of each device per interval, summed per {per}."
    if panel.show is PanelShow.INCREASE_PER_TAG:
        return (
            f"Increase of {lower} per {per}",
            f"Increase of the {lower} per interval (non-negative difference per device, summed per {per}).",
        )
    return (
        f"Increase of {lower} in the time range",
        f"Sum of the {lower}'s increases over the time range, per {per}.",
    )


def _layout(panels: tuple[Panel, ...]) -> Iterator[tuple[Panel, models.GridPos]]:
    """Left to right; a panel that does not fit in the row starts the next one, below the row's tallest."""
    x = y = row_height = 0
    for panel in panels:
        if x + panel.width > GRID_COLUMNS:
            x, y, row_height = 0, y + row_height, 0
        yield panel, grid(x, y, panel.width, panel.height)
        x, row_height = x + panel.width, max(row_height, panel.height)


def _panel(
    kind: DeviceKind, board: BoardSpec, panel: Panel, pos: models.GridPos
) -> builder.Builder[models.Panel]:
    field = kind.fields[panel.field]
    default_title, default_description = _default_text(panel, field, board.group_by)
    title, description = panel.title or default_title, panel.description or default_description
    queries = _Queries(kind, board)

    def series(query: InfluxQL, bars: bool = False, min_interval: str | None = None) -> timeseries.Panel:
        return time_series(title, description, field.unit, [query], pos, bars=bars, min_interval=min_interval)

    show = panel.show
    if show is PanelShow.MEAN_PER_SENSOR:
        return per_sensor(series(queries.mean_per_sensor(panel.field, queries.measurement)))
    if show is PanelShow.CURRENT_PER_SENSOR:
        assert field.range is not None
        steps: list[tuple[float | None, str]] = [
            (None if t.from_ is None else _number(t.from_), t.color) for t in panel.thresholds
        ]
        return per_sensor(
            gauge_panel(
                title,
                description,
                field.unit,
                queries.last_per_sensor(panel.field),
                pos,
                (_number(field.range.min), _number(field.range.max)),
                steps or [(None, "green")],
            )
        )
    if show is PanelShow.HOURLY_MEAN_PER_SENSOR:
        hourly = queries.mean_per_sensor(panel.field, queries.hourly)
        return per_sensor(series(hourly, min_interval="1h").time_from(LONG_RANGE))
    if show is PanelShow.INCREASE_PER_SENSOR_PER_HOUR:
        return per_sensor(
            series(queries.increase_per_sensor_per_hour(panel.field), bars=True, min_interval="1h")
        )
    if show is PanelShow.LATEST_PER_TAG:
        return series(queries.latest_per_tag(panel.field))
    if show is PanelShow.INCREASE_PER_TAG:
        return series(queries.increase_per_tag(panel.field), bars=True)
    return bar_gauge(title, description, field.unit, queries.increase_in_range(panel.field), pos)


def dashboard(kind: DeviceKind) -> Dashboard:
    board = kind.dashboard
    if board is None:
        raise ValueError(f"the kind {kind.name} has no dashboard section")
    result = new_dashboard(board.uid, board.title, board.description, [kind.name])
    measurement = f'"{kind.measurement}"'
    for number, chosen in enumerate(board.filters):
        tag = FILTER_TAGS[chosen]
        narrower = _matches(board.filters[:number])
        result = result.with_variable(
            tag_values(
                chosen.value,
                chosen.value.capitalize(),
                f'SHOW TAG VALUES FROM {measurement} WITH KEY = "{tag}"'
                + (f" WHERE {narrower}" if narrower else ""),
            )
        )
    if board.group_by is not None:
        group = board.group_by
        result = result.with_variable(
            tag_values(
                group.variable, group.label, f'SHOW TAG VALUES FROM {measurement} WITH KEY = "{group.tag}"'
            )
        )
    for panel, pos in _layout(board.panels):
        result = result.with_panel(_panel(kind, board, panel, pos))
    return result
