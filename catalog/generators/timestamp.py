"""`timestamp`: the device's clock as ISO 8601 with milliseconds (UTC, `Z`), epoch seconds or epoch milliseconds."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Literal

from catalog.generators.base import Clock, Spec, Stream, Value


def iso_ms(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Timestamp(Spec):
    type: Literal["timestamp"]
    format: Literal["iso_ms", "epoch_s", "epoch_ms"] = "iso_ms"

    def stream(self, rng: random.Random, clock: Clock, index: int = 0) -> Stream:
        def next_value() -> Value:
            now = clock()
            if self.format == "epoch_s":
                return int(now)
            if self.format == "epoch_ms":
                return int(now * 1000)
            return iso_ms(now)

        return next_value
