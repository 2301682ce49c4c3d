"""Command line of the local sandbox."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console
from rich.table import Table

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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox", description=__doc__)
    parser.add_argument("command", choices=("up", "down", "status", "demo"))
    parser.add_argument("--root", type=Path, default=DEFAULT_ROOT, help="folder for data, logs and PIDs")
    parser.add_argument("--devices", type=int, default=20, help="demo: pressure devices")
    parser.add_argument("--shelf-devices", type=int, default=5, help="demo: shelf devices")
    parser.add_argument("--rate", type=float, default=1.0, help="demo: readings per second per device")
    parser.add_argument("--duration", type=float, default=30.0, help="demo: seconds")
    args = parser.parse_args(argv)
    sandbox = Sandbox(args.root)
    try:
        if args.command == "demo":
            sandbox.up()
            console.print(_status_table(sandbox))
            console.print("[yellow]The local services are up; the pipeline itself is not yet available.[/]")
            return 1
        if args.command == "up":
            already = sandbox.is_up()
            endpoints = sandbox.up()
            console.print("already running: reusing them" if already else "local services started")
            console.print(_status_table(sandbox))
            console.print(f"endpoints: {sandbox.endpoints_path} (InfluxDB {endpoints.influxdb.url})")
        elif args.command == "down":
            stopped = sandbox.down()
            console.print(f"stopped: {', '.join(stopped)}" if stopped else "nothing was running")
        else:
            console.print(_status_table(sandbox))
    except SandboxError as error:
        console.print(f"[red]error:[/] {error}")
        return 1
    return 0
