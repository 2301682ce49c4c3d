"""End to end through the local pipeline of `make demo`: simulator -> broker -> rule runner -> function -> InfluxDB.

For each ingest path the pipeline is deployed as `make demo` deploys it (`sandbox.manager.deployment.deploy_local`), then
a fleet of simulated devices offers increasing rates, each for a fixed time. A step is sustained when nothing is
lost (every acknowledged reading is written, rejected or a dead letter) and the backlog does not grow: the last
reading is queryable within `MAX_LAG_SECONDS` of the end of publishing. The ladder stops at the first step that
is not sustained.

Latency (device timestamp -> queryable) is read off two cumulative curves sampled every `SAMPLE_SECONDS`: readings
sent by the devices and points counted in InfluxDB. Readings are taken first in, first out, so the n-th reading
sent is the n-th written, and its latency is the horizontal distance between the curves (to within a sample).
"""

from __future__ import annotations

import bisect
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psutil

from reach.endpoints import STREAM_KEY, Endpoints
from sandbox.manager.deployment import RULE_RUNNER, aws_environment, deploy_local, rule_runner_stats
from sandbox.manager.processes import running
from sandbox.manager.services import Sandbox
from sandbox.scenarios.accounting import (
    broker_backlog,
    count_points,
    in_flight,
    lost,
    queue_depth,
    queue_depths,
)
from sandbox.scenarios.demo import kept
from simulator.api import FleetGroup, run_groups
from simulator.fleet import Counters

SAMPLE_SECONDS = 0.5
MAX_LAG_SECONDS = 5.0
DRAIN_TIMEOUT = 90.0  # beyond this after publishing, a step is not sustained and the ladder ends
DEVICES = 100  # the fleet for every rate: each device publishes rate / DEVICES readings a second


@dataclass(frozen=True)
class Plan:
    rates: tuple[int, ...]  # offered readings per second, in order
    seconds: float  # per step
    windows: int = 3  # the step's throughput is measured in this many equal windows


FULL = Plan(rates=(100, 250, 500, 1_000, 2_000, 3_000, 4_000, 5_000, 7_500, 10_000), seconds=30.0)
QUICK = Plan(rates=(40,), seconds=3.0)


@dataclass
class Step:
    offered: float
    seconds: float
    acknowledged: int = 0
    written: int = 0
    rejected: int = 0
    dead_letters: int = 0
    in_flight: int = 0  # still on its way when the wait ended: on the broker, in the runner, in the queue
    lag_at_end_seconds: float | None = None  # None: not drained within DRAIN_TIMEOUT
    window_rates: list[float] = field(default_factory=list)  # readings/s written, per window
    latency_ms: dict[str, float] | None = None
    cpu_seconds_per_1000: float | None = None  # the rule runner (and its children): Lambda's stand-in
    cpu_by_part_per_1000: dict[str, float] = field(default_factory=dict)  # every part, the simulator too

    @property
    def lost(self) -> int:
        return lost(self.acknowledged, self.written, self.rejected, self.dead_letters, self.in_flight)

    @property
    def sustained(self) -> bool:
        return (
            self.lost == 0
            and self.in_flight == 0
            and self.acknowledged > 0
            and self.lag_at_end_seconds is not None
            and self.lag_at_end_seconds <= MAX_LAG_SECONDS
        )

    def as_dict(self) -> dict[str, Any]:
        rates = self.window_rates or [0.0]
        return {
            "offered_per_second": self.offered,
            "seconds": self.seconds,
            "acknowledged": self.acknowledged,
            "written": self.written,
            "rejected": self.rejected,
            "dead_letters": self.dead_letters,
            "in_flight": self.in_flight,
            "lost": self.lost,
            "sustained": self.sustained,
            "lag_at_end_seconds": self.lag_at_end_seconds,
            "readings_per_second": {
                "median": statistics.median(rates),
                "min": min(rates),
                "max": max(rates),
            },
            "latency_ms": self.latency_ms,
            "cpu_seconds_per_1000": self.cpu_seconds_per_1000,
            "cpu_by_part_per_1000": self.cpu_by_part_per_1000,
        }


