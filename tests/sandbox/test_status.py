"""`python -m sandbox status` on a running sandbox: every service running, exit 0, no word of a stopped one.
(The stopped sandbox, with the counters a stopped rule runner left, is in tests/test_user_errors.py.)"""

from __future__ import annotations

import pytest

from sandbox import cli
from sandbox.manager.services import SERVICE_NAMES, Sandbox


def test_status_of_a_running_sandbox(sandbox: Sandbox, capsys: pytest.CaptureFixture[str]) -> None:
    services = {service.name: service.running for service in sandbox.status()}
    assert all(services[name] for name in SERVICE_NAMES)
    code = cli.main(["status", "--root", str(sandbox.root)])
    out = capsys.readouterr().out
    if all(services.values()):
        assert code == 0 and "stopped" not in out
    else:  # a process another test stopped in the session's sandbox: named, and the exit status says so
        assert code == cli.STOPPED_STATUS and "partly stopped" in out
    assert "the sandbox is stopped" not in out
    assert out.count("running") >= len(SERVICE_NAMES)
