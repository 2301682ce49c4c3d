"""`python -m grafana.render`: the dashboards drawn locally, since no Grafana server can run here.

Every panel's query, as committed in grafana/dashboards/*.json, runs against the sandbox's InfluxDB with the
reader's credentials (template variables on "All", $timeFilter and $__interval as Grafana substitutes them); each
panel becomes one plot, placed as on the dashboard's grid, titled and labelled with its unit. The CloudWatch panel
(dead letters) shows the local dead-letter queue's current depth read from moto's SQS, or says there is no data.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

from catalog import load_catalog
from catalog.units import display_unit
from grafana import build, model, sql_charts
from grafana.display import apply_renames
from grafana.expand import TimeRange, expand, format_ms, interval_ms, panel_range
from grafana.names import RP_1H
from grafana.panel_data import Line, PanelData
from grafana.panels import TOP_SENSORS
from reach.endpoints import DEFAULT_PATH, Endpoints
from reach.influx import InfluxReader, QueryError, Series

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

DEFAULT_OUT = Path("build/dashboards.png")


def _pyplot() -> ModuleType:
    """matplotlib's pyplot on the file-only backend, loaded when a picture is drawn: importing this module
    (as the tests collected by `make test-fast` do) stays cheap."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


DeadLetters = Callable[[], tuple[int | None, str]]


def label_for(alias: str, series: Series, column: str) -> str:
    """Series names as Grafana's InfluxDB data source makes them: the alias with $tag_<key>, or measurement.field."""
    if alias:
        text = alias.replace("$col", column).replace("$measurement", series.name).replace("$m", series.name)
        for key in sorted(series.tags, key=len, reverse=True):
            text = text.replace(f"$tag_{key}", series.tags[key])  # an absent tag is "", as in Grafana
        return text or "(none)"
    tags = ", ".join(f"{k}: {v}" for k, v in sorted(series.tags.items()))
    return f"{series.name}.{column}" + (f" {{{tags}}}" if tags else "")


def query_panel(
    dashboard: model.Dashboard, panel: model.Panel, reader: InfluxReader, dashboard_range: TimeRange
) -> PanelData:
    """Runs the panel's InfluxQL targets as Grafana would and returns one line per series and field."""
    time_range = panel_range(panel, dashboard_range)
    interval = interval_ms(panel, time_range)
    lines: list[Line] = []
    for target in panel.targets:
        if target.query is None:
            continue
        for series in reader.query(expand(target.query, dashboard.variables, time_range, interval)):
            times = [int(t) for t in series.column("time")]
            for column in series.columns:
                if column != "time":
                    label = apply_renames(label_for(target.alias, series, column), panel.renames)
                    lines.append(Line(label, times, series.column(column)))
    note = ""
    if not lines and any(f'"{RP_1H}".' in (t.query or "") for t in panel.targets):
        note = "no 1-hour mean yet: the continuous query writes an hour's means once the hour is over"
    return PanelData(dashboard.title, panel, lines, interval, time_range.start_ms, time_range.end_ms, note)


def local_dead_letters(endpoints: Endpoints) -> tuple[int | None, str]:
    """The local dead-letter queue's depth from moto's SQS; CloudWatch itself does not exist here."""
    url = endpoints.queues.get("dead_letter")
    if not url:
        return (
            None,
            "no data locally: CloudWatch does not run in the sandbox\nand no local dead-letter queue is deployed",
        )
    sqs = endpoints.aws.client("sqs")
    try:
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
    except Exception as error:  # moto down or queue gone: say so on the picture instead of failing the render
        return None, f"no data locally: the dead-letter queue could not be read ({type(error).__name__})"
    return int(
        attributes["Attributes"]["ApproximateNumberOfMessages"]
    ), "now, local dead-letter queue (SQS in moto)"


def collect(
    dashboards: Sequence[model.Dashboard],
    reader: InfluxReader,
    dashboard_range: TimeRange,
    dead_letters: DeadLetters,
) -> list[PanelData]:
    data = []
    for dashboard in dashboards:
        for panel in dashboard.panels:
            if panel.datasource_type == "cloudwatch":
                depth, note = dead_letters()
                now = dashboard_range.end_ms
                lines = [] if depth is None else [Line("dead letters", [now], [float(depth)])]
                data.append(
                    PanelData(dashboard.title, panel, lines, 60_000, dashboard_range.start_ms, now, note)
                )
            else:
                data.append(query_panel(dashboard, panel, reader, dashboard_range))
    return data


