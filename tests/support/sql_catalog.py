"""A copy of the repository's kinds in which the named ones write to SQL too (`sinks: [influxdb, sql]`) and the
others to InfluxDB alone, for the stacks' tests of the SQL wiring, with it and without it."""

from __future__ import annotations

from pathlib import Path

import yaml

from catalog.loader import DEFAULT_FOLDER

SQL_KINDS = ("pressure", "button")  # one over MQTT, one through the webhook (its lwm2m section)


def write_sql_catalog(folder: Path, kinds: tuple[str, ...] = SQL_KINDS) -> Path:
    """The kinds of device-kinds/ in `folder`, those named writing to InfluxDB and SQL, the others to InfluxDB
    alone; the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    for path in sorted(DEFAULT_FOLDER.glob("*.yaml")):
        kind = yaml.safe_load(path.read_text())
        kind.pop("sinks", None)
        if kind["name"] in kinds:
            kind["sinks"] = ["influxdb", "sql"]
        (folder / path.name).write_text(yaml.safe_dump(kind, sort_keys=False))
    return folder
