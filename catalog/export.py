"""What other parts get from the catalog in their own format: the function's packed kinds, the downsampling."""

from __future__ import annotations

import json

from catalog.loader import Catalog


def function_kinds(catalog: Catalog) -> str:
    """`device_kinds.json` of the function's zip: only what the function reads (lambda/.../kinds.py), so a
    dashboard or simulator change does not change the function. Stable text: same catalog, same bytes."""
    kinds = [
        {
            "name": kind.name,
            "topic": kind.topic,
            "measurement": kind.measurement,
            "sensor_id": list(kind.sensor_id),
            "fields": {
                name: {"attribute": f.attribute, "type": f.type.value} for name, f in kind.fields.items()
            },
            "tags": {name: {"attribute": t.attribute} for name, t in kind.tags.items()},
            "sinks": [sink.value for sink in kind.sinks],
        }
        for kind in catalog
    ]
    return json.dumps({"kinds": kinds}, indent=1) + "\n"


def downsampled(catalog: Catalog) -> str:
    """The continuous queries' input for services/influxdb/init-influxdb.sh: one line per kind,
    "measurement aggregate(field) AS column ...", what INFLUXDB_DOWNSAMPLED carries."""
    lines = []
    for kind in catalog:
        if kind.downsampling is None:
            continue
        columns = [
            f"{aggregate.value}:{field}:{kind.downsampling.column(field, aggregate)}"
            for field in kind.downsampling.fields
            for aggregate in kind.downsampling.aggregates
        ]
        lines.append(" ".join([kind.measurement, *columns]))
    return "\n".join(lines)
