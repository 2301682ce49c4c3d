"""`constant`, `boolean` and `counter`: values with no range to speak of."""

from __future__ import annotations

import itertools
import random
from typing import Any, Literal

from pydantic import Field

from catalog.generators.base import Clock, Spec, Stream


class Constant(Spec):
    type: Literal["constant"]
    value: Any

    def stream(self, rng: random.Random, clock: Clock, index: int = 0) -> Stream:
        return lambda: self.value


class Boolean(Spec):
    type: Literal["boolean"]
    probability: float = Field(default=0.5, ge=0, le=1)  # of True

    def stream(self, rng: random.Random, clock: Clock, index: int = 0) -> Stream:
        return lambda: rng.random() < self.probability


class Counter(Spec):
    type: Literal["counter"]
    start: int = 0
    step: int = 1

    def stream(self, rng: random.Random, clock: Clock, index: int = 0) -> Stream:
        return itertools.count(self.start, self.step).__next__
