"""`random_walk`: drifts by at most `step` per reading and never leaves [min, max], as real sensors move."""

from __future__ import annotations

import math
import random
from typing import Literal

from pydantic import Field, model_validator

from catalog.generators.base import Clock, Spec, Stream, Value, check_ordered


class RandomWalk(Spec):
    type: Literal["random_walk"]
    min: float
    max: float
    step: float = Field(gt=0)
    start: float | None = None  # default: a random point of the range, per device
    integer: bool = True

    @model_validator(mode="after")
    def _ordered(self) -> RandomWalk:
        check_ordered(self.min, self.max)
        if self.start is not None and not self.min <= self.start <= self.max:
            raise ValueError(f"start {self.start} is outside [{self.min}, {self.max}]")
        if self.integer and self.step < 1:
            raise ValueError(f"step {self.step} is below 1, so an integer walk could never move")
        if self.integer and math.ceil(self.min) > math.floor(self.max):
            raise ValueError(f"no whole number lies in [{self.min}, {self.max}]; set integer: false")
        return self

    def stream(self, rng: random.Random, clock: Clock, index: int = 0) -> Stream:
        low, high = (math.ceil(self.min), math.floor(self.max)) if self.integer else (self.min, self.max)
        value = self.start if self.start is not None else rng.uniform(low, high)
        if self.integer:  # walk on whole numbers, so the published value moves by at most `step`
            value = min(high, max(low, round(value)))

        def next_value() -> Value:
            nonlocal value
            if self.integer:
                moved: float = value + rng.randint(-int(self.step), int(self.step))
            else:
                moved = value + rng.uniform(-self.step, self.step)
            value = min(high, max(low, moved))
            return int(value) if self.integer else round(value, 3)

        return next_value