class Curves:
    """(time, readings sent) and (time, points written), sampled while a step runs."""

    def __init__(self) -> None:
        self.sent: list[tuple[float, int]] = []
        self.written: list[tuple[float, int]] = []

    def latency_ms(self, total: int) -> dict[str, float] | None:
        if total <= 0 or len(self.written) < 2:
            return None
        latencies = []
        for n in range(1, total + 1, max(1, total // 500)):
            sent_at, written_at = _first_time(self.sent, n), _first_time(self.written, n)
            if sent_at is not None and written_at is not None:
                latencies.append(max(0.0, written_at - sent_at) * 1000)
        if not latencies:
            return None
        latencies.sort()
        return {
            "p50": round(latencies[len(latencies) // 2], 1),
            "p99": round(latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))], 1),
        }


def _first_time(curve: list[tuple[float, int]], n: int) -> float | None:
    """When the curve first reached n, interpolated between samples."""
    counts = [c for _, c in curve]
    i = bisect.bisect_left(counts, n)
    if i >= len(curve):
        return None
    if i == 0:
        return curve[0][0]
    (t0, c0), (t1, c1) = curve[i - 1], curve[i]
    return t0 + (t1 - t0) * (n - c0) / max(1, c1 - c0)


# The parts of the local pipeline whose CPU a step reports: the processes of the sandbox by their pid files
# (with their children: the rule runner's function containers count as "function"), and this process, which
# runs the device simulator.
PARTS = {"rule runner": RULE_RUNNER, "InfluxDB": "influxdb", "broker": "mosquitto", "AWS APIs (moto)": "moto"}
SIMULATOR = "device simulator"
FUNCTION = "function (containers)"


def _cpu(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


def cpu_by_part(sandbox: Sandbox) -> dict[str, float]:
    """CPU seconds so far of each part of the pipeline (a part that is not running is left out)."""
    found = {SIMULATOR: _cpu(psutil.Process())}
    for part, name in PARTS.items():
        record = running(sandbox.pid_file(name))
        if record is None:
            continue
        try:
            process = psutil.Process(record.pid)
            found[part] = _cpu(process)
            if name == RULE_RUNNER:
                found[FUNCTION] = sum(_cpu(child) for child in process.children(recursive=True))
        except psutil.Error:
            continue
    return found


def _written(endpoints: Endpoints, since: datetime) -> int:
    return sum(count_points(endpoints, since, datetime.now(UTC) + timedelta(minutes=5)).values())


def run_step(sandbox: Sandbox, endpoints: Endpoints, rate: float, seconds: float, windows: int) -> Step:
    """One offered rate for `seconds`, then wait for the backlog to drain; every reading accounted for."""
    step = Step(offered=rate, seconds=seconds)
    depths = queue_depths(endpoints, sandbox.root)
    since = datetime.now(UTC) - timedelta(seconds=1)
    base = _written(endpoints, since)  # earlier steps' points lie before `since`: normally none
    cpu_before = cpu_by_part(sandbox)
    curves, latest = Curves(), {"sent": 0}
    done = threading.Event()
    started = time.monotonic()

    def on_tick(counters: Counters) -> None:
        latest["sent"] = counters.sent

    def sample() -> None:
        while not done.is_set():
            now = time.monotonic() - started
            curves.sent.append((now, latest["sent"]))
            curves.written.append((now, _written(endpoints, since) - base))
            done.wait(SAMPLE_SECONDS)

    sampler = threading.Thread(target=sample, name="bench-sampler", daemon=True)
    sampler.start()
    summary = run_groups(
        sandbox.endpoints_path,
        [FleetGroup("pressure", DEVICES)],
        rate=rate / DEVICES,
        duration=seconds,
        on_tick=on_tick,
    )
    published = time.monotonic() - started
    latest["sent"] = summary.sent
    step.acknowledged = summary.acknowledged
    deadline = time.monotonic() + DRAIN_TIMEOUT
    while time.monotonic() < deadline:
        if curves.written and curves.written[-1][1] >= summary.acknowledged:
            break
        time.sleep(SAMPLE_SECONDS)
    done.set()
    sampler.join(timeout=30)
    written = _written(endpoints, since) - base
    drained_at = _first_time(curves.written, summary.acknowledged)
    step.lag_at_end_seconds = None if drained_at is None else round(max(0.0, drained_at - published), 2)
    step.written = written
    step.rejected = queue_depth(endpoints.queues["rejected"]) - depths["rejected"]
    step.dead_letters = kept(queue_depths(endpoints, sandbox.root), depths)
    step.in_flight = _in_flight(sandbox, endpoints) if written < summary.acknowledged else 0
    step.window_rates = _window_rates(curves, published, windows)
    step.latency_ms = curves.latency_ms(min(written, summary.acknowledged))
    cpu_after = cpu_by_part(sandbox)
    if written:
        step.cpu_by_part_per_1000 = {
            part: round((cpu_after[part] - cpu_before[part]) / written * 1000, 3)
            for part in cpu_after
            if part in cpu_before
        }
        if "rule runner" in step.cpu_by_part_per_1000:
            step.cpu_seconds_per_1000 = round(
                step.cpu_by_part_per_1000["rule runner"] + step.cpu_by_part_per_1000.get(FUNCTION, 0.0), 3
            )
    return step


def _in_flight(sandbox: Sandbox, endpoints: Endpoints) -> int:
    """Readings not yet through, as the demo counts them: on the broker (its `$SYS` backlog), in the rule
    runner's hands, or in the ingest queue or stream. (The runner's `received` counts the broker's re-sends too, so
    acknowledged minus received would hide readings the broker still holds.)"""
    return in_flight(
        broker_backlog(endpoints),
        rule_runner_stats(sandbox),
        (depths := queue_depths(endpoints, sandbox.root)).get("ingest", 0),
        depths.get(STREAM_KEY, 0),
    ).total


def _window_rates(curves: Curves, published: float, windows: int) -> list[float]:
    """Points written per second in each of `windows` equal parts of the publishing time."""
    rates = []
    width = published / windows
    for i in range(windows):
        start, end = _count_at(curves.written, i * width), _count_at(curves.written, (i + 1) * width)
        rates.append(round((end - start) / width, 1))
    return rates


def _count_at(curve: list[tuple[float, int]], at: float) -> float:
    times = [t for t, _ in curve]
    i = bisect.bisect_left(times, at)
    if i == 0:
        return float(curve[0][1]) if curve else 0.0
    if i >= len(curve):
        return float(curve[-1][1])
    (t0, c0), (t1, c1) = curve[i - 1], curve[i]
    return c0 + (c1 - c0) * (at - t0) / max(1e-9, t1 - t0)


def run_path(root: Path, ingest_path: str, plan: Plan, say: Callable[[str], None] = print) -> dict[str, Any]:
    """The whole ladder on one freshly deployed pipeline; the pipeline is stopped afterwards."""
    sandbox = Sandbox(root)
    steps: list[Step] = []
    try:
        say(f"end to end, {ingest_path} path: deploying the local pipeline ...")
        endpoints = deploy_local(sandbox, ingest_path=ingest_path)
        with aws_environment(endpoints):
            for rate in plan.rates:
                step = run_step(sandbox, endpoints, rate, plan.seconds, plan.windows)
                steps.append(step)
                say(
                    f"  offered {rate:,}/s for {plan.seconds:.0f} s: written {step.written:,} of "
                    f"{step.acknowledged:,}, in flight {step.in_flight:,}, lost {step.lost},"
                    f" lag at end {step.lag_at_end_seconds} s"
                    f" -> {'sustained' if step.sustained else 'not sustained'}"
                )
                if not step.sustained:
                    break
    finally:
        sandbox.down()
    best = max((s for s in steps if s.sustained), key=lambda s: s.offered, default=None)
    return {
        "path": ingest_path,
        "seconds_per_step": plan.seconds,
        "devices": DEVICES,
        "steps": [s.as_dict() for s in steps],
        "highest_sustained_per_second": best.offered if best else None,
        "at_highest_sustained": best.as_dict() if best else None,
    }
