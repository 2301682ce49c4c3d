"""Lambda's execution environments, played by worker processes: each runs one invocation at a time.

A Lambda function scales by running invocations in parallel, each in its own container, up to its
reserved concurrency. Locally each container is a process with the function's handler imported once
(its module-level state is a warm container's), so invocations run in parallel without sharing a
handler's state between threads. A container that dies takes its invocation with it, which fails as
Lambda's does ("Runtime.ExitError"), and a new one takes its place.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import multiprocessing
import queue
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

logger = logging.getLogger(__name__)


class InvocationError(Exception):
    """The function raised, or its container died; `error_type` is what Lambda reports as errorType."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type


@dataclass(frozen=True)
class FunctionSpec:
    """What a container needs to play the function: its handler and the context Lambda gives it."""

    name: str
    arn: str
    handler_path: str  # module.attribute
    memory: int
    timeout: int


@dataclass(frozen=True)
class LambdaContext:
    """What Lambda passes a handler as its context, for a function run in process."""

    function_name: str
    invoked_function_arn: str
    memory_limit_in_mb: int
    timeout_seconds: int
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    log_group_name: str = ""
    log_stream_name: str = "local"
    started: float = field(default_factory=time.monotonic)

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.timeout_seconds - (time.monotonic() - self.started)) * 1000))


def load_handler(path: str) -> Callable[[Any, Any], Any]:
    module_name, _, attribute = path.rpartition(".")
    handler: Callable[[Any, Any], Any] = getattr(importlib.import_module(module_name), attribute)
    return handler


def _serve(connection: Connection, spec: FunctionSpec) -> None:
    """A container's life: import the handler once, then run each event sent to it."""
    try:
        handler = load_handler(spec.handler_path)
        connection.send(("ready", None))
    except Exception as error:
        connection.send(("error", type(error).__name__, f"cannot import {spec.handler_path}: {error}"))
        return
    while True:
        try:
            events = connection.recv()
        except (EOFError, OSError):
            return
        if events is None:
            return
        for event in events:  # one invocation each, one after the other, as one container runs them
            context = LambdaContext(spec.name, spec.arn, spec.memory, spec.timeout)
            try:
                connection.send(("ok", handler(event, context)))
            except Exception as error:  # the function's error, as Lambda reports it
                connection.send(("error", type(error).__name__, str(error)))


class _Container:
    def __init__(self, spec: FunctionSpec) -> None:
        context = multiprocessing.get_context("spawn")  # a fork would copy the runner's MQTT threads
        self.connection, child = context.Pipe()
        self.process = context.Process(target=_serve, args=(child, spec), name=f"lambda-{spec.name}")
        self.process.daemon = True
        self.process.start()
        child.close()
        status = self.connection.recv()
        if status[0] != "ready":
            raise InvocationError(status[1], status[2])

    def invoke(self, events: Sequence[Any]) -> Iterator[Any | InvocationError]:
        """Each event's result or error, as its invocation ends; EOFError or OSError if the container dies."""
        self.connection.send(list(events))
        for _ in events:
            answer = self.connection.recv()
            yield answer[1] if answer[0] == "ok" else InvocationError(answer[1], answer[2])

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.connection.send(None)
        self.process.join(5)
        if self.process.is_alive():
            self.process.kill()


class ContainerPool:
    """Up to `size` containers of one function; `invoke` blocks while all of them are busy."""

    def __init__(self, spec: FunctionSpec, size: int) -> None:
        self.spec, self.size = spec, size
        self._idle: queue.LifoQueue[_Container | None] = queue.LifoQueue()  # warm containers first
        for _ in range(size):
            self._idle.put(None)  # started on first use: a cold start

    def warm(self) -> None:
        """Start every container now, side by side, so no event waits for a cold start."""
        cold = [self._idle.get() for _ in range(self.size)]
        with ThreadPoolExecutor(self.size) as starting:
            started = list(starting.map(lambda c: c or _Container(self.spec), cold))
        for container in started:
            self._idle.put(container)

    def invoke(self, event: Any) -> Any:
        """One invocation: the handler's result, or InvocationError."""
        outcome = self.invoke_each([event])[0]
        if isinstance(outcome, InvocationError):
            raise outcome
        return outcome

    def invoke_each(self, events: Sequence[Any]) -> list[Any | InvocationError | None]:
        """One invocation per event, one after the other in one container (handed over in one message, so
        a busy runner does not pay a round trip per event). Per event: its result, its InvocationError, or
        None when it was not run because the container died before (it was not attempted)."""
        outcomes: list[Any | InvocationError | None] = []
        container = self._idle.get()
        try:
            if container is None:
                container = _Container(self.spec)
            for outcome in container.invoke(events):
                outcomes.append(outcome)
        except (EOFError, OSError, BrokenPipeError) as error:
            logger.warning("a container of %s died: %s; starting a new one", self.spec.name, error)
            if container is not None:
                container.close()
            container = None
            died = InvocationError("Runtime.ExitError", f"the function's container exited: {error}")
            outcomes.append(died)  # the invocation that was running
            outcomes.extend([None] * (len(events) - len(outcomes)))
        finally:
            self._idle.put(container)
        return outcomes

    def close(self) -> None:
        for _ in range(self.size):
            container = self._idle.get()
            if container is not None:
                container.close()
