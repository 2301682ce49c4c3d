"""Attribute generators, one module per family. Each spec is data from a device type file.

A generator's `stream(rng, clock, index)` returns a function giving the attribute's next value for the
device numbered `index`; static values (ids fixed per device) are drawn once when the stream is made.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from catalog.generators.base import Clock, Stream, Value
from catalog.generators.choice import Choice
from catalog.generators.ids import ShortId, Uuid
from catalog.generators.random_walk import RandomWalk
from catalog.generators.ranges import FloatRange, IntRange
from catalog.generators.simple import Boolean, Constant, Counter
from catalog.generators.sine import Sine
from catalog.generators.timestamp import Timestamp

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

GENERATOR_NAMES = (
    "int_range",
    "float_range",
    "random_walk",
    "sine",
    "choice",
    "timestamp",
    "short_id",
    "uuid",
    "constant",
    "boolean",
    "counter",
)

__all__ = [
    "GENERATOR_NAMES",
    "Boolean",
    "Choice",
    "Clock",
    "Constant",
    "Counter",
    "FloatRange",
    "GeneratorSpec",
    "IntRange",
    "RandomWalk",
    "ShortId",
    "Sine",
    "Stream",
    "Timestamp",
    "Uuid",
    "Value",
]
