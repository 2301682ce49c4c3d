"""Which metadata attributes become tags of a point, and which are left out (and why)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from ingest_to_influxdb.line_protocol import UnwritableValue, check_tag_text
from ingest_to_influxdb.validation import Reading

SENSOR_TAG = "sensorID"
MAX_TAG_LENGTH = 256
_ALWAYS_RESERVED = frozenset({"time", "metakey", SENSOR_TAG, "_field", "_measurement"})


@dataclass
class Enriched:
    tags: dict[str, str]
    dropped: list[str] = field(default_factory=list)  # attribute names left out, for the logs and metrics


def _scalar_text(value: Any) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | Decimal):  # DynamoDB numbers arrive as Decimal
        text = format(value, "f") if isinstance(value, Decimal) else str(value)
        return text.rstrip("0").rstrip(".") if "." in text else text
    if isinstance(value, float):
        return repr(value)
    return None  # lists, maps, sets, binary: not a tag


def tags_for(reading: Reading, metadata: Mapping[str, Any] | None) -> Enriched:
    """sensorID, the reading's own tags, then every usable scalar metadata attribute."""
    tags = {SENSOR_TAG: reading.sensor_id, **reading.tags}
    enriched = Enriched(tags=tags)
    if not metadata:
        return enriched
    reserved = _ALWAYS_RESERVED | set(reading.fields) | set(reading.tags)
    for name, value in metadata.items():
        text = _scalar_text(value)
        if name in reserved or text is None or not isinstance(name, str):
            if name != "metakey":
                enriched.dropped.append(str(name))
            continue
        try:
            check_tag_text(name, "attribute name")
            check_tag_text(text, f"attribute {name}")
        except UnwritableValue:
            enriched.dropped.append(name)
            continue
        if len(text) > MAX_TAG_LENGTH or len(name) > MAX_TAG_LENGTH:
            enriched.dropped.append(name)
            continue
        tags[name] = text
    return enriched
