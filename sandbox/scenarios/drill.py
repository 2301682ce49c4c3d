"""`make drill`: a fleet publishes while each part of the pipeline fails in turn; then replay, and count.

For every fault the fleet runs on its own; a quarter of the way in, one part stops and comes back
after the outage. Then the drill waits until nothing is in flight, replays the dead letters as a user
would (`make replay`), and counts every reading the broker acknowledged: written, rejected, left in
the dead letters, duplicated, or lost (none of those). It exits non-zero if anything was lost or
duplicated.

The faults: influxd stopped; the AWS APIs (moto) frozen, because a stopped moto forgets every queue
and table, which AWS never does; mosquitto stopped with SIGTERM; the rule runner restarted; the
rule runner killed with SIGKILL while influxd is down, so it dies holding a backlog; and MariaDB (the
SQL sink) stopped, while the kinds that write to it go on reaching InfluxDB. Each sink is counted: a
reading one sink took must be in every other sink of its kind after the replay.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from rich.console import Console
from rich.table import Table

from catalog.loader import PROJECT_ROOT
from infrastructure.stacks import influxdb
from sandbox.manager import processes
from sandbox.manager.deployment import (
    RULE_RUNNER,
    TEMPLATES,
    aws_environment,
    deploy_local,
    start_rule_runner,
)
from sandbox.manager.processes import SandboxError
from sandbox.manager.services import Sandbox
from sandbox.scenarios.accounting import Accounting, queue_depths
from sandbox.scenarios.demo import account
from simulator.api import FleetGroup, run_groups


@dataclass(frozen=True)
class DrillOptions:
    ingest_path: str = "direct"
    fleet: dict[str, int] = field(default_factory=lambda: {"pressure": 20, "shelf": 5})  # devices per kind
    rate: float = 1.0
    duration: float = 40.0
    outage: float = 10.0
    drain_timeout: float = 600.0
    environment: str = "demo"
    faults: tuple[str, ...] = ()  # empty: all of them


class Drill:
    def __init__(self, sandbox: Sandbox, options: DrillOptions, templates: Path = TEMPLATES) -> None:
        self.sandbox, self.options, self.templates = sandbox, options, templates
        self.writer_secret = influxdb.secret_name("writer", options.environment)

    # -- the faults: each stops a part and returns how to bring it back ----------------------------
    def influxd(self) -> Callable[[], None]:
        self.sandbox.stop_service("influxdb")
        return lambda: self.sandbox.start_service("influxdb")

    def moto(self) -> Callable[[], None]:
        pid = self._pid("moto")
        os.kill(pid, signal.SIGSTOP)
        return lambda: os.kill(pid, signal.SIGCONT)

    def mosquitto(self) -> Callable[[], None]:
        self.sandbox.stop_service("mosquitto")
        return lambda: self.sandbox.start_service("mosquitto")

    def mariadb(self) -> Callable[[], None]:
        self.sandbox.stop_service("mariadb")
        return lambda: self.sandbox.start_service("mariadb")

    def rule_runner(self) -> Callable[[], None]:
        processes.stop(RULE_RUNNER, self.sandbox.pid_file(RULE_RUNNER))
        return self._start_runner

    def rule_runner_killed_with_a_backlog(self) -> Callable[[], None]:
        self.sandbox.stop_service("influxdb")
        time.sleep(self.options.outage / 2)  # the backlog builds up in the runner
        os.kill(self._pid(RULE_RUNNER), signal.SIGKILL)

        def back() -> None:
            self._start_runner()
            self.sandbox.start_service("influxdb")

        return back

    FAULTS: dict[str, str] = {
        "influxd": "influxd stopped",
        "moto": "AWS APIs frozen",
        "mosquitto": "mosquitto SIGTERM",
        "rule_runner": "runner restarted",
        "rule_runner_killed_with_a_backlog": "runner killed, influxd down",
        "mariadb": "MariaDB stopped (SQL sink)",
    }

    def _pid(self, name: str) -> int:
        record = processes.running(self.sandbox.pid_file(name))
        if record is None:
            raise SandboxError(f"{name} is not running: run 'python -m sandbox up' first")
        return record.pid

    def _start_runner(self) -> None:
        with aws_environment(self.sandbox.endpoints()):
            start_rule_runner(self.sandbox, self.templates, self.options.environment, self.writer_secret)

    # -- one round ---------------------------------------------------------------------------------
    def round(self, fault: str, console: Console) -> Accounting:
        options, endpoints = self.options, self.sandbox.endpoints()
        with aws_environment(endpoints):
            before = queue_depths(endpoints, self.sandbox.root)
        # The round counts the points of device times from a second before it starts (a kind that sends whole
        # seconds is stamped up to a second early): a second's pause first, so no reading sent before the round
        # (the demo's, an earlier round's straggler) has a device time inside the window.
        time.sleep(1.0)
        since = datetime.now(UTC) - timedelta(seconds=1)
        trouble: list[BaseException] = []

        def inject() -> None:
            try:
                time.sleep(options.duration / 4)
                console.print(f"  {self.FAULTS[fault]} for {options.outage:.0f} s")
                restore = getattr(self, fault)()
                time.sleep(options.outage)
                restore()
                console.print("  back")
            except BaseException as error:
                trouble.append(error)

        injector = threading.Thread(target=inject, name=f"fault-{fault}")
        injector.start()
        summary = run_groups(
            self.sandbox.endpoints_path,
            [FleetGroup(kind, devices) for kind, devices in options.fleet.items() if devices > 0],
            rate=options.rate,
            duration=options.duration,
        )
        injector.join()
        if trouble:
            raise SandboxError(f"the fault {fault} could not be played: {trouble[0]}")
        unacknowledged = summary.failed  # given up on by the device: may have arrived all the same
        account(
            self.sandbox, endpoints, summary.acknowledged, since, before, options.drain_timeout,
            unacknowledged=unacknowledged,
        )  # fmt: skip
        self.replay()
        return account(
            self.sandbox, endpoints, summary.acknowledged, since, before, options.drain_timeout,
            unacknowledged=unacknowledged,
        )  # fmt: skip

    def replay(self) -> None:
        result = subprocess.run(
            [sys.executable, "-m", "ingest_tools.replay", "--endpoints", str(self.sandbox.endpoints_path),
             "--environment", self.options.environment, "--ledger", str(self.sandbox.root / "replay-ledger.txt")],
            cwd=PROJECT_ROOT, capture_output=True, text=True, check=False,
            env={**os.environ, "PYTHONPATH": f"{PROJECT_ROOT}:{PROJECT_ROOT / 'lambda'}"},
        )  # fmt: skip
        if result.returncode != 0:
            raise SandboxError(f"make replay failed: {(result.stdout + result.stderr).strip()[-600:]}")


def drill_table(path: str, results: dict[str, Accounting]) -> Table:
    table = Table(title=f"Fault drill, {path} path (after make replay)")
    columns = ("fault", "sent", "written", "rejected", "dead", "in flight", "dup.", "lost", "lost per sink")
    for column in columns:
        table.add_column(column, justify="left" if column == "fault" else "right", no_wrap=True)
    for fault, a in results.items():
        bad = "bold red" if failed(a) else "green"
        per_sink = ", ".join(f"{account.sink} {account.lost}" for account in a.sinks)
        table.add_row(
            Drill.FAULTS[fault], str(a.sent), str(a.written), str(a.rejected), str(a.dead_letters),
            str(a.in_flight.total), f"[{bad}]{a.duplicated}[/]", f"[{bad}]{a.lost}[/]", f"[{bad}]{per_sink}[/]",
        )  # fmt: skip
    return table


def failed(a: Accounting) -> bool:
    """Lost or doubled anywhere (a sink included), or not settled."""
    return bool(a.lost or a.duplicated or a.lost_in_sinks or not a.settled)


def run_drill(sandbox: Sandbox, options: DrillOptions, console: Console) -> int:
    with console.status(f"deploying the {options.ingest_path} path locally"):
        deploy_local(sandbox, environment=options.environment, ingest_path=options.ingest_path)
    faults = options.faults or tuple(Drill.FAULTS)
    unknown = set(faults) - set(Drill.FAULTS)
    if unknown:
        raise SandboxError(f"unknown faults {sorted(unknown)}: choose from {', '.join(Drill.FAULTS)}")
    drill, results = Drill(sandbox, options), {}
    total = sum(options.fleet.values())
    for fault in faults:
        console.print(f"[bold]{Drill.FAULTS[fault]}[/]: {total} devices, {options.duration:.0f} s")
        results[fault] = drill.round(fault, console)
    wide = Console(file=console.file, width=max(console.width, 130))  # one line per fault, even in a log
    wide.print(drill_table(options.ingest_path, results))
    failures = [fault for fault, a in results.items() if failed(a)]
    if failures:
        console.print(
            f"[bold red]readings were lost, duplicated or still in flight[/] ({', '.join(failures)}): "
            f"see {sandbox.root}/logs/, or give them longer with --drain-timeout"
        )
        return 1
    return 0
