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
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

from grafana import build, model
from grafana.expand import TimeRange, expand, interval_ms, panel_range
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


@dataclass(frozen=True)
class Line:
    label: str
    times_ms: list[int]
    values: list[float | None]

    @property
    def last(self) -> float | None:
        return next((v for v in reversed(self.values) if v is not None), None)


@dataclass(frozen=True)
class PanelData:
    dashboard: str
    panel: model.Panel
    lines: list[Line]
    interval_ms: int
    start_ms: int
    end_ms: int
    note: str = ""  # why there is nothing to draw, said on the plot


def label_for(alias: str, series: Series, column: str) -> str:
    """Series names as Grafana's InfluxDB data source makes them: the alias with $tag_<key>, or measurement.field."""
    if alias:
        text = alias.replace("$col", column).replace("$measurement", series.name).replace("$m", series.name)
        for key in sorted(series.tags, key=len, reverse=True):
            text = text.replace(f"$tag_{key}", series.tags[key] or "(none)")
        return text
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
                    lines.append(Line(label_for(target.alias, series, column), times, series.column(column)))
    return PanelData(dashboard.title, panel, lines, interval, time_range.start_ms, time_range.end_ms)


def local_dead_letters(endpoints: Endpoints) -> tuple[int | None, str]:
    """The local dead-letter queue's depth from moto's SQS; CloudWatch itself does not exist here."""
    url = endpoints.queues.get("dead_letter")
    if not url:
        return (
            None,
            "no data locally: CloudWatch does not run in the sandbox\nand no local dead-letter queue is deployed",
        )
    import boto3  # only needed for this panel

    aws = endpoints.aws
    sqs = boto3.client(
        "sqs",
        endpoint_url=aws.endpoint_url,
        region_name=aws.region,
        aws_access_key_id=aws.access_key_id,
        aws_secret_access_key=aws.secret_access_key,
    )
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


def unit_label(unit: str) -> str:
    """Grafana unit ids as the axis shows them."""
    if unit.startswith("suffix:"):
        return unit.removeprefix("suffix:").strip()
    return {"pressurehpa": "hPa", "short": "", "none": "", "percent": "%"}.get(unit, unit)


def _date(ms: float) -> float:
    """Milliseconds since the epoch as matplotlib's date number."""
    from matplotlib import dates as mdates

    return float(mdates.date2num(datetime.fromtimestamp(ms / 1000, UTC)))  # type: ignore[no-untyped-call]


def _with_gaps(line: Line, span_ms: int | None) -> tuple[list[float], list[float]]:
    """Nulls dropped; a NaN where a gap is longer than the panel's span-nulls threshold, so the line breaks."""
    times: list[float] = []
    values: list[float] = []
    previous: int | None = None
    for t, v in zip(line.times_ms, line.values, strict=True):
        if v is None:
            continue
        if previous is not None and span_ms is not None and t - previous > span_ms:
            times.append(_date((t + previous) / 2))
            values.append(math.nan)
        times.append(_date(t))
        values.append(float(v))
        previous = t
    return times, values


def _colour(value: float, thresholds: tuple[tuple[float | None, str], ...]) -> str:
    colour = "tab:blue"
    for step, name in thresholds:
        if step is None or value >= step:
            colour = {"green": "tab:green", "red": "tab:red", "blue": "tab:blue", "orange": "tab:orange"}.get(
                name, name
            )
    return colour


def _empty(ax: Axes, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="dimgray", fontsize=10)
    ax.set_xticks([])
    ax.set_yticks([])


