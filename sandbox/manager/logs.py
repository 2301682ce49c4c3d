"""The local services' logs (`<root>/logs/<service>.log`, written by processes.start): shown, or followed."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from sandbox.manager.deployment import RULE_RUNNER, WEBHOOK_GATEWAY
from sandbox.manager.processes import SandboxError
from sandbox.manager.services import SERVICE_NAMES, Sandbox

POLL_SECONDS = 0.5


def known_services(sandbox: Sandbox) -> list[str]:
    """Every service that has, or may have, a log: the services, the rule runner and gateway, and any other log."""
    folder = sandbox.root / "logs"
    present = sorted(p.stem for p in folder.glob("*.log")) if folder.exists() else []
    return list(dict.fromkeys((*SERVICE_NAMES, RULE_RUNNER, WEBHOOK_GATEWAY, *present)))


def chosen(sandbox: Sandbox, service: str | None) -> list[str]:
    """The services whose logs to show; an unknown name is refused with the known ones."""
    known = known_services(sandbox)
    if service is None:
        return known
    if service not in known:
        raise SandboxError(f"no service {service!r}: choose one of {', '.join(known)}")
    return [service]


def tail(path: Path, lines: int) -> list[str]:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return []
    return text.splitlines()[-lines:] if lines > 0 else []


def show(sandbox: Sandbox, services: list[str], lines: int, write: Callable[[str], None]) -> None:
    """The last `lines` of each service's log, headed by its name and file."""
    for name in services:
        path = sandbox.log_file(name)
        if not path.exists():
            write(f"== {name}: no log yet ({path})")
            continue
        write(f"== {name} ({path})")
        for line in tail(path, lines):
            write(line)


def follow(
    sandbox: Sandbox,
    services: list[str],
    write: Callable[[str], None],
    keep_going: Callable[[], bool] = lambda: True,
    poll_seconds: float = POLL_SECONDS,
) -> None:
    """Every line added to the logs from now on, prefixed with its service, until `keep_going()` is false (or
    Ctrl-C); a log that is truncated or appears later is read from its start."""
    positions = {name: _size(sandbox.log_file(name)) for name in services}
    width = max(len(name) for name in services)
    pending = dict.fromkeys(services, b"")
    while keep_going():
        for name in services:
            path = sandbox.log_file(name)
            size = _size(path)
            if size < positions[name]:  # truncated or replaced: read it anew
                positions[name], pending[name] = 0, b""
            if size == positions[name]:
                continue
            with path.open("rb") as log:
                log.seek(positions[name])
                chunk = log.read(size - positions[name])
            positions[name] += len(chunk)
            *complete, pending[name] = (pending[name] + chunk).split(b"\n")
            for line in complete:
                write(f"{name:<{width}} | {line.decode(errors='replace')}")
        time.sleep(poll_seconds)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0
