"""Start, watch and stop local server processes by the PID recorded for each under the sandbox folder."""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psutil

LOG_TAIL_LINES = 15


class SandboxError(RuntimeError):
    """A local service could not be started or stopped; the message says what to do."""


@dataclass(frozen=True)
class PidRecord:
    """A PID with its start time (psutil's create_time, on Linux and macOS alike), so a recycled PID is never
    mistaken for our process."""

    pid: int
    started: float

    @classmethod
    def read(cls, path: Path) -> PidRecord | None:
        try:
            data = json.loads(path.read_text())
            return cls(pid=int(data["pid"]), started=float(data["started"]))
        except (OSError, ValueError, KeyError, TypeError):
            return None  # unreadable, or written by an older version: treated as stale

    def write(self, path: Path) -> None:
        path.write_text(json.dumps({"pid": self.pid, "started": self.started}) + "\n")


def _process_state(pid: int) -> tuple[str, float] | None:
    """(status, start time) of a process, or None when it does not exist."""
    try:
        process = psutil.Process(pid)
        return process.status(), round(process.create_time(), 2)
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None


def _reap(pid: int) -> None:
    """Collect the exit status of a child of ours, so it does not linger as a zombie."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def is_running(record: PidRecord) -> bool:
    _reap(record.pid)
    state = _process_state(record.pid)
    return (
        state is not None
        and state[0] not in (psutil.STATUS_ZOMBIE, psutil.STATUS_DEAD)
        and state[1] == record.started
    )


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # As the servers do: connections of a stopped server in TIME_WAIT do not make its port busy.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


# Linux's ephemeral range by default (/proc/sys/net/ipv4/ip_local_port_range): the source ports of outgoing
# connections. A port is picked below it, and it stays free until its service binds it: a port `bind(0)` handed out
# lay inside it, where a client's connection (a health check, boto3 to moto) could take it first ("port in use").
EPHEMERAL_RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")
DEFAULT_EPHEMERAL_LOW = 32_768
PICKED_PORTS = 12_000  # how far below the ephemeral range ports are picked
_random = random.SystemRandom()


def _ephemeral_low() -> int:
    try:
        return int(EPHEMERAL_RANGE_FILE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return DEFAULT_EPHEMERAL_LOW


def free_port(host: str = "127.0.0.1") -> int:
    """A port no process listens on, below the ephemeral range (so no outgoing connection takes it meanwhile)."""
    high = _ephemeral_low()
    low = max(1_024, high - PICKED_PORTS)
    for _ in range(100):
        port = _random.randrange(low, high)
        if port_is_free(port, host):
            return port
    with socket.socket(
        socket.AF_INET, socket.SOCK_STREAM
    ) as sock:  # a crowded range: whatever the kernel has
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def tcp_answers(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:]) or "(log is empty)"


def start(
    name: str,
    argv: list[str],
    *,
    pid_file: Path,
    log_file: Path,
    ready: Callable[[], bool],
    timeout: float,
    env: dict[str, str] | None = None,
) -> PidRecord:
    """Start `argv` in its own session, record its PID, and wait until `ready()` is true."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("ab") as log:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C in the terminal must not kill the services behind `make demo`
            env=env,
        )
    state = _process_state(proc.pid)
    record = PidRecord(pid=proc.pid, started=state[1] if state else 0.0)
    record.write(pid_file)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pid_file.unlink(missing_ok=True)
            raise SandboxError(
                f"{name} exited on start with status {proc.returncode}; its log ({log_file}) ends:\n"
                f"{log_tail(log_file)}"
            )
        if ready():
            return record
        time.sleep(0.05)
    stop(name, pid_file)
    raise SandboxError(
        f"{name} did not become ready within {timeout:.0f} s; its log ({log_file}) ends:\n{log_tail(log_file)}"
    )


def stop(name: str, pid_file: Path, grace: float = 10.0) -> bool:
    """Stop the process recorded in `pid_file` (SIGTERM, then SIGKILL). True if one was running."""
    record = PidRecord.read(pid_file)
    if record is None or not is_running(record):
        pid_file.unlink(missing_ok=True)
        return False
    os.kill(record.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while is_running(record):
        if time.monotonic() > deadline:
            os.kill(record.pid, signal.SIGKILL)
            deadline = time.monotonic() + grace
        time.sleep(0.05)
    pid_file.unlink(missing_ok=True)
    return True


def running(pid_file: Path) -> PidRecord | None:
    """The recorded process if it is alive; a stale record (process gone or PID reused) is removed."""
    record = PidRecord.read(pid_file)
    if record is not None and is_running(record):
        return record
    pid_file.unlink(missing_ok=True)
    return None