def draw_time_series(ax: Axes, data: PanelData) -> None:
    panel = data.panel
    if not data.lines:
        _empty(ax, data.note or "No data in the time range")
        return
    width_days = data.interval_ms / 86_400_000
    for line in data.lines:
        if panel.draw_style == "bars":
            points = [(_date(t), v) for t, v in zip(line.times_ms, line.values, strict=True) if v is not None]
            ax.bar(
                [t for t, _ in points],
                [v for _, v in points],
                width=width_days * 0.9,
                alpha=0.6,
                label=line.label,
            )
        else:
            times, values = _with_gaps(line, panel.span_nulls_ms)
            ax.plot(times, values, linewidth=1, marker="." if len(times) < 30 else None, label=line.label)
    if panel.minimum is not None:
        ax.set_ylim(bottom=panel.minimum)
    ax.set_xlim(_date(data.start_ms), _date(data.end_ms))
    from matplotlib import dates as mdates

    locator = mdates.AutoDateLocator()  # type: ignore[no-untyped-call]
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))  # type: ignore[no-untyped-call]
    ax.set_ylabel(unit_label(panel.unit))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=6, loc="upper left", ncol=max(1, min(4, len(data.lines) // 6 + 1)), framealpha=0.6)


def draw_gauge(ax: Axes, data: PanelData) -> None:
    panel = data.panel
    values = [(line.label, line.last) for line in data.lines if line.last is not None]
    if not values:
        _empty(ax, "No data in the time range")
        return
    low = panel.minimum if panel.minimum is not None else 0.0
    high = panel.maximum if panel.maximum is not None else max(v for _, v in values if v is not None)
    labels = [label for label, _ in values]
    numbers = [float(v) for _, v in values if v is not None]
    ax.barh(
        labels, [n - low for n in numbers], left=low, color=[_colour(n, panel.thresholds) for n in numbers]
    )
    for index, number in enumerate(numbers):
        ax.text(low + (high - low) * 0.01, index, f"{number:.0f}", va="center", fontsize=8, color="white")
    ax.set_xlim(low, high)
    ax.invert_yaxis()
    ax.tick_params(axis="y", labelsize=6)
    ax.set_xlabel(unit_label(panel.unit))


def draw_bar_gauge(ax: Axes, data: PanelData) -> None:
    values = [(line.label, line.last) for line in data.lines if line.last is not None]
    if not values:
        _empty(ax, "No data in the time range")
        return
    labels = [label for label, _ in values]
    numbers = [float(v) for _, v in values if v is not None]
    ax.barh(labels, numbers, color="tab:blue")
    for index, number in enumerate(numbers):
        ax.text(number, index, f" {number:g}", va="center", fontsize=7)
    ax.set_xlim(0, max(numbers) * 1.15 or 1)
    ax.invert_yaxis()
    ax.tick_params(axis="y", labelsize=7)
    ax.set_xlabel(unit_label(data.panel.unit))


def draw_stat(ax: Axes, data: PanelData) -> None:
    values = [line.last for line in data.lines if line.last is not None]
    ax.set_xticks([])
    ax.set_yticks([])
    if not values:
        _empty(ax, data.note or "No data")
        return
    total = sum(v for v in values if v is not None)
    text = f"{total:g} {unit_label(data.panel.unit)}".strip()
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
            left = panel.x * column_in + PAD_LEFT_IN
            top = top_in + panel.y * GRID_UNIT_IN + PAD_TOP_IN
            width = panel.w * column_in - PAD_LEFT_IN - PAD_RIGHT_IN
            tall = panel.h * GRID_UNIT_IN - PAD_TOP_IN - PAD_BOTTOM_IN
            ax = figure.add_axes(
                (left / FIGURE_WIDTH_IN, 1 - (top + tall) / height, width / FIGURE_WIDTH_IN, tall / height)
            )
            draw_panel(ax, by_panel[(dashboard.title, panel.title)])
        top_in += dashboard.height * GRID_UNIT_IN
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, dpi=80)
    plt.close(figure)
    return figure


def render(
    endpoints: Endpoints,
    out: Path = DEFAULT_OUT,
    duration: str = "1h",
    now: datetime | None = None,
    dashboards_dir: Path | None = None,
) -> list[PanelData]:
    """Runs every panel's query and writes the picture; returns what each panel drew."""
    # By default the dashboards of the catalog in use (the committed JSON for device-kinds/, tested to match).
    generated = [model.parse(json.loads(text)) for _, text in sorted(build.generate().items())]
    dashboards = model.load(dashboards_dir) if dashboards_dir else generated
    reader = InfluxReader.of(endpoints, "reader")
    time_range = TimeRange.last(duration, now or datetime.now(UTC))
    data = collect(dashboards, reader, time_range, lambda: local_dead_letters(endpoints))
    draw(
        dashboards,
        data,
        out,
        f"last {duration} to {time_range.end:%Y-%m-%d %H:%M} UTC, every variable on All",
    )
    return data


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grafana.render", description=__doc__.splitlines()[0])
    parser.add_argument("--endpoints", type=Path, default=DEFAULT_PATH, help="default: %(default)s")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="PNG to write (default: %(default)s)")
    parser.add_argument(
        "--range", default="1h", dest="duration", help="time range up to now, e.g. 15m, 6h, 7d"
    )
    args = parser.parse_args(argv)
    console = Console(stderr=True)
    try:
        endpoints = Endpoints.load(args.endpoints)
        data = render(endpoints, args.out, args.duration)
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
