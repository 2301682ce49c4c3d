"""What every generator shares: the spec base class, the stream and clock types, range checks."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict

Value = Any
Stream = Callable[[], Value]  # the next value of one attribute of one device
Clock = Callable[[], float]  # seconds since the epoch


class Spec(BaseModel):
    """A generator as data. `stream(rng, clock, index)` makes the value stream of device number `index`."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def check_ordered(low: float, high: float) -> None:
    if low > high:
        raise ValueError(f"min {low} is greater than max {high}")
