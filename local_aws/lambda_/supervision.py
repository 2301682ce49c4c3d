"""The rule runner's threads, watched: each says whether it is well, and one that dies stops the process.

A worker catches the errors of the services it talks to (AWS, InfluxDB, the disk), reports them
through its `WorkerHealth` and tries again with `Backoff`. An exception that escapes a worker is a
bug: it is logged with its traceback, recorded, and `Supervisor.failed` is set, so the runner's main
loop exits non-zero instead of staying up with a dead thread; `sandbox status` shows which one.
"""

from __future__ import annotations

import logging
import random
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

logger = logging.getLogger(__name__)


class Backoff:
    """Exponential delays with jitter, from 0.2 s up to LONGEST."""

    FIRST = 0.2
    LONGEST = 5.0

    def __init__(self) -> None:
        self._delay = self.FIRST

    def next(self) -> float:
        delay = self._delay
        self._delay = min(self.LONGEST, self._delay * 2)
        return delay * random.uniform(0.8, 1.2)


@dataclass
class WorkerHealth:
    name: str
    state: str = "starting"
    problem: str | None = None
    since: float = field(default_factory=time.time)
    troubles: int = 0

    def ok(self) -> None:
        if self.state != "ok":
            if self.problem:
                logger.warning("%s recovered after %d failed tries", self.name, self.troubles)
            self.state, self.problem, self.since, self.troubles = "ok", None, time.time(), 0

    def trouble(self, problem: str) -> None:
        if self.troubles == 0 or self.troubles % 20 == 0:
            logger.warning("%s: %s", self.name, problem)
        self.state, self.problem, self.troubles = "retrying", problem[:300], self.troubles + 1


class Supervisor:
    def __init__(self) -> None:
        self.workers: dict[str, WorkerHealth] = {}
        self.threads: list[threading.Thread] = []
        self.failed = threading.Event()
        self.failure: str | None = None

    def start(self, name: str, target: Callable[..., None], *args: Any) -> None:
        health = WorkerHealth(name)
        self.workers[name] = health

        def run() -> None:
            try:
                target(health, *args)
                health.state = "stopped"
            except BaseException as error:
                health.state, health.problem = "dead", f"{type(error).__name__}: {error}"[:300]
                self.failure = f"worker {name} died: {health.problem}"
                logger.critical("%s\n%s", self.failure, traceback.format_exc())
                self.failed.set()

        thread = threading.Thread(target=run, name=name, daemon=True)
        self.threads.append(thread)
        thread.start()

    def join(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        for thread in self.threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def report(self) -> dict[str, dict[str, object]]:
        return {
            name: {"state": h.state, "problem": h.problem, "tries": h.troubles}
            for name, h in self.workers.items()
        }
