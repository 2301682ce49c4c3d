"""`sine`: a daily or hourly rhythm, mean ± amplitude over `period_seconds` of the clock, plus uniform noise."""

from __future__ import annotations

import math
import random
from typing import Literal

from pydantic import Field

from catalog.generators.base import Clock, Spec, Stream, Value


class Sine(Spec):
    type: Literal["sine"]
    mean: float
    amplitude: float = Field(ge=0)
    period_seconds: float = Field(gt=0)
    noise: float = Field(default=0, ge=0)

    def stream(self, rng: random.Random, clock: Clock, index: int = 0) -> Stream:
        phase = rng.uniform(0, 2 * math.pi)  # devices are not in step with each other

        def next_value() -> Value:
            angle = 2 * math.pi * clock() / self.period_seconds + phase
            noise = rng.uniform(-self.noise, self.noise)
            return round(self.mean + self.amplitude * math.sin(angle) + noise, 3)

        return next_value
