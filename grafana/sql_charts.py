"""The SQL sink's hourly charts in the local picture: readings per hour per sensor of each kind that writes to SQL
(button presses per hour per endpoint, for the button), drawn from the SQL sink with the dashboard's own query
(`sql_schema.HOURLY`, as the relational stack's QuickSight data sets compute the hour) through the local RDS Data
API as the reader, the way the seed system's QuickSight chart aggregated its X axis by hour."""

from __future__ import annotations

from datetime import UTC, datetime

from ingest_to_influxdb import sql_schema
from ingest_to_influxdb.kinds import SQL_SINK

from catalog import Catalog, DeviceKind
from grafana import model
from grafana.expand import TimeRange
from grafana.panel_data import Line, PanelData
from reach import sql
from reach.endpoints import Endpoints

TITLE = "SQL sink: readings per hour (as the QuickSight dashboard charts them)"
HOUR_MS = 3_600_000
PANEL_WIDTH, PANEL_HEIGHT = 12, 7  # on the dashboards' 24-column grid


def sql_kinds(catalog: Catalog) -> list[DeviceKind]:
    return [kind for kind in catalog if SQL_SINK in kind.sinks]


def _panel(kind: DeviceKind, index: int) -> model.Panel:
    field = next(iter(kind.fields))
    return model.Panel(
        title=f"{kind.name}: readings of {field} per hour per sensor",
        type="timeseries",
        unit="short",
        minimum=0,
        maximum=None,
        min_interval="1h",
        time_from=None,
        x=(index % 2) * PANEL_WIDTH,
        y=(index // 2) * PANEL_HEIGHT,
        w=PANEL_WIDTH,
        h=PANEL_HEIGHT,
        draw_style="bars",
        span_nulls_ms=None,
        thresholds=(),
        targets=(),
    )


def dashboard(catalog: Catalog) -> model.Dashboard | None:
    """One chart per kind that writes to SQL; None when none does."""
    kinds = sql_kinds(catalog)
    if not kinds:
        return None
    return model.Dashboard("sql-sink", TITLE, tuple(_panel(kind, i) for i, kind in enumerate(kinds)), ())


def _hour_ms(text: object) -> int:
    return int(datetime.fromisoformat(str(text)[:19]).replace(tzinfo=UTC).timestamp() * 1000)


def hourly_lines(endpoints: Endpoints, kind: DeviceKind, time_range: TimeRange) -> list[Line]:
    """Readings per hour per sensor of `kind` (counted on its first field: one value per reading)."""
    start = datetime.fromtimestamp(time_range.start_ms / 1000, UTC).replace(minute=0, second=0, microsecond=0)
    end = datetime.fromtimestamp(time_range.end_ms / 1000, UTC)
    rows = sql.query(
        endpoints,
        sql_schema.HOURLY,
        {"board": kind.name, "field": next(iter(kind.fields)), "start": start, "end": end},
    )
    by_sensor: dict[str, tuple[list[int], list[float | None]]] = {}
    for hour, sensor, readings, _mean in rows:
        times, values = by_sensor.setdefault(str(sensor), ([], []))
        times.append(_hour_ms(hour))
        values.append(float(str(readings)))
    return [Line(sensor, times, values) for sensor, (times, values) in sorted(by_sensor.items())]


def collect(
    endpoints: Endpoints, catalog: Catalog, board: model.Dashboard, time_range: TimeRange
) -> list[PanelData]:
    """Each chart's bars; a chart the SQL sink cannot answer says why on the plot instead."""
    data = []
    for kind, panel in zip(sql_kinds(catalog), board.panels, strict=True):
        try:
            lines, note = hourly_lines(endpoints, kind, time_range), ""
        except Exception as error:  # the picture is drawn whatever one store answers
            lines, note = [], f"no data: the SQL sink did not answer ({type(error).__name__})"
        if not lines and not note:
            note = "no readings in SQL in this window"
        data.append(
            PanelData(board.title, panel, lines, HOUR_MS, time_range.start_ms, time_range.end_ms, note)
        )
    return data
