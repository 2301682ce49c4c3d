"""The kinds of reading the function understands, as data: a new kind of device is a new entry here."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from ingest_to_influxdb.constants import SENSOR_ID_TAG


class FieldRule(Enum):
    """How a field's value is checked before it becomes a float field of the point."""

    FINITE_NUMBER = "a finite number"
    NON_NEGATIVE_INTEGER = "a non-negative integer"


@dataclass(frozen=True)
class FieldSpec:
    name: str  # the field key in the point
    source: str  # the reading's attribute
    rule: FieldRule = FieldRule.FINITE_NUMBER


@dataclass(frozen=True)
class TagSpec:
    name: str  # the tag key in the point
    source: str  # the reading's attribute (a non-empty string)


@dataclass(frozen=True)
class ReadingKind:
    name: str
    topic: str
    measurement: str
    fields: tuple[FieldSpec, ...]
    tags: tuple[TagSpec, ...] = ()

    @property
    def point_names(self) -> frozenset[str]:
        """Names the reading itself sets in the point: metadata may never use them."""
        return frozenset({SENSOR_ID_TAG, *(f.name for f in self.fields), *(t.name for t in self.tags)})


PRESSURE = ReadingKind(
    name="pressure",
    topic="/pressure/data",
    measurement="pressure",
    fields=(FieldSpec("pressureValue", "pressure"), FieldSpec("viscosity", "viscosity")),
)
SHELF = ReadingKind(
    name="shelf",
    topic="/shelf/data",
    measurement="product_count",
    fields=(FieldSpec("count", "count", FieldRule.NON_NEGATIVE_INTEGER),),
    tags=(TagSpec("product_id", "product_id"),),
)

BUTTON = ReadingKind(
    name="button",
    topic="/button/data",
    measurement="button",
    fields=(FieldSpec("presses", "presses", FieldRule.NON_NEGATIVE_INTEGER),),
)

KINDS: tuple[ReadingKind, ...] = (PRESSURE, SHELF, BUTTON)
# A reading without a topic comes from a rule written as plain `SELECT * FROM '/pressure/data'`.
DEFAULT_KIND = PRESSURE
_BY_TOPIC = {kind.topic: kind for kind in KINDS}


def kind_for_topic(topic: str | None) -> ReadingKind | None:
    """The kind whose rule delivers `topic`; the default kind without a topic; None for an unknown topic."""
    if topic is None:
        return DEFAULT_KIND
    return _BY_TOPIC.get(topic)