# -- drawing -----------------------------------------------------------------------------------------------------
GRID_UNIT_IN = 0.42  # height of one Grafana grid row (30 px) in the picture
FIGURE_WIDTH_IN = 22.0
HEADER_IN = 0.55
PAD_LEFT_IN, PAD_RIGHT_IN, PAD_TOP_IN, PAD_BOTTOM_IN = 0.75, 0.2, 0.45, 0.5
LEGEND_IN = 2.3  # beside a time series, as Grafana's table legend on the right
GAUGE_LABELS_IN = 1.6  # left of a gauge's bars: the sensors' names
# A legend or a gauge names at most TOP_SENSORS series, the highest latest value first (Grafana's legend is
# sorted the same way); the rest are drawn grey as one "others" entry.
TOP = TOP_SENSORS
OTHERS_COLOUR = "0.7"


def unit_label(unit: str) -> str:
    """Grafana unit ids as people write them (catalog/units.py): "flowlpm" -> "L/min", "short" -> ""."""
    return display_unit(unit)


def _date(ms: float) -> float:
    """Milliseconds since the epoch as matplotlib's date number."""
    from matplotlib import dates as mdates

    return float(mdates.date2num(datetime.fromtimestamp(ms / 1000, UTC)))  # type: ignore[no-untyped-call]


def _with_gaps(line: Line, span_ms: int | None, start_ms: int) -> tuple[list[float], list[float]]:
    """Nulls dropped; a NaN where a gap is longer than the panel's span-nulls threshold, so the line breaks.
    A point of an interval that began before the window is drawn at the window's start."""
    times: list[float] = []
    values: list[float] = []
    previous: int | None = None
    for t, v in zip(line.times_ms, line.values, strict=True):
        if v is None:
            continue
        if previous is not None and span_ms is not None and t - previous > span_ms:
            times.append(_date((t + previous) / 2))
            values.append(math.nan)
        times.append(_date(max(t, start_ms)))
        values.append(float(v))
        previous = t
    return times, values


def ranked(lines: Sequence[Line], top: int = TOP) -> tuple[list[Line], list[Line]]:
    """The lines to name (the highest latest value first) and the others; all are named when at most one would
    be left over."""
    order = sorted(lines, key=lambda line: (line.last is None, -(line.last or 0.0), line.label))
    if len(order) <= top + 1:
        return order, []
    return order[:top], order[top:]


def others_label(others: Sequence[Line]) -> str:
    return f"{len(others)} others (grey)"


def _colour(value: float, thresholds: tuple[tuple[float | None, str], ...]) -> str:
    colour = "tab:blue"
    for step, name in thresholds:
        if step is None or value >= step:
            colour = {"green": "tab:green", "red": "tab:red", "blue": "tab:blue", "orange": "tab:orange"}.get(
                name, name
            )
    return colour


def _empty(ax: Axes, text: str, size: int = 10, colour: str = "dimgray") -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color=colour, fontsize=size)
    ax.set_xticks([])
    ax.set_yticks([])


def _buckets(data: PanelData) -> set[int]:
    return {
        t for line in data.lines for t, v in zip(line.times_ms, line.values, strict=True) if v is not None
    }


def one_interval(data: PanelData) -> bool:
    """The panel's interval is as long as its window and every value falls in one interval (a 1-hour bar in a 30 s
    window): nothing to draw over time."""
    longer = data.interval_ms >= data.end_ms - data.start_ms
    return data.panel.type == "timeseries" and longer and len(_buckets(data)) == 1


def _time_axis(ax: Axes, data: PanelData) -> None:
    from matplotlib import dates as mdates

    ax.set_xlim(_date(data.start_ms), _date(data.end_ms))
    locator = mdates.AutoDateLocator(minticks=4, maxticks=8)  # type: ignore[no-untyped-call]
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))  # type: ignore[no-untyped-call]


def _legend(ax: Axes, ranked_out: bool) -> None:
    """Beside the plot, the named series first, highest latest value at the top, "others" last."""
    handles, labels = ax.get_legend_handles_labels()
    if not handles:
        return
    order = sorted(range(len(labels)), key=lambda i: labels[i].endswith(" others (grey)"))
    ax.legend(
        [handles[i] for i in order],
        [labels[i] for i in order],
        title=f"highest {TOP} by latest value" if ranked_out else None,
        title_fontsize=7,
        fontsize=7,
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),
        borderaxespad=0.0,
        framealpha=0.6,
    )


