"""A copy of the repository's kinds in which some write to SQL too (`sinks: [influxdb, sql]`), for the stacks'
tests of the SQL wiring (the repository's own kinds are left as they are)."""

from __future__ import annotations

from pathlib import Path

import yaml

from catalog.loader import DEFAULT_FOLDER

SQL_KINDS = ("pressure", "button")  # one over MQTT, one through the webhook (its lwm2m section)


def write_sql_catalog(folder: Path, kinds: tuple[str, ...] = SQL_KINDS) -> Path:
    """The kinds of device-kinds/ in `folder`, those named writing to InfluxDB and SQL; the folder."""
    for path in sorted(DEFAULT_FOLDER.glob("*.yaml")):
        kind = yaml.safe_load(path.read_text())
        if kind["name"] in kinds:
            kind["sinks"] = ["influxdb", "sql"]
        (folder / path.name).write_text(yaml.safe_dump(kind, sort_keys=False))
    return folder
