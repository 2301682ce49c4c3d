"""Reading kinds as data: which topic, measurement, fields and tags each kind of device has.

A new kind of device is a new entry in `KINDS`, not new code.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class FieldType(Enum):
    NUMBER = "a finite number"
    COUNT = "a non-negative integer"


@dataclass(frozen=True)
class Field:
    name: str  # the InfluxDB field
    source: str  # the reading's attribute
    type: FieldType


@dataclass(frozen=True)
class ReadingKind:
    name: str
    topic: str
    measurement: str
    fields: tuple[Field, ...]
    tags: tuple[str, ...] = ()  # reading attributes that become tags, besides sensorID


KINDS: tuple[ReadingKind, ...] = (
    ReadingKind(
        name="pressure",
        topic="/pressure/data",
        measurement="pressure",
        fields=(
            Field("pressureValue", "pressure", FieldType.NUMBER),
            Field("viscosity", "viscosity", FieldType.NUMBER),
        ),
    ),
    ReadingKind(
        name="shelf",
        topic="/shelf/data",
        measurement="product_count",
        fields=(Field("count", "count", FieldType.COUNT),),
        tags=("product_id",),
    ),
)
DEFAULT_KIND = KINDS[0]  # a reading without a topic (the reference's plain `SELECT *` rule)


def kind_for_topic(topic: str | None) -> ReadingKind | None:
    if topic is None:
        return DEFAULT_KIND
    return next((kind for kind in KINDS if kind.topic == topic), None)