def draw_time_series(ax: Axes, data: PanelData) -> None:
    panel = data.panel
    if not data.lines:
        if panel.no_value is not None and not data.note:
            _empty(ax, panel.no_value, size=22, colour="tab:green")
        else:
            _empty(ax, data.note or "No data in the time range")
        return
    if one_interval(data):
        draw_one_interval(ax, data)
        return
    named, others = ranked(data.lines)
    width_days = data.interval_ms / 86_400_000
    drawn = [*named, *others]
    for line in [*others, *named]:
        grey = line in others
        colour = OTHERS_COLOUR if grey else None  # None: matplotlib's next colour
        label = others_label(others) if grey and line is others[0] else (None if grey else line.label)
        if panel.draw_style == "bars":
            # Side by side within each interval (the part of it inside the window), one slot per series.
            slot, slots = drawn.index(line), len(drawn)
            bars = [
                (max(t, data.start_ms), min(t + data.interval_ms, data.end_ms), v)
                for t, v in zip(line.times_ms, line.values, strict=True)
                if v is not None
            ]
            widths = [((b - a) / 86_400_000 or width_days) * 0.9 / slots for a, b, _ in bars]
            ax.bar(
                [_date(a) + w * slot for (a, _, _), w in zip(bars, widths, strict=True)],
                [v for _, _, v in bars],
                width=widths,
                align="edge",
                label=label,
                color=colour,
            )
        else:
            times, values = _with_gaps(line, panel.span_nulls_ms, data.start_ms)
            ax.plot(
                times,
                values,
                linewidth=0.8 if grey else 1.2,
                marker="." if len(times) < 30 else None,
                label=label,
                zorder=1 if grey else 3 - named.index(line) / len(named),  # the highest on top
                color=colour,
            )
    if panel.minimum is not None:
        ax.set_ylim(bottom=panel.minimum)
    _time_axis(ax, data)
    ax.set_ylabel(unit_label(panel.unit))
    ax.grid(alpha=0.3)
    _legend(ax, bool(others))


def _ranked_bars(ax: Axes, lines: list[Line], unit: str) -> None:
    """One bar per named series at its last value, and one grey bar for the others together."""
    named, others = ranked(lines)
    rows: list[tuple[str, float | None]] = [(line.label, line.last) for line in named]
    colours = ["tab:blue"] * len(rows)
    if others:
        rows.append((others_label(others), sum(float(line.last or 0.0) for line in others)))
        colours.append(OTHERS_COLOUR)
    _bars(ax, rows, unit, colours)


def draw_one_interval(ax: Axes, data: PanelData) -> None:
    """One bar per series: its value in the one interval the window falls in, which the note names."""
    (bucket,) = _buckets(data)
    _ranked_bars(ax, data.lines, data.panel.unit)
    begin = datetime.fromtimestamp(bucket / 1000, UTC)
    ax.set_xlabel(
        f"{unit_label(data.panel.unit)}  (one value per series, of the {format_ms(data.interval_ms)} from "
        f"{begin:%H:%M} UTC: the panel's interval is longer than the window)".strip(),
        fontsize=7,
    )


def _bars(ax: Axes, rows: Sequence[tuple[str, float | None]], unit: str, colours: Sequence[str] = ()) -> None:
    """Horizontal bars, one a row, the value written at the bar's end."""
    numbers = [float(v) if v is not None else 0.0 for _, v in rows]
    ax.barh([label for label, _ in rows], numbers, color=list(colours) or "tab:blue")
    text_unit = unit_label(unit)
    for index, number in enumerate(numbers):
        ax.text(number, index, f" {number:g} {text_unit}".rstrip(), va="center", fontsize=7)
    ax.set_xlim(0, (max(numbers, default=0) * 1.2) or 1)
    ax.invert_yaxis()
    ax.tick_params(axis="y", labelsize=7)
    ax.set_xlabel(text_unit)


