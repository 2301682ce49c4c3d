"""Lambda's asynchronous invocation: the stored events run, are retried, and end at the on-failure destination.

On AWS an asynchronous invocation (the IoT rule's Lambda action) waits in Lambda's own queue (here the event
store on disk, `local_aws.lambda_.event_store`), runs, is retried as the function's `EventInvokeConfig` says
(about 1 and 2 minutes apart on AWS; a fraction of that locally), and when its attempts are used up goes to the
on-failure destination in the record shape Lambda sends (`local_aws.lambda_.events.failure_record`); it leaves
the store only once that destination took it.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from local_aws.counters import Counters
from local_aws.lambda_.event_store import EventStore, Retry, StoredEvent
from local_aws.lambda_.events import failure_record
from local_aws.lambda_.function import LocalFunction
from local_aws.lambda_.supervision import Backoff, WorkerHealth
from local_aws.lambda_.workers import ContainerPool, InvocationError
from local_aws.sqs.queues import MAX_MESSAGE_BYTES

# Asynchronous invocation retries wait about 1 and 2 minutes on AWS; locally a fraction of that.
LOCAL_RETRY_DELAYS = (0.5, 1.0, 2.0)
# Stored events one invoker takes at once; each is still its own invocation, one after the other in one
# container, but the store and the container's pipe are paid once for all of them.
INVOKE_BATCH = 50
# The error of an event whose last invocation never ended: the runner stopped (or died) while it ran.
INTERRUPTED = ("Runtime.ExitError", "the invocation did not end: the rule runner stopped while it ran")


class AsyncInvoker:
    """Runs the stored events of the functions it is given, in their pools; one `loop` per invoker thread."""

    def __init__(
        self,
        store: EventStore,
        functions: Mapping[str, LocalFunction],
        pools: Mapping[str, ContainerPool],
        sqs: Any,
        counters: Counters,
        stopping: threading.Event,
    ) -> None:
        self.store, self.functions, self.pools, self.sqs = store, functions, pools, sqs
        self.counters, self.stopping = counters, stopping
        self.event_stored = threading.Event()  # set by whoever stores an event: an idle invoker looks at once

    def loop(self, health: WorkerHealth) -> None:
        while not self.stopping.is_set():
            claimed = self.store.claim(INVOKE_BATCH)
            if not claimed:
                self.event_stored.wait(0.1)
                self.event_stored.clear()
                continue
            by_function: dict[str, list[StoredEvent]] = {}
            for stored in claimed:
                by_function.setdefault(stored.function, []).append(stored)
            for name, batch in by_function.items():
                function = self.functions.get(name)
                if function is None:
                    health.trouble(f"a stored event names the function {name}, which is not deployed")
                    self.store.settle([], [Retry(s.id, s.attempts, 5.0) for s in batch])
                    continue
                self.invoke_stored(function, batch, health)

    def invoke_stored(self, function: LocalFunction, batch: list[StoredEvent], health: WorkerHealth) -> None:
        """Each event its own invocation, in one container; then what they came to, in one transaction. An
        event whose attempts are used up (it failed them, or the runner stopped during them: a claim counts on
        disk) is not run again: it goes to the on-failure destination."""
        to_run = [stored for stored in batch if stored.attempts <= function.retry_attempts]
        pool = self.pools[function.name]
        outcomes = pool.invoke_each([stored.body.encode() for stored in to_run]) if to_run else []
        done: list[int] = []
        again: list[Retry] = []
        failed = [
            (stored, stored.error or INTERRUPTED, stored.attempts)
            for stored in batch
            if stored.attempts > function.retry_attempts
        ]
        delivered = retried = 0
        troubled = False
        for stored, outcome in zip(to_run, outcomes, strict=True):
            if outcome is None:  # not run (its container died first): due again, no attempt made
                again.append(Retry(stored.id, stored.attempts, 0.0))
                continue
            attempts = stored.attempts + 1
            if not isinstance(outcome, InvocationError):
                done.append(stored.id)
                delivered += 1
            elif attempts <= function.retry_attempts:
                retried += 1
                delay = LOCAL_RETRY_DELAYS[min(attempts - 1, len(LOCAL_RETRY_DELAYS) - 1)]
                again.append(Retry(stored.id, attempts, delay, (outcome.error_type, str(outcome))))
            else:
                failed.append((stored, (outcome.error_type, str(outcome)), attempts))
        for stored, error, attempts in failed:
            try:
                self.on_failure(function, stored.body, error, attempts)
                done.append(stored.id)
            except Exception as failure:  # kept in the store, and sent again later (not run again)
                health.trouble(f"the on-failure destination did not take an event: {failure}")
                troubled = True
                again.append(Retry(stored.id, attempts, Backoff.LONGEST, error))
        self.store.settle(done, again)
        self.counters.add(delivered=delivered, retried=retried)
        if not troubled:
            health.ok()

    def on_failure(self, function: LocalFunction, body: str, error: tuple[str, str], attempts: int) -> None:
        if function.on_failure_queue_url is None:
            raise RuntimeError(
                f"{function.name} has no on-failure destination for a failed event: {error[1]}"
            )
        record = failure_record(function.arn, body, error, attempts, MAX_MESSAGE_BYTES)
        self.sqs.send_message(QueueUrl=function.on_failure_queue_url, MessageBody=record)
        self.counters.add(on_failure=1)
