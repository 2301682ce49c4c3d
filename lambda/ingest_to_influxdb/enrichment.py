"""A reading's point: its own fields and tags plus its device's metadata as tags, never overwriting them."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from decimal import Decimal

from ingest_to_influxdb.constants import (
    MAX_METADATA_TAGS,
    MAX_TAG_KEY_LENGTH,
    MAX_TAG_VALUE_LENGTH,
    METAKEY,
    NANOSECONDS_PER_MILLISECOND,
    SENSOR_ID_TAG,
)
from ingest_to_influxdb.kinds import ReadingKind
from ingest_to_influxdb.line_protocol import LineFormat, format_point, unrepresentable
from ingest_to_influxdb.validation import Reading


def _scalar_text(value: object) -> str | None:
    """The tag text of a scalar attribute (string, number, boolean); None for anything else."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, Decimal):
        return format(value.normalize(), "f") if value.is_finite() else None
    if isinstance(value, int | float):
        return str(value)
    return None


def _reserved(name: str, kind: ReadingKind) -> bool:
    return (
        name in kind.point_names
        or name.lower() == "time"
        or name.startswith("_")  # `_measurement`, `_field`, `_time`, ... : InfluxDB's own names
    )


def metadata_tags(item: Mapping[str, object], kind: ReadingKind) -> tuple[dict[str, str], Counter[str]]:
    """The item's usable attributes as tags for a reading of `kind`, and a count of the unused ones by reason."""
    tags: dict[str, str] = {}
    dropped: Counter[str] = Counter()
    for name, value in item.items():
        if name == METAKEY:
            continue
        text = _scalar_text(value)
        if _reserved(name, kind):
            dropped["reserved_name"] += 1
        elif text is None:
            dropped["not_scalar"] += 1
        elif len(name) > MAX_TAG_KEY_LENGTH or len(text) > MAX_TAG_VALUE_LENGTH:
            dropped["too_long"] += 1
        elif unrepresentable(name) or unrepresentable(text):
            dropped["unrepresentable"] += 1
        elif len(tags) >= MAX_METADATA_TAGS:
            dropped["too_many"] += 1
        else:
            tags[name] = text
    return tags, dropped


def to_line(reading: Reading, metadata: Mapping[str, str]) -> str:
    """The reading's line, at the device's time in nanoseconds (whole milliseconds), so a replay overwrites."""
    tags = {**metadata, **reading.tags, SENSOR_ID_TAG: reading.sensor_id}
    return format_point(
        reading.kind.measurement, tags, reading.fields, reading.time_ms * NANOSECONDS_PER_MILLISECOND
    )


def line_format(metadata: Mapping[str, str], kind: ReadingKind) -> LineFormat:
    """The lines of `kind`'s readings with these metadata tags: `format_line` gives what `to_line` does."""
    return LineFormat(
        kind.measurement,
        metadata,
        [tag.name for tag in kind.tags],
        [field.name for field in kind.fields],
        own_tag=SENSOR_ID_TAG,
    )


def format_line(line_format: LineFormat, reading: Reading) -> str:
    """The reading's line in a format made by `line_format` for its kind (the same line as `to_line`)."""
    return line_format.point(
        reading.sensor_id, reading.tags, reading.fields, reading.time_ms * NANOSECONDS_PER_MILLISECOND
    )
