"""`choice`: a value from a list, per message, fixed per device at random, or the device's own by number."""

from __future__ import annotations

import random
from typing import Any, Literal

from pydantic import Field, model_validator

from catalog.generators.base import Clock, Spec, Stream


class Choice(Spec):
    type: Literal["choice"]
    values: list[Any] = Field(min_length=1)
    static: bool = False  # one value per device, drawn once
    by_device: bool = False  # device n takes values[n], round robin: distinct while there are enough values

    @model_validator(mode="after")
    def _one_mode(self) -> Choice:
        if self.static and self.by_device:
            raise ValueError("static and by_device exclude each other: choose one")
        return self

    def stream(self, rng: random.Random, clock: Clock, index: int = 0) -> Stream:
        if self.by_device:
            assigned = self.values[index % len(self.values)]
            return lambda: assigned
        if self.static:
            fixed = rng.choice(self.values)
            return lambda: fixed
        return lambda: rng.choice(self.values)
