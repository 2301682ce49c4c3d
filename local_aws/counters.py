"""The rule runner's counters, shared by its parts (the rules engine, the invokers, the pollers) and written to
its stats file for the accounting."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, fields


@dataclass
class Counters:
    received: int = 0
    acknowledged: int = 0  # to the broker, once durably handed off
    filtered: int = 0  # did not match the rule's WHERE
    stored: int = 0  # committed to the local event store (direct path)
    queued: int = 0  # accepted by the rule's SQS queue (queued path)
    streamed: int = 0  # accepted by the rule's Kinesis stream (stream path)
    delivered: int = 0  # handled by the function without error
    retried: int = 0
    on_failure: int = 0  # sent to the function's on-failure destination
    error_action: int = 0  # sent to the rule's error action
    redriven: int = 0  # moved to the dead-letter queue by the ingest queue's redrive policy
    batches: int = 0
    in_flight: int = 0  # taken off the broker, not acknowledged yet
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, **amounts: int) -> None:
        with self.lock:
            for name, amount in amounts.items():
                setattr(self, name, getattr(self, name) + amount)

    def snapshot(self) -> dict[str, int]:
        with self.lock:
            return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "lock"}
