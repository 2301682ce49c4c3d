"""Attribute generators: each spec is data (from a device type file) and makes one value stream per device.

A generator's `stream(rng, clock, index)` returns a function that gives the attribute's next value for the
device numbered `index`. Static values (ids fixed per device) are drawn once when the stream is made.
"""

from __future__ import annotations

import math
import random
import string
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Value = Any
Stream = Callable[[], Value]
Clock = Callable[[], float]  # seconds since the epoch


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class IntRange(_Spec):
    type: Literal["int_range"]
    min: int
    max: int

    @model_validator(mode="after")
    def _ordered(self) -> IntRange:
        if self.min > self.max:
            raise ValueError(f"min {self.min} is greater than max {self.max}")
        return self

    def stream(self, rng: random.Random, clock: Clock, index: int = 0) -> Stream:
        return lambda: rng.randint(self.min, self.max)


class FloatRange(_Spec):
    type: Literal["float_range"]
    min: float
    max: float
    decimals: int = Field(default=2, ge=0, le=10)

    @model_validator(mode="after")
    def _ordered(self) -> FloatRange:
        if self.min > self.max:
            raise ValueError(f"min {self.min} is greater than max {self.max}")
        return self

    def stream(self, rng: random.Random, clock: Clock, index: int = 0) -> Stream:
        return lambda: round(rng.uniform(self.min, self.max), self.decimals)


class RandomWalk(_Spec):
    """Drifts by at most `step` per reading, never leaving [min, max]: how real sensors move."""

    type: Literal["random_walk"]
    min: float
    max: float
    step: float = Field(gt=0)
    start: float | None = None
    integer: bool = True

    @model_validator(mode="after")
    def _ordered(self) -> RandomWalk:
        if self.min > self.max:
            raise ValueError(f"min {self.min} is greater than max {self.max}")
        if self.start is not None and not self.min <= self.start <= self.max:
            raise ValueError(f"start {self.start} is outside [{self.min}, {self.max}]")
        return self

    def stream(self, rng: random.Random, clock: Clock, index: int = 0) -> Stream:
        state = {"value": self.start if self.start is not None else rng.uniform(self.min, self.max)}

        def next_value() -> Value:
            moved = state["value"] + rng.uniform(-self.step, self.step)
            state["value"] = min(self.max, max(self.min, moved))
            return round(state["value"]) if self.integer else round(state["value"], 3)

        return next_value


class Sine(_Spec):
    """A daily or hourly rhythm: mean ± amplitude over `period_seconds`, plus uniform noise."""

    type: Literal["sine"]
    mean: float
    amplitude: float = Field(ge=0)
    period_seconds: float = Field(gt=0)
    noise: float = Field(default=0, ge=0)

    def stream(self, rng: random.Random, clock: Clock, index: int = 0) -> Stream:
        phase = rng.uniform(0, 2 * math.pi)

        def next_value() -> Value:
            angle = 2 * math.pi * clock() / self.period_seconds + phase
            return round(
                self.mean + self.amplitude * math.sin(angle) + rng.uniform(-self.noise, self.noise), 3
            )

        return next_value


class Choice(_Spec):
    type: Literal["choice"]
    values: list[Any] = Field(min_length=1)
    static: bool = False  # one value per device, drawn once
    by_device: bool = False  # device n takes values[n], round robin: distinct while there are enough values

    def stream(self, rng: random.Random, clock: Clock, index: int = 0) -> Stream:
        if self.by_device:
            assigned = self.values[index % len(self.values)]
            return lambda: assigned
        if self.static:
            fixed = rng.choice(self.values)
            return lambda: fixed
        return lambda: rng.choice(self.values)


class Timestamp(_Spec):
    type: Literal["timestamp"]
    format: Literal["iso_ms", "epoch_s", "epoch_ms"] = "iso_ms"

    def stream(self, rng: random.Random, clock: Clock, index: int = 0) -> Stream:
        def next_value() -> Value:
            now = clock()
            if self.format == "epoch_s":
                return int(now)
            if self.format == "epoch_ms":
                return int(now * 1000)
            return datetime.fromtimestamp(now, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")

        return next_value


class ShortId(_Spec):
    type: Literal["short_id"]
    length: int = Field(default=7, ge=1, le=64)
    static: bool = True

    def stream(self, rng: random.Random, clock: Clock, index: int = 0) -> Stream:
        def draw() -> str:
            return "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(self.length))

        if self.static:
            fixed = draw()
            return lambda: fixed
        return draw


class Uuid(_Spec):
    type: Literal["uuid"]
    static: bool = True

    def stream(self, rng: random.Random, clock: Clock, index: int = 0) -> Stream:
        def draw() -> str:
            return str(uuid.UUID(int=rng.getrandbits(128), version=4))

        if self.static:
            fixed = draw()
            return lambda: fixed
        return draw


class Constant(_Spec):
    type: Literal["constant"]
    value: Any

    def stream(self, rng: random.Random, clock: Clock, index: int = 0) -> Stream:
        return lambda: self.value


class Boolean(_Spec):
    type: Literal["boolean"]
    probability: float = Field(default=0.5, ge=0, le=1)

    def stream(self, rng: random.Random, clock: Clock, index: int = 0) -> Stream:
        return lambda: rng.random() < self.probability


class Counter(_Spec):
    type: Literal["counter"]
    start: int = 0
    step: int = 1

    def stream(self, rng: random.Random, clock: Clock, index: int = 0) -> Stream:
        state = {"next": self.start}

        def next_value() -> Value:
            value = state["next"]
            state["next"] += self.step
            return value

        return next_value


GeneratorSpec = Annotated[
    IntRange
    | FloatRange
    | RandomWalk
    | Sine
    | Choice
    | Timestamp
    | ShortId
    | Uuid
    | Constant
    | Boolean
    | Counter,
    Field(discriminator="type"),
]
