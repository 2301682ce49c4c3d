"""Small builders shared by the dashboards: data source references, layout, template variables, panel shapes."""

from __future__ import annotations

from typing import TypeVar

from grafana_foundation_sdk.builders import bargauge, common, gauge, stat, timeseries
from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.models import common as common_models
from grafana_foundation_sdk.models import dashboard as models

from grafana import display
from grafana.influxql import InfluxQL
from grafana.names import CLOUDWATCH_DATASOURCE_UID, INFLUXDB_DATASOURCE_UID

INFLUXDB = models.DataSourceRef(type_val="influxdb", uid=INFLUXDB_DATASOURCE_UID)
CLOUDWATCH = models.DataSourceRef(type_val="cloudwatch", uid=CLOUDWATCH_DATASOURCE_UID)

# Every template variable's "All" is this regular expression, used as `"tag" =~ /^$var$/`. It also matches an
# absent tag (InfluxQL compares it as ""), so readings whose metadata was missing are not hidden by "All".
ALL_VALUE = ".*"

# Gaps shorter than this are joined; a longer outage stays visible as a gap instead of a line or a fake zero.
SPAN_NULLS_MS = 60_000


def grid(x: int, y: int, w: int, h: int) -> models.GridPos:
    return models.GridPos(x=x, y=y, w=w, h=h)


def dashboard(uid: str, title: str, description: str, tags: list[str]) -> dash.Dashboard:
    """A dashboard with the settings all of ours share: no baked-in id, a calm refresh, the last hour."""
    return (
        dash.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags(["iot-telemetry", *tags])
        .refresh("1m")
        .time("now-1h", "now")
        .timezone("browser")
        .editable()
        .tooltip(models.DashboardCursorSync.CROSSHAIR)
    )


def tag_values(name: str, label: str, query: str) -> dash.QueryVariable:
    """A multi-value variable filled from InfluxDB's `SHOW TAG VALUES`, refreshed with the time range."""
    return (
        dash.QueryVariable(name)
        .label(label)
        .datasource(INFLUXDB)
        .query(" ".join(query.split()))
        .include_all(True)
        .all_value(ALL_VALUE)
        .multi(True)
        .current(models.VariableOption(selected=True, text=["All"], value=["$__all"]))
        .refresh(models.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(models.VariableSort.ALPHABETICAL_CASE_INSENSITIVE_ASC)
    )


def legend(
    mode: common_models.LegendDisplayMode = common_models.LegendDisplayMode.LIST,
    placement: common_models.LegendPlacement = common_models.LegendPlacement.BOTTOM,
) -> common.VizLegendOptions:
    return common.VizLegendOptions().show_legend(True).display_mode(mode).placement(placement)


# A per-sensor legend is a table beside the plot, highest latest value first: many sensors scroll, and the top
# of the list is what `grafana.render` names in its picture (the others drawn grey).
LEGEND_SORT_BY = "Last *"  # the legend column of the lastNotNull calculation
TOP_SENSORS = 8  # sensors the picture names; the rest are "others"


def sensor_legend() -> common.VizLegendOptions:
    return (
        legend(common_models.LegendDisplayMode.TABLE, common_models.LegendPlacement.RIGHT)
        .calcs(["lastNotNull"])
        .sort_by(LEGEND_SORT_BY)
        .sort_desc(True)
    )


PerSensor = TypeVar("PerSensor", timeseries.Panel, gauge.Panel)


def per_sensor(panel: PerSensor) -> PerSensor:
    """A panel of one series per sensor: sensors named by where they are (grafana/display.py)."""
    renamed = panel.transformations(
        [
            models.DataTransformerConfig(id_val=t["id"], options=t["options"])
            for t in display.transformations()
        ]
    )
    if isinstance(renamed, timeseries.Panel):
        return renamed.legend(sensor_legend())
    return renamed


def time_series(
    title: str,
    description: str,
    unit: str,
    targets: list[InfluxQL],
    pos: models.GridPos,
    *,
    bars: bool = False,
    min_interval: str | None = None,
    no_value: str | None = None,
) -> timeseries.Panel:
    panel = (
        timeseries.Panel()
        .title(title)
        .description(description)
        .datasource(INFLUXDB)
        .unit(unit)
        .grid_pos(pos)
        .targets(list(targets))
        .span_nulls(SPAN_NULLS_MS)
        .legend(legend())
        .line_width(1)
        .fill_opacity(10 if not bars else 60)
        .draw_style(common_models.GraphDrawStyle.BARS if bars else common_models.GraphDrawStyle.LINE)
    )
    if min_interval:
        panel = panel.interval(min_interval)
    if no_value is not None:  # what the panel says with no series: "0" where no point means nothing happened
        panel = panel.no_value(no_value)
    return panel


def _thresholds(steps: list[tuple[float | None, str]]) -> dash.ThresholdsConfig:
    return (
        dash.ThresholdsConfig()
        .mode(models.ThresholdsMode.ABSOLUTE)
        .steps([models.Threshold(value=value, color=color) for value, color in steps])
    )


def _last() -> common.ReduceDataOptions:
    return common.ReduceDataOptions().calcs(["lastNotNull"]).values(False)


def gauge_panel(
    title: str,
    description: str,
    unit: str,
    target: InfluxQL,
    pos: models.GridPos,
    scale: tuple[float, float],
    steps: list[tuple[float | None, str]],
) -> gauge.Panel:
    return (
        gauge.Panel()
        .title(title)
        .description(description)
        .datasource(INFLUXDB)
        .unit(unit)
        .min(scale[0])
        .max(scale[1])
        .thresholds(_thresholds(steps))
        .reduce_options(_last())
        .show_threshold_markers(True)
        .show_threshold_labels(False)
        .grid_pos(pos)
        .with_target(target)
    )


def stat_panel(
    title: str,
    description: str,
    unit: str,
    target: InfluxQL,
    pos: models.GridPos,
    *,
    no_value: str | None = None,
) -> stat.Panel:
    panel = (
        stat.Panel()
        .title(title)
        .description(description)
        .datasource(INFLUXDB)
        .unit(unit)
        .reduce_options(_last())
        .graph_mode(common_models.BigValueGraphMode.NONE)
        .thresholds(_thresholds([(None, "green")]))
        .grid_pos(pos)
        .with_target(target)
    )
    return panel.no_value(no_value) if no_value is not None else panel


def bar_gauge(
    title: str, description: str, unit: str, target: InfluxQL, pos: models.GridPos
) -> bargauge.Panel:
    return (
        bargauge.Panel()
        .title(title)
        .description(description)
        .datasource(INFLUXDB)
        .unit(unit)
        .min(0)
        .orientation(common_models.VizOrientation.HORIZONTAL)
        .display_mode(common_models.BarGaugeDisplayMode.BASIC)
        .reduce_options(_last())
        .thresholds(_thresholds([(None, "blue")]))
        .grid_pos(pos)
        .with_target(target)
    )
