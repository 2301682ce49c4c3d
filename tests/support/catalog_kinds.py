"""The function's view of the repository's kinds: what the deploy tool packs into the zip, parsed as it does."""

from __future__ import annotations

from ingest_to_influxdb.kinds import parse_table

from catalog import load_catalog
from catalog.export import function_kinds

PACKED = function_kinds(load_catalog())
TABLE = parse_table(PACKED)
PRESSURE = TABLE.named("pressure")
SHELF = TABLE.named("shelf")
