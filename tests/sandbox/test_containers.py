"""Lambda's containers, played by processes: a batch handed to one container is one invocation per event,
and a container that dies costs only the invocation it was running."""

from __future__ import annotations

import os
from typing import Any

from sandbox.containers import ContainerPool, FunctionSpec, InvocationError


def handler(event: Any, context: Any) -> Any:  # the function the containers below run
    if event == "exit":
        os._exit(1)  # the container dies, as a runtime that crashes does
    if event == "raise":
        raise ValueError("bad event")
    return {"echo": event, "function": context.function_name}


SPEC = FunctionSpec("fn", "arn:aws:lambda:us-east-1:123456789012:function:fn", f"{__name__}.handler", 128, 3)


def test_each_event_is_its_own_invocation_and_a_dead_container_fails_only_the_running_one() -> None:
    pool = ContainerPool(SPEC, 1)
    try:
        outcomes = pool.invoke_each([1, "raise", 2, "exit", 3])
        assert outcomes[0] == {"echo": 1, "function": "fn"}
        assert isinstance(outcomes[1], InvocationError) and outcomes[1].error_type == "ValueError"
        assert outcomes[2] == {"echo": 2, "function": "fn"}
        assert isinstance(outcomes[3], InvocationError) and outcomes[3].error_type == "Runtime.ExitError"
        assert outcomes[4] is None  # never run: not an attempt
        assert pool.invoke(3) == {"echo": 3, "function": "fn"}  # a new container took the dead one's place
    finally:
        pool.close()
