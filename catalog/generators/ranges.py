"""Independent draws from a range: `int_range` and `float_range`."""

from __future__ import annotations

import random
from typing import Literal

from pydantic import Field, model_validator

from catalog.generators.base import Clock, Spec, Stream, check_ordered


class IntRange(Spec):
    type: Literal["int_range"]
    min: int
    max: int

    @model_validator(mode="after")
    def _ordered(self) -> IntRange:
        check_ordered(self.min, self.max)
        return self

    def stream(self, rng: random.Random, clock: Clock, index: int = 0) -> Stream:
        return lambda: rng.randint(self.min, self.max)


class FloatRange(Spec):
    type: Literal["float_range"]
    min: float
    max: float
    decimals: int = Field(default=2, ge=0, le=10)

    @model_validator(mode="after")
    def _ordered(self) -> FloatRange:
        check_ordered(self.min, self.max)
        return self

    def stream(self, rng: random.Random, clock: Clock, index: int = 0) -> Stream:
        return lambda: round(rng.uniform(self.min, self.max), self.decimals)