def draw_gauge(ax: Axes, data: PanelData) -> None:
    panel = data.panel
    lines = [line for line in data.lines if line.last is not None]
    if not lines:
        _empty(ax, "No data in the time range")
        return
    named, others = ranked(lines)
    low = panel.minimum if panel.minimum is not None else 0.0
    high = panel.maximum if panel.maximum is not None else max(float(line.last or 0) for line in lines)
    labels = [line.label for line in named]
    numbers = [float(line.last or 0.0) for line in named]
    ax.barh(
        labels, [n - low for n in numbers], left=low, color=[_colour(n, panel.thresholds) for n in numbers]
    )
    for index, number in enumerate(numbers):
        ax.text(low + (high - low) * 0.01, index, f"{number:.0f}", va="center", fontsize=8, color="white")
    if others:
        values = [float(line.last or 0.0) for line in others]
        lowest, highest = min(values), max(values)
        ax.barh(
            [others_label(others)],
            [max(highest - lowest, (high - low) * 0.005)],
            left=lowest,
            color=OTHERS_COLOUR,
        )
        ax.text(highest, len(named), f" {lowest:.0f} to {highest:.0f}", va="center", ha="left", fontsize=7)
    ax.set_xlim(low, high)
    ax.invert_yaxis()
    ax.tick_params(axis="y", labelsize=7)
    ax.set_xlabel(unit_label(panel.unit))


def draw_bar_gauge(ax: Axes, data: PanelData) -> None:
    lines = [line for line in data.lines if line.last is not None]
    if not lines:
        _empty(ax, "No data in the time range")
        return
    _ranked_bars(ax, lines, data.panel.unit)


def draw_stat(ax: Axes, data: PanelData) -> None:
    values = [line.last for line in data.lines if line.last is not None]
    ax.set_xticks([])
    ax.set_yticks([])
    if not values and data.panel.no_value is None:
        _empty(ax, data.note or "No data")
        return
    total = sum(v for v in values if v is not None)
    text = f"{total:g} {unit_label(data.panel.unit)}".strip() if values else str(data.panel.no_value)
    ax.text(0.5, 0.55, text, ha="center", va="center", transform=ax.transAxes, fontsize=22, color="tab:green")
    if data.note:
        ax.text(
            0.5,
            0.15,
            data.note,
            ha="center",
            va="center",
            transform=ax.transAxes,
            fontsize=7,
            color="dimgray",
        )


def draw_panel(ax: Axes, data: PanelData) -> None:
    unit = unit_label(data.panel.unit)
    ax.set_title(data.panel.title + (f"  [{unit}]" if unit else ""), fontsize=9, loc="left")
    if data.panel.datasource_type == "cloudwatch":
        draw_stat(ax, data)
    elif data.panel.type == "gauge":
        draw_gauge(ax, data)
    elif data.panel.type == "bargauge":
        draw_bar_gauge(ax, data)
    elif data.panel.type == "stat":
        draw_stat(ax, data)
    else:
        draw_time_series(ax, data)
    ax.tick_params(labelsize=7)


def _margins(data: PanelData) -> tuple[float, float]:
    """Room left and right of a plot for its names: the gauge's sensor names, the time series' legend."""
    if data.panel.datasource_type == "cloudwatch" or not data.lines:
        return 0.0, 0.0
    if data.panel.type in ("gauge", "bargauge") or one_interval(data):
        return GAUGE_LABELS_IN, 0.0
    if data.panel.type == "timeseries":
        return 0.0, LEGEND_IN
    return 0.0, 0.0


def draw(
    dashboards: Sequence[model.Dashboard], data: Sequence[PanelData], out: Path, subtitle: str
) -> Figure:
    """One figure: each dashboard a band, each panel one plot placed on the dashboard's 24-column grid."""
    plt = _pyplot()
    height = sum(HEADER_IN + d.height * GRID_UNIT_IN for d in dashboards)
    figure: Figure = plt.figure(figsize=(FIGURE_WIDTH_IN, height))
    column_in = FIGURE_WIDTH_IN / 24
    by_panel = {(d.dashboard, d.panel.title): d for d in data}
    top_in = 0.0
    for dashboard in dashboards:
        figure.text(
            0.005, 1 - (top_in + 0.3) / height, f"{dashboard.title}  ({subtitle})", fontsize=13, weight="bold"
        )
        top_in += HEADER_IN
        for panel in dashboard.panels:
            panel_data = by_panel[(dashboard.title, panel.title)]
            extra_left, extra_right = _margins(panel_data)
            left = panel.x * column_in + PAD_LEFT_IN + extra_left
            top = top_in + panel.y * GRID_UNIT_IN + PAD_TOP_IN
            width = panel.w * column_in - PAD_LEFT_IN - PAD_RIGHT_IN - extra_left - extra_right
            tall = panel.h * GRID_UNIT_IN - PAD_TOP_IN - PAD_BOTTOM_IN
            ax = figure.add_axes(
                (left / FIGURE_WIDTH_IN, 1 - (top + tall) / height, width / FIGURE_WIDTH_IN, tall / height)
            )
            draw_panel(ax, panel_data)
        top_in += dashboard.height * GRID_UNIT_IN
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, dpi=80)
    plt.close(figure)
    return figure


