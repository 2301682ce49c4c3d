"""`python -m sandbox watch`: what arrives on the running sandbox, live in the terminal, refreshed every second.

Three parts, each read the way the dashboards read it:
- readings a second per kind, written and rejected, over the last WINDOW_SECONDS of the function's `ingest_health`
  points (stamped when the function ran, so this is arrival, whatever the devices' clocks say);
- the latest value of the sensors heard from most recently, with their display names (grafana/display.py);
- the rejected readings: how many wait, the rejections of the window by reason, and the newest few with their
  reasons and ages, peeked from the rejected queue without consuming them (reach/queues.py says how).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

from catalog import Catalog, load_catalog
from catalog.units import display_unit
from grafana.display import RENAMES, apply_renames
from grafana.names import (
    COUNT_FIELD,
    DISPLAY_NAME_TAGS,
    HEALTH,
    HEALTH_KIND_TAG,
    HEALTH_OUTCOME_TAG,
    HEALTH_REASON_TAG,
    SENSOR_ID_TAG,
)
from reach.endpoints import Endpoints
from reach.influx import InfluxReader, QueryError
from reach.queues import Letter, age_text, depth, peek
from sandbox.manager.services import SERVICE_NAMES, Sandbox

WINDOW_SECONDS = 10  # the rates are means over this window: one second alone is mostly noise
RECENT = "1h"  # how far back the latest values are looked for
SENSOR_ROWS = 8
REJECTION_ROWS = 5
DOWN_STATUS = 3  # as `status`: the sandbox is not running
QUEUES = ("rejected", "dead_letter")  # endpoints.json's names of the ingest stack's queues


class SandboxDown(RuntimeError):
    """The sandbox stopped answering; the message is the one line to print."""


@dataclass(frozen=True)
class Latest:
    kind: str
    sensor: str  # its display name
    time_ms: int
    values: str  # "812 hPa, 55 cP"


@dataclass
class Snapshot:
    taken: datetime
    written: Counter[str] = field(default_factory=Counter)  # per kind, in the window
    rejected: Counter[str] = field(default_factory=Counter)  # per kind, in the window
    reasons: Counter[str] = field(default_factory=Counter)  # per reason code, in the window
    latest: list[Latest] = field(default_factory=list)
    waiting: dict[str, int | None] = field(default_factory=dict)  # per queue; None: not deployed
    newest_rejections: list[Letter] = field(default_factory=list)


def _health(reader: InfluxReader, snapshot: Snapshot) -> None:
    text = (
        f'SELECT sum("{COUNT_FIELD}") FROM "{HEALTH}" WHERE time > now() - {WINDOW_SECONDS}s '
        f'GROUP BY "{HEALTH_KIND_TAG}", "{HEALTH_OUTCOME_TAG}", "{HEALTH_REASON_TAG}"'
    )
    for series in reader.query(text):
        count = int(sum(value or 0 for value in series.column("sum")))
        kind, outcome = series.tags.get(HEALTH_KIND_TAG, ""), series.tags.get(HEALTH_OUTCOME_TAG, "")
        if outcome == "written":
            snapshot.written[kind] += count
        elif outcome == "rejected":
            snapshot.rejected[kind] += count
            snapshot.reasons[series.tags.get(HEALTH_REASON_TAG) or "?"] += count


def _number(value: object) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _latest(reader: InfluxReader, catalog: Catalog) -> list[Latest]:
    rows = []
    for kind in catalog:
        text = (
            f'SELECT * FROM "{kind.measurement}" WHERE time > now() - {RECENT} '
            f'GROUP BY "{SENSOR_ID_TAG}" ORDER BY time DESC LIMIT 1'
        )
        for series in reader.query(text):
            row: dict[str, Any] = dict(zip(series.columns, series.values[0], strict=True))
            sensor = series.tags.get(SENSOR_ID_TAG, "")
            alias = "|".join([sensor, *(str(row.get(tag) or "") for tag in DISPLAY_NAME_TAGS)])
            values = ", ".join(
                f"{_number(row[name])} {display_unit(spec.unit)}".strip()
                for name, spec in kind.fields.items()
                if row.get(name) is not None
            )
            name = apply_renames(alias, [(r.regex, r.pattern) for r in RENAMES])
            rows.append(Latest(kind.name, name, int(row["time"]), values))
    return sorted(rows, key=lambda latest: latest.time_ms, reverse=True)[:SENSOR_ROWS]


def take(endpoints: Endpoints, catalog: Catalog, sqs: Any, reader: InfluxReader) -> Snapshot:
    """One reading of InfluxDB and the queues; SandboxDown when either does not answer."""
    snapshot = Snapshot(datetime.now(UTC))
    try:
        _health(reader, snapshot)
        snapshot.latest = _latest(reader, catalog)
    except QueryError as error:
        raise SandboxDown(f"InfluxDB stopped answering ({error})") from None
    try:
        for name in QUEUES:
            url = endpoints.queues.get(name)
            snapshot.waiting[name] = depth(sqs, url) if url else None
        if rejected := endpoints.queues.get("rejected"):
            letters = peek(sqs, rejected, limit=10)
            snapshot.newest_rejections = sorted(
                letters, key=lambda letter: letter.sent or snapshot.taken, reverse=True
            )[:REJECTION_ROWS]
    except (BotoCoreError, ClientError) as error:
        raise SandboxDown(f"the local AWS endpoint stopped answering ({error})") from None
    return snapshot


def render(snapshot: Snapshot, catalog: Catalog) -> RenderableType:
    """One frame: arrivals per kind, the latest sensors, the rejections."""
    arrivals = Table(title=f"Arriving (readings a second, mean of the last {WINDOW_SECONDS} s)")
    for column in ("kind", "written/s", "rejected/s"):
        arrivals.add_column(column, justify="left" if column == "kind" else "right")
    for kind in catalog.names:
        written, rejected = snapshot.written[kind], snapshot.rejected[kind]
        arrivals.add_row(
            kind,
            f"{written / WINDOW_SECONDS:.1f}",
            f"[red]{rejected / WINDOW_SECONDS:.1f}[/]" if rejected else "0.0",
        )

    sensors = Table(title="Latest value per sensor (most recent first)")
    for column in ("sensor", "kind", "value", "age"):
        sensors.add_column(column)
    now_ms = snapshot.taken.timestamp() * 1000
    for latest in snapshot.latest:
        sensors.add_row(
            latest.sensor, latest.kind, latest.values, age_text(max(0.0, now_ms - latest.time_ms) / 1000)
        )
    if not snapshot.latest:
        sensors.add_row("(no reading in the last hour)", "", "", "")

    waiting = ", ".join(
        f"{name.replace('_', ' ')}: {'not deployed' if count is None else count} waiting"
        for name, count in snapshot.waiting.items()
    )
    reasons = ", ".join(f"{reason} {count}" for reason, count in snapshot.reasons.most_common()) or "none"
    rejections = Table(title="Rejected readings (newest first)", caption=waiting)
    for column in ("age", "topic", "device", "reason"):
        rejections.add_column(column, overflow="fold")
    for letter in snapshot.newest_rejections:
        rejections.add_row(
            age_text(letter.age_seconds(snapshot.taken)), letter.topic, letter.device, Text(letter.reason)
        )
    if not snapshot.newest_rejections:
        rejections.add_row("", "", "", "(none waiting)")
    header = Text(
        f"{snapshot.taken:%H:%M:%S} UTC · rejections in the last {WINDOW_SECONDS} s: {reasons} · Ctrl-C to stop"
    )
    return Group(header, arrivals, sensors, rejections)


def down_line(sandbox: Sandbox) -> str | None:
    """One line when a service the view reads is stopped; None when the sandbox runs."""
    stopped = [s.name for s in sandbox.status() if s.name in SERVICE_NAMES and not s.running]
    if not stopped:
        return None
    return (
        f"the sandbox is down ({', '.join(stopped)} stopped): "
        "start it with 'python -m sandbox up' (or 'make demo')"
    )


def run_watch(
    sandbox: Sandbox,
    console: Console,
    *,
    once: bool = False,
    interval: float = 1.0,
    keep_going: Callable[[], bool] = lambda: True,
) -> int:
    """The live view until Ctrl-C (or one frame with `once`); DOWN_STATUS with one line when the sandbox is down."""
    problem = down_line(sandbox)
    if problem:
        console.print(problem, soft_wrap=True, markup=False)
        return DOWN_STATUS
    endpoints, catalog = sandbox.endpoints(), load_catalog()
    sqs = endpoints.aws.client("sqs")
    reader_user = (
        endpoints.influxdb.users.reader
    )  # a short timeout: a frame a second, and a down store said soon
    reader = InfluxReader(
        endpoints.influxdb.url, endpoints.influxdb.database, reader_user.username, reader_user.password, 5.0
    )
    try:
        if once:
            console.print(render(take(endpoints, catalog, sqs, reader), catalog))
            return 0
        with Live(console=console, auto_refresh=False, screen=False) as live:
            while keep_going():
                live.update(render(take(endpoints, catalog, sqs, reader), catalog), refresh=True)
                time.sleep(interval)
    except SandboxDown as error:
        console.print(f"the sandbox is down: {error}", soft_wrap=True, markup=False)
        return DOWN_STATUS
    except KeyboardInterrupt:
        pass
    finally:
        reader.client.close()
    return 0
