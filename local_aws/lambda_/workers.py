"""Lambda's execution environments, played by worker processes: each runs one invocation at a time.

A Lambda function scales by running invocations in parallel, each in its own container, up to its
reserved concurrency. Locally each container is a process with the function's handler imported once
(its module-level state is a warm container's), so invocations run in parallel without sharing a
handler's state between threads. A container that dies takes its invocation with it, which fails as
Lambda's does ("Runtime.ExitError"), and a new one takes its place; one that runs past the function's timeout
is stopped, and its invocation fails as Lambda's does ("Sandbox.Timedout").

What crosses to a container is what Lambda's runtime gets: the event as JSON bytes, decoded in the container
(a pickled object tree fails to pickle a few hundred levels deep, in the runner), and the result as JSON bytes.
An event the container cannot decode, or a result it cannot encode, is that invocation's error.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import logging
import multiprocessing
import os
import queue
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
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
    environment: Mapping[str, str] = field(default_factory=dict)  # the function's, as deployed, pointed here


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
    os.environ.update(spec.environment)  # the container's own environment, as Lambda sets it
    try:
        handler = load_handler(spec.handler_path)
        connection.send(("ready", None))
    except Exception as error:
        connection.send(("error", type(error).__name__, f"cannot import {spec.handler_path}: {error}"))
        return
    while True:
        try:
            bodies = connection.recv()
        except (EOFError, OSError):
            return
        if bodies is None:
            return
        for body in bodies:  # one invocation each, one after the other, as one container runs them
            connection.send(
                _run(handler, body, LambdaContext(spec.name, spec.arn, spec.memory, spec.timeout))
            )


def _run(handler: Callable[[Any, Any], Any], body: bytes, context: LambdaContext) -> tuple[Any, ...]:
    """One invocation, as Lambda's runtime makes it: decode the event, call the handler, encode its result."""
    try:
        event = json.loads(body)
    except (ValueError, RecursionError) as error:
        return (
            "error",
            "Runtime.UnmarshalError",
            f"Unable to unmarshal input: {type(error).__name__}: {error}",
        )
    try:
        result = handler(event, context)
    except Exception as error:  # the function's error, as Lambda reports it
        return ("error", type(error).__name__, str(error))
    try:
        return ("ok", json.dumps(result).encode())
    except (TypeError, ValueError, RecursionError) as error:
        return (
            "error",
            "Runtime.MarshalError",
            f"Unable to marshal response: {type(error).__name__}: {error}",
        )


class _TimedOut(Exception):
    """The running invocation passed the function's timeout; its container is stopped."""


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

    def invoke(self, bodies: Sequence[bytes], timeout: float) -> Iterator[bytes | InvocationError]:
        """Each event's result (JSON bytes) or error, as its invocation ends; EOFError or OSError if the container
        dies, _TimedOut if one invocation runs longer than `timeout` seconds."""
        self.connection.send(list(bodies))  # a list of bytes: flat, so it pickles whatever the events hold
        for _ in bodies:
            if not self.connection.poll(timeout):
                raise _TimedOut(f"Task timed out after {timeout:.2f} seconds")
            answer = self.connection.recv()
            yield answer[1] if answer[0] == "ok" else InvocationError(answer[1], answer[2])

    def close(self, at_once: bool = False) -> None:
        """Stop the container: when it is idle, by asking it; when it is stuck in an invocation, by killing it."""
        if not at_once:
            with contextlib.suppress(OSError):
                self.connection.send(None)
            self.process.join(5)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(5)
        self.connection.close()


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
        """One invocation of an event the runner made (a queue's batch): the handler's result, or
        InvocationError (an event that cannot be encoded as JSON is its invocation's error too)."""
        try:
            body = json.dumps(event).encode()
        except (TypeError, ValueError, RecursionError) as error:
            raise InvocationError("Runtime.MarshalError", f"the event is not JSON: {error}") from None
        outcome = self.invoke_each([body])[0]
        if isinstance(outcome, InvocationError):
            raise outcome
        assert outcome is not None  # one event: it ran
        try:
            return json.loads(outcome)
        except (ValueError, RecursionError) as error:
            raise InvocationError("Runtime.MarshalError", f"the result is not JSON: {error}") from None

    def invoke_each(self, bodies: Sequence[bytes]) -> list[bytes | InvocationError | None]:
        """One invocation per event (JSON bytes), one after the other in one container (handed over in one
        message, so a busy runner does not pay a round trip per event). Per event: its result (JSON bytes), its
        InvocationError, or None when it was not run because its container died or was stopped before (it was
        not attempted). A container that cannot start fails the first invocation, as an init error does."""
        outcomes: list[bytes | InvocationError | None] = []
        container = self._idle.get()
        try:
            if container is None:
                container = _Container(self.spec)
            for outcome in container.invoke(bodies, self.spec.timeout):
                outcomes.append(outcome)
        except InvocationError as error:  # the container could not import the handler
            container = None
            outcomes.append(error)
        except (EOFError, OSError, BrokenPipeError, _TimedOut) as error:
            timed_out = isinstance(error, _TimedOut)
            if not timed_out:
                logger.warning("a container of %s died: %s; starting a new one", self.spec.name, error)
            if container is not None:
                container.close(at_once=timed_out)
            container = None
            outcomes.append(
                InvocationError("Sandbox.Timedout", str(error))
                if timed_out
                else InvocationError("Runtime.ExitError", f"the function's container exited: {error}")
            )  # the invocation that was running
        finally:
            self._idle.put(container)
        outcomes.extend([None] * (len(bodies) - len(outcomes)))
        return outcomes

    def close(self) -> None:
        for _ in range(self.size):
            container = self._idle.get()
            if container is not None:
                container.close()