def window(duration: str = "1h", now: datetime | None = None, start: datetime | None = None) -> TimeRange:
    """From `start` (or `duration` before the end) to `now` (default: the current time)."""
    end = now or datetime.now(UTC)
    if start is None:
        return TimeRange.last(duration, end)
    if start >= end:
        raise ValueError(
            f"the window's start ({start.isoformat()}) is not before its end ({end.isoformat()})"
        )
    return TimeRange(start, end)


def describe(time_range: TimeRange, start_given: bool, duration: str) -> str:
    seconds = (time_range.end_ms - time_range.start_ms) / 1000
    if start_given:
        return (
            f"{time_range.start:%Y-%m-%d %H:%M:%S} to {time_range.end:%H:%M:%S} UTC ({seconds:.0f} s), "
            "every variable on All"
        )
    return f"last {duration} to {time_range.end:%Y-%m-%d %H:%M} UTC, every variable on All"


def picture(
    endpoints: Endpoints, out: Path, time_range: TimeRange, subtitle: str, dashboards_dir: Path | None = None
) -> tuple[list[PanelData], Figure]:
    """Runs every panel's query over `time_range` and writes the picture; what each panel drew, and the figure."""
    # By default the dashboards of the catalog in use (the committed JSON for device-kinds/, tested to match).
    generated = [model.parse(json.loads(text)) for _, text in sorted(build.generate().items())]
    dashboards = model.load(dashboards_dir) if dashboards_dir else generated
    reader = InfluxReader.of(endpoints, "reader")
    data = collect(dashboards, reader, time_range, lambda: local_dead_letters(endpoints))
    # The SQL sink's hourly charts, below the dashboards, when a kind writes there and the sandbox has one.
    catalog = load_catalog()
    charts = sql_charts.dashboard(catalog)
    if charts is not None and endpoints.sql is not None:
        dashboards = [*dashboards, charts]
        data = [*data, *sql_charts.collect(endpoints, catalog, charts, time_range)]
    return data, draw(dashboards, data, out, subtitle)


def render(
    endpoints: Endpoints,
    out: Path = DEFAULT_OUT,
    duration: str = "1h",
    now: datetime | None = None,
    dashboards_dir: Path | None = None,
    start: datetime | None = None,
) -> list[PanelData]:
    """Runs every panel's query and writes the picture; returns what each panel drew. The window is `start` to
    `now` when a start is given (the demo's run), else the last `duration`."""
    time_range = window(duration, now, start)
    data, _ = picture(
        endpoints, out, time_range, describe(time_range, start is not None, duration), dashboards_dir
    )
    return data


def _instant(text: str) -> datetime:
    """An ISO 8601 time; one without a zone is UTC."""
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not a time: {text!r} (expected ISO 8601, e.g. 2026-12-01T10:00:00Z)"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grafana.render", description=__doc__.splitlines()[0])
    parser.add_argument("--endpoints", type=Path, default=DEFAULT_PATH, help="default: %(default)s")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="PNG to write (default: %(default)s)")
    parser.add_argument(
        "--range", default="1h", dest="duration", help="time range up to the end, e.g. 15m, 6h, 7d"
    )
    parser.add_argument(
        "--start",
        type=_instant,
        help="the window's start, ISO 8601 (e.g. 2026-12-01T10:00:00Z); overrides --range",
    )
    parser.add_argument("--end", type=_instant, help="the window's end, ISO 8601 (default: now)")
    args = parser.parse_args(argv)
    console = Console(stderr=True)
    try:
        endpoints = Endpoints.load(args.endpoints)
        data = render(endpoints, args.out, args.duration, now=args.end, start=args.start)
    except (FileNotFoundError, QueryError, ValueError) as error:
        console.print(f"[red]grafana.render: {error}[/red]")
        return 1
    table = Table("dashboard", "panel", "series", "note")
    for item in data:
        table.add_row(item.dashboard, item.panel.title, str(len(item.lines)), item.note.replace("\n", " "))
    console.print(table)
    console.print(f"wrote {args.out} ({len(data)} panels)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
