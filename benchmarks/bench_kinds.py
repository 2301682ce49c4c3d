"""The kinds the benchmarks' functions carry: the catalog's, each writing to InfluxDB alone. The handler cases are
measured against InfluxDB's own ceiling; what a second sink (SQL) costs is priced by `make cost` apart."""

from __future__ import annotations

import json

from ingest_to_influxdb.kinds import INFLUXDB_SINK

from catalog import load_catalog
from catalog.export import function_kinds


def influxdb_only_kinds() -> str:
    """The packed kinds (the function's device_kinds.json) with every kind's sinks set to InfluxDB alone."""
    packed = json.loads(function_kinds(load_catalog()))
    for kind in packed["kinds"]:
        kind["sinks"] = [INFLUXDB_SINK]
    return json.dumps(packed)
