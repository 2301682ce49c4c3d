"""`make demo`: the whole pipeline on this machine, then where every reading went."""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from rich.console import Console
from rich.live import Live
from rich.table import Table

from sandbox.accounting import Accounting, count_points, queue_depth, wait_until_settled
from sandbox.deployment import aws_environment, deploy_local, rule_runner_stats
from sandbox.endpoints import Endpoints
from sandbox.processes import SandboxError
from sandbox.services import PROJECT_ROOT, Sandbox
from simulator.api import FleetGroup, run_groups
from simulator.fleet import Counters
from simulator.webhook import BackgroundFleet, WebhookFleet, local_target

PICTURE = PROJECT_ROOT / "build" / "dashboards.png"


@dataclass(frozen=True)
class DemoOptions:
    pressure_devices: int = 20
    shelf_devices: int = 5
    rate: float = 1.0
    duration: float = 30.0
    ingest_path: str = "direct"
    environment: str = "demo"
    webhook_buttons: int = 5  # endpoints of a device-management service, through the local webhook gateway
    webhook_shelves: int = 2


def live_view(counters: Counters, stats: dict[str, object], elapsed: float, duration: float) -> Table:
    table = Table(title=f"the pipeline at work: {elapsed:.0f} of {duration:.0f} s")
    for column in (
        "devices: sent",
        "acknowledged",
        "rules: received",
        "function: done",
        "retried",
        "dead letters",
    ):
        table.add_column(column, justify="right")
    dead = int(str(stats.get("on_failure", 0))) + int(str(stats.get("error_action", 0)))
    table.add_row(
        str(counters.sent),
        str(counters.acknowledged),
        str(stats.get("received", 0)),
        str(stats.get("delivered", 0)),
        str(stats.get("retried", 0)),
        str(dead),
    )
    return table


def run_fleet(sandbox: Sandbox, options: DemoOptions, console: Console) -> int:
    """Publish from the simulated devices, with a live view; returns how many readings the broker acknowledged."""
    started = time.monotonic()
    with Live(console=console, refresh_per_second=4, transient=True) as live:

        def on_tick(counters: Counters) -> None:
            elapsed = time.monotonic() - started
            live.update(live_view(counters, rule_runner_stats(sandbox), elapsed, options.duration))

        summary = run_groups(
            sandbox.endpoints_path,
            [FleetGroup("pressure", options.pressure_devices), FleetGroup("shelf", options.shelf_devices)],
            rate=options.rate,
            duration=options.duration,
            on_tick=on_tick,
        )
    return summary.acknowledged


def account(
    sandbox: Sandbox, endpoints: Endpoints, sent: int, since: datetime, before: dict[str, int]
) -> Accounting:
    """Wait until the pipeline has taken every reading and stands still, then count where they went."""
    with aws_environment(endpoints):

        def depths() -> dict[str, int]:
            return {name: queue_depth(url) for name, url in endpoints.queues.items()}

        def progress() -> tuple[object, ...]:
            until = datetime.now(UTC) + timedelta(minutes=1)
            stats, queues = rule_runner_stats(sandbox), depths()
            busy = stats.get("received", 0) < sent or not stats.get("idle") or queues.get("ingest", 0) > 0
            return (
                busy,
                sorted(stats.items()),
                sorted(queues.items()),
                count_points(endpoints, since, until),
            )

        wait_until_settled(progress, timeout=180, quiet=3.0)
        queues = depths()
        written = sum(count_points(endpoints, since, datetime.now(UTC) + timedelta(minutes=1)).values())
    return Accounting(
        sent=sent,
        written=written,
        rejected=queues["rejected"] - before["rejected"],
        dead_letters=queues["dead_letter"] - before["dead_letter"],
    )


def summary_table(accounting: Accounting, stats: dict[str, object], by_webhook: int = 0) -> Table:
    table = Table(title="Where every reading went")
    table.add_column("")
    table.add_column("readings", justify="right")
    table.add_row("sent (acknowledged by the broker)", str(accounting.sent))
    table.add_row("  of them by webhook (acknowledged by the webhook gateway)", str(by_webhook))
    table.add_row("received by the IoT rules", str(stats.get("received", "?")))
    table.add_row("written to InfluxDB (counted by a query)", str(accounting.written))
    table.add_row("rejected (kept with their reason)", str(accounting.rejected))
    table.add_row("dead letters (kept for make replay)", str(accounting.dead_letters))
    style = "green" if accounting.lost == 0 else "bold red"
    table.add_row(
        f"[{style}]lost = sent - written - rejected - dead letters[/]", f"[{style}]{accounting.lost}[/]"
    )
    return table


def render_picture(endpoints_path: Path, out: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "grafana.render",
            "--endpoints",
            str(endpoints_path),
            "--out",
            str(out),
            "--range",
            "15m",
        ],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise SandboxError(
            f"drawing the dashboards failed: {(result.stderr or result.stdout).strip()[-600:]}"
        )


NEXT_STEPS = """[bold]Next[/]
  look at the dashboards:   {picture}
  query InfluxDB:           influx -host 127.0.0.1 -port {port} -username reader -password '<see {endpoints}>' \\
                              -database telemetry -execute 'SELECT mean(pressureValue) FROM pressure GROUP BY sensorID'
  more devices:             make simulate DEVICES=50 RATE=5 DURATION=60
  replay dead letters:      make replay
  stop everything:          make down"""


def run_demo(sandbox: Sandbox, options: DemoOptions, console: Console) -> int:
    with console.status("starting the local services and deploying every stack to the local AWS endpoint"):
        endpoints = deploy_local(sandbox, environment=options.environment, ingest_path=options.ingest_path)
    console.print(f"[green]deployed[/] ({options.ingest_path} path); endpoints in {sandbox.endpoints_path}")
    with aws_environment(endpoints):
        before = {name: queue_depth(url) for name, url in endpoints.queues.items()}
    since = datetime.now(UTC) - timedelta(seconds=1)
    total = options.pressure_devices + options.shelf_devices
    console.print(
        f"{total} devices publishing for {options.duration:.0f} s at {options.rate:g} reading/s each"
    )
    console.print(f"{options.webhook_buttons + options.webhook_shelves} more reporting through the webhook")
    webhook = BackgroundFleet(
        WebhookFleet(local_target(sandbox.endpoints_path), options.webhook_buttons, options.webhook_shelves),
        options.rate,
        options.duration,
    )
    sent = run_fleet(sandbox, options, console)
    by_webhook = webhook.wait()
    with console.status("waiting for the pipeline to take every reading"):
        accounting = account(sandbox, endpoints, sent + by_webhook.readings_sent, since, before)
    console.print(summary_table(accounting, rule_runner_stats(sandbox), by_webhook.readings_sent))
    with console.status("drawing the dashboards from the local InfluxDB"):
        render_picture(sandbox.endpoints_path, PICTURE)
    endpoints.model_copy(update={"dashboard_png": str(PICTURE)}).save(sandbox.endpoints_path)
    console.print(f"dashboards drawn: {PICTURE}")
    port = endpoints.influxdb.url.rsplit(":", 1)[1]
    console.print(NEXT_STEPS.format(picture=PICTURE, port=port, endpoints=sandbox.endpoints_path))
    if accounting.lost != 0:
        console.print(
            f"[bold red]{accounting.lost} readings are unaccounted for[/]: see {sandbox.root}/logs/"
        )
        return 1
    return 0
