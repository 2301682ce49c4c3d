"""Lambda's containers, played by processes: a batch handed to one container is one invocation per event,
each event crosses as JSON bytes, and a container that dies, is killed or runs past the timeout costs only
the invocation it was running."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from local_aws.lambda_.workers import ContainerPool, FunctionSpec, InvocationError

pytestmark = pytest.mark.processes  # every test starts Lambda's worker processes


def handler(event: Any, context: Any) -> Any:  # the function the containers below run
    if event == "exit":
        os._exit(1)  # the container dies, as a runtime that crashes does
    if event == "raise":
        raise ValueError("bad event")
    if event == "unencodable":
        return {"result": object()}
    if isinstance(event, dict) and "pid_file" in event:  # waits to be killed, or to time out
        Path(event["pid_file"]).write_text(str(os.getpid()))
        time.sleep(60)
    return {"echo": event if not isinstance(event, dict) else "object", "function": context.function_name}


SPEC = FunctionSpec("fn", "arn:aws:lambda:us-east-1:123456789012:function:fn", f"{__name__}.handler", 128, 3)


def _bodies(*events: Any) -> list[bytes]:
    return [json.dumps(event).encode() for event in events]


def test_each_event_is_its_own_invocation_and_a_dead_container_fails_only_the_running_one() -> None:
    pool = ContainerPool(SPEC, 1)
    try:
        outcomes = pool.invoke_each(_bodies(1, "raise", 2, "exit", 3))
        assert outcomes[0] == b'{"echo": 1, "function": "fn"}'
        assert isinstance(outcomes[1], InvocationError) and outcomes[1].error_type == "ValueError"
        assert outcomes[2] == b'{"echo": 2, "function": "fn"}'
        assert isinstance(outcomes[3], InvocationError) and outcomes[3].error_type == "Runtime.ExitError"
        assert outcomes[4] is None  # never run: not an attempt
        assert pool.invoke(3) == {"echo": 3, "function": "fn"}  # a new container took the dead one's place
    finally:
        pool.close()


def test_what_cannot_cross_as_json_fails_its_own_invocation_only() -> None:
    deep = b'{"deep": ' + b"[" * 5000 + b"]" * 5000 + b"}"  # deeper than any decoder here takes
    nested_990 = {"v": json.loads("[" * 900 + "]" * 900)}  # deeper than pickling an object tree goes
    pool = ContainerPool(SPEC, 1)
    try:
        outcomes = pool.invoke_each([deep, b"not json", *_bodies("unencodable", nested_990, 4)])
        assert [o.error_type for o in outcomes[:3] if isinstance(o, InvocationError)] == [
            "Runtime.UnmarshalError",
            "Runtime.UnmarshalError",
            "Runtime.MarshalError",
        ]
        assert outcomes[3] == b'{"echo": "object", "function": "fn"}'  # 900 levels crossed as text
        assert outcomes[4] == b'{"echo": 4, "function": "fn"}'
    finally:
        pool.close()


def test_a_container_killed_mid_event_or_past_its_timeout_fails_that_invocation_and_is_replaced(
    tmp_path: Path,
) -> None:
    pool = ContainerPool(FunctionSpec(SPEC.name, SPEC.arn, SPEC.handler_path, 128, timeout=2), 1)
    pid_file = tmp_path / "pid"

    def kill_when_running() -> None:
        while not pid_file.exists() or not pid_file.read_text():
            time.sleep(0.05)
        os.kill(int(pid_file.read_text()), signal.SIGKILL)

    try:
        killer = threading.Thread(target=kill_when_running)
        killer.start()
        killed = pool.invoke_each(_bodies({"pid_file": str(pid_file)}, 5))
        killer.join()
        assert isinstance(killed[0], InvocationError) and killed[0].error_type == "Runtime.ExitError"
        assert killed[1] is None
        timed_out = pool.invoke_each(_bodies({"pid_file": str(tmp_path / "other")}, 6))
        assert isinstance(timed_out[0], InvocationError) and timed_out[0].error_type == "Sandbox.Timedout"
        assert str(timed_out[0]) == "Task timed out after 2.00 seconds" and timed_out[1] is None
        assert pool.invoke(7) == {"echo": 7, "function": "fn"}
    finally:
        pool.close()
