"""Command line of the local sandbox."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console
from rich.table import Table

from catalog import load_catalog
from sandbox.broker_access import sync
from sandbox.demo import DemoOptions, run_demo
from sandbox.deployment import deploy_local, rule_runner_stats
from sandbox.drill import Drill, DrillOptions, run_drill
from sandbox.endpoints import DEFAULT_ROOT
from sandbox.processes import SandboxError
from sandbox.services import Sandbox

console = Console()


def _status_table(sandbox: Sandbox) -> Table:
    table = Table(title=f"Local services ({sandbox.root})")
    for column in ("service", "state", "pid", "port"):
        table.add_column(column)
    for service in sandbox.status():
        state = "[green]running[/]" if service.running else "[red]stopped[/]"
        table.add_row(service.name, state, str(service.pid or "-"), str(service.port or "-"))
    return table


def devices_per_kind(pairs: list[str]) -> dict[str, int]:
    """`--devices pressure=20` pairs as a mapping; a kind the catalog does not have is refused."""
    names = load_catalog().names
    devices = {}
    for pair in pairs:
        name, _, count = pair.partition("=")
        if name not in names or not count.isdigit():
            raise SandboxError(
                f"--devices {pair!r}: give KIND=N with a kind of the catalog ({', '.join(names)})"
            )
        devices[name] = int(count)
    return devices


def _runner_health(sandbox: Sandbox) -> str | None:
    """One line on the rule runner from its counters: what it holds and whether every worker is well."""
    stats = rule_runner_stats(sandbox)
    if not stats:
        return None
    workers: dict[str, dict[str, object]] = stats.get("workers", {})
    dead = {n: w for n, w in workers.items() if w.get("state") == "dead"}
    retrying = {n: w for n, w in workers.items() if w.get("state") == "retrying"}
    line = (
        f"rule runner: {stats.get('received', 0)} received, {stats.get('acknowledged', 0)} acknowledged, "
        f"{stats.get('delivered', 0)} delivered; holding {stats.get('unacknowledged', 0)} unacknowledged"
        f", {stats.get('stored_events', 0)} stored events and {stats.get('queued_messages', 0)} messages in the"
        " ingest queue"
    )
    if dead:
        return (
            line + "\n[red]dead workers:[/] " + "; ".join(f"{n}: {w.get('problem')}" for n, w in dead.items())
        )
    if retrying:
        return (
            line
            + "\n[yellow]retrying:[/] "
            + "; ".join(f"{n}: {w.get('problem')}" for n, w in retrying.items())
        )
    return line + ("; every worker well" if workers else "")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox", description=__doc__)
    parser.add_argument(
        "command",
        choices=("up", "down", "status", "demo", "drill", "access"),
        help="access: rewrite the device endpoint's access rules from the IoT registry (after changing it "
        "with other tools than 'simulator provision --target local')",
    )
    parser.add_argument("--root", type=Path, default=DEFAULT_ROOT, help="folder for data, logs and PIDs")
    parser.add_argument(
        "--devices",
        action="append",
        default=[],
        metavar="KIND=N",
        help="demo: devices of a kind (repeatable; default shelf=5 and 20 of every other kind, 0 leaves it out; "
        "button=N: endpoints reporting through the webhook, default 5)",
    )
    parser.add_argument("--rate", type=float, default=1.0, help="demo: readings per second per device")
    parser.add_argument(
        "--duration", type=float, default=30.0, help="demo: seconds; drill: seconds per fault"
    )
    parser.add_argument("--outage", type=float, default=10.0, help="drill: seconds each part stays down")
    parser.add_argument(
        "--fault",
        action="append",
        default=[],
        help=f"drill: only this fault (repeatable): {', '.join(Drill.FAULTS)}",
    )
    parser.add_argument(
        "--ingest-path", choices=("direct", "queued"), default="direct", help="the IngestPath"
    )
    parser.add_argument(
        "--device-tls",
        action="store_true",
        help="demo: provision the devices and connect them over mutual TLS, exactly as to AWS IoT Core",
    )
    parser.add_argument(
        "--drain-timeout",
        type=float,
        default=600.0,
        help="demo: the most seconds to wait for readings still in flight before counting",
    )
    parser.add_argument("--services-only", action="store_true", help="up: the services, without the stacks")
    args = parser.parse_args(argv)
    sandbox = Sandbox(args.root)
    try:
        if args.command == "demo":
            options = DemoOptions(
                {**DemoOptions().devices, **devices_per_kind(args.devices)},
                args.rate,
                args.duration,
                args.ingest_path,
                device_tls=args.device_tls,
                drain_timeout=args.drain_timeout,
            )
            return run_demo(sandbox, options, console)
        if args.command == "drill":
            drill = DrillOptions(
                ingest_path=args.ingest_path,
                fleet=DemoOptions({**DemoOptions().devices, **devices_per_kind(args.devices)}).fleet(
                    load_catalog()
                ),
                rate=args.rate,
                duration=args.duration,
                outage=args.outage,
                drain_timeout=args.drain_timeout,
                faults=tuple(args.fault),
            )
            return run_drill(sandbox, drill, console)
        if args.command == "up":
            already = sandbox.is_up()
            if args.services_only:
                endpoints = sandbox.up()
            else:
                with console.status(
                    "starting the services and deploying every stack to the local AWS endpoint"
                ):
                    endpoints = deploy_local(sandbox, ingest_path=args.ingest_path)
            console.print("services were running: reused them" if already else "local services started")
            console.print(_status_table(sandbox))
            console.print(f"endpoints: {sandbox.endpoints_path} (InfluxDB {endpoints.influxdb.url})")
        elif args.command == "access":
            access = sync(sandbox.access_path, sandbox.endpoints().aws)
            console.print(f"access rules for {len(access.principals)} certificates: {sandbox.access_path}")
        elif args.command == "down":
            stopped = sandbox.down()
            console.print(f"stopped: {', '.join(stopped)}" if stopped else "nothing was running")
        else:
            console.print(_status_table(sandbox))
            health = _runner_health(sandbox)
            if health:
                console.print(health)
    except SandboxError as error:
        console.print(f"[red]error:[/] {error}")
        return 1
    return 0
