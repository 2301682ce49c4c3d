"""Command line of the local sandbox."""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

from catalog import CatalogError, load_catalog
from infrastructure.stacks import ingest
from local_aws.iot.access import sync
from local_aws.iot.policy import PolicyError
from reach.endpoints import DEFAULT_ROOT
from sandbox.manager import logs
from sandbox.manager.deployment import RULE_RUNNER, deploy_local, rule_runner_stats
from sandbox.manager.processes import SandboxError
from sandbox.manager.services import Sandbox, ServiceStatus
from sandbox.scenarios.demo import DemoOptions, run_demo
from sandbox.scenarios.drill import Drill, DrillOptions, run_drill
from sandbox.scenarios.watch import run_watch
from simulator.arguments import positive_float

console = Console()
STOPPED_STATUS = 3  # LSB init scripts' `status`: "program is not running"


def _status_table(sandbox: Sandbox, services: list[ServiceStatus] | None = None) -> Table:
    table = Table(title=f"Local services ({sandbox.root})")
    for column in ("service", "state", "pid", "port"):
        table.add_column(column)
    for service in sandbox.status() if services is None else services:
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


def build_parser() -> argparse.ArgumentParser:
    """One subcommand each, with only its own options in its --help."""
    parser = argparse.ArgumentParser(prog="python -m sandbox", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--root", type=Path, default=DEFAULT_ROOT, help="folder for data, logs and PIDs")
    ingest_path = argparse.ArgumentParser(add_help=False)
    ingest_path.add_argument(
        "--ingest-path", choices=ingest.INGEST_PATHS, default="direct", help="the IngestPath"
    )
    fleet = argparse.ArgumentParser(add_help=False)
    fleet.add_argument(
        "--devices",
        action="append",
        default=[],
        metavar="KIND=N",
        help="devices of a kind (repeatable; default shelf=5 and 20 of every other kind, 0 leaves it out; "
        "button=N: endpoints reporting through the webhook, default 5)",
    )
    fleet.add_argument("--rate", type=positive_float, default=1.0, help="readings per second per device")
    fleet.add_argument(
        "--drain-timeout",
        type=positive_float,
        default=600.0,
        help="the most seconds to wait for readings still in flight before counting",
    )

    up = commands.add_parser(
        "up", parents=[common, ingest_path], help="start the services and deploy every stack to them"
    )
    up.add_argument("--services-only", action="store_true", help="the services, without the stacks")
    commands.add_parser("down", parents=[common], help="stop every local service")
    commands.add_parser(
        "status", parents=[common], help="what runs (exit status 3 when the sandbox is stopped)"
    )
    demo = commands.add_parser(
        "demo", parents=[common, ingest_path, fleet], help="the whole pipeline with a fleet, then the counts"
    )
    demo.add_argument("--duration", type=positive_float, default=30.0, help="seconds")
    demo.add_argument(
        "--device-tls",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="provision the devices and connect them over mutual TLS, exactly as to AWS IoT Core (the default); "
        "--no-device-tls: the broker's plain listener, where no connection vouches for a device",
    )
    drill = commands.add_parser(
        "drill",
        parents=[common, ingest_path, fleet],
        help="stop each part mid-stream, replay, and count what was lost or duplicated",
    )
    drill.add_argument("--duration", type=positive_float, default=30.0, help="seconds per fault")
    drill.add_argument("--outage", type=positive_float, default=10.0, help="seconds each part stays down")
    drill.add_argument(
        "--fault",
        action="append",
        default=[],
        choices=tuple(Drill.FAULTS),
        help="only this fault (repeatable)",
    )
    watch = commands.add_parser(
        "watch",
        parents=[common],
        help="a live view of what arrives: readings a second per kind, the latest sensors, the rejections",
    )
    watch.add_argument("--once", action="store_true", help="one frame, then exit")
    watch.add_argument("--interval", type=positive_float, default=1.0, help="seconds between frames")
    log = commands.add_parser(
        "logs", parents=[common], help="the local services' logs (--follow: as they grow)"
    )
    log.add_argument("service", nargs="?", help="one service (default: every one)")
    log.add_argument("-f", "--follow", action="store_true", help="keep printing new lines until Ctrl-C")
    log.add_argument("-n", "--lines", type=int, default=20, help="the last lines of each log (default 20)")
    commands.add_parser(
        "access",
        parents=[common],
        help="rewrite the device endpoint's access rules from the IoT registry (after changing it "
        "with other tools than 'simulator provision --target local')",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
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
        if args.command == "watch":
            return run_watch(sandbox, console, once=args.once, interval=args.interval)
        if args.command == "logs":
            return show_logs(sandbox, args.service, args.lines, follow=args.follow)
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
            return show_status(sandbox)
    except (SandboxError, CatalogError, PolicyError) as error:
        console.print(f"[red]error:[/] {error}", soft_wrap=True)
        return 1
    return 0


def _write(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def show_logs(sandbox: Sandbox, service: str | None, lines: int, *, follow: bool) -> int:
    """The last lines of each chosen log, then (with follow) every new line, prefixed with its service."""
    services = logs.chosen(sandbox, service)
    logs.show(sandbox, services, lines, _write)
    if follow:
        with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is how a follow ends
            logs.follow(sandbox, services, _write)
    return 0


def show_status(sandbox: Sandbox) -> int:
    """The services' states from their PIDs; the rule runner's counters only while it runs (they are its
    last words once it stopped). 0: every service runs; 3 (as LSB's `status`): some or all are stopped."""
    services = sandbox.status()  # (it forgets a stale PID file: read once)
    console.print(_status_table(sandbox, services))
    stopped = [service.name for service in services if not service.running]
    runner = next((service for service in services if service.name == RULE_RUNNER), None)
    if runner is not None and runner.running:
        health = _runner_health(sandbox)
        if health:
            console.print(health)
    if not stopped:
        return 0
    if len(stopped) == len(services):
        console.print("the sandbox is stopped: start it with 'python -m sandbox up' (or 'make demo')")
    else:
        console.print(
            f"[yellow]the sandbox is partly stopped[/] ({', '.join(stopped)}): "
            "'python -m sandbox up' starts what is missing"
        )
    return STOPPED_STATUS
