"""The managed store's equivalent of the ECS store's continuous queries: one InfluxDB v2 task (Flux) per kind and
interval, made from the same catalog data (catalog.export.downsampled, the text the ECS task gets as
INFLUXDB_DOWNSAMPLED: one line per kind, "measurement aggregate:field:column ...").

A continuous query of services/influxdb/init-influxdb.sh
    SELECT mean("f") AS "f" INTO "telemetry"."rp_1m"."m" FROM "telemetry"."autogen"."m"
    GROUP BY time(1m), * RESAMPLE EVERY 1m FOR 10m
becomes a task that runs every 1m over the last 10m, aggregates each field per 1-minute window of each series
(every tag kept, as GROUP BY *), stamps each window with its start (as InfluxQL does), renames the column as the
query does and writes into the policy's bucket, which the DBRP mapping names "telemetry"."rp_1m" for InfluxQL.
"""

from __future__ import annotations

from dataclasses import dataclass

from store_setup.constants import DEFAULT_POLICY, DOWNSAMPLED_POLICIES, TASK_PREFIX, Downsampled, bucket_name

# The catalog's aggregates (catalog/schema.py Aggregate) and Flux's function of the same meaning.
FLUX_AGGREGATES = {"mean": "mean", "min": "min", "max": "max", "sum": "sum", "count": "count", "last": "last"}


class DownsamplingError(ValueError):
    """The downsampling text is not what catalog.export.downsampled writes."""


@dataclass(frozen=True)
class Column:
    aggregate: str
    field: str
    column: str


@dataclass(frozen=True)
class Kind:
    measurement: str
    columns: tuple[Column, ...]


@dataclass(frozen=True)
class Task:
    name: str
    flux: str


def parse(text: str) -> list[Kind]:
    kinds = []
    for number, line in enumerate(text.splitlines(), start=1):
        words = line.split()
        if not words:
            continue
        columns = []
        for word in words[1:]:
            parts = word.split(":")
            if len(parts) != 3 or not all(parts) or parts[0] not in FLUX_AGGREGATES:
                raise DownsamplingError(
                    f"downsampling line {number}: {word!r} is not aggregate:field:column with an aggregate of "
                    f"{', '.join(FLUX_AGGREGATES)}"
                )
            columns.append(Column(*parts))
        if not columns:
            raise DownsamplingError(f"downsampling line {number}: {words[0]!r} names no column")
        kinds.append(Kind(words[0], tuple(columns)))
    return kinds


def _string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def task_name(measurement: str, policy: Downsampled) -> str:
    return f"{TASK_PREFIX}{measurement}_{policy.interval}"


def flux(kind: Kind, policy: Downsampled, database: str) -> str:
    streams = []
    for column in kind.columns:
        stream = (
            f"    data\n"
            f"        |> filter(fn: (r) => r._field == {_string(column.field)})\n"
            f"        |> aggregateWindow(every: {policy.interval}, fn: {FLUX_AGGREGATES[column.aggregate]}, "
            f'createEmpty: false, timeSrc: "_start")'
        )
        if column.column != column.field:
            stream += f'\n        |> set(key: "_field", value: {_string(column.column)})'
        streams.append(stream)
    return (
        f"option task = {{name: {_string(task_name(kind.measurement, policy))}, every: {policy.interval}}}\n"
        f"\n"
        f"data = from(bucket: {_string(bucket_name(database, DEFAULT_POLICY))})\n"
        f"    |> range(start: -{policy.window})\n"
        f"    |> filter(fn: (r) => r._measurement == {_string(kind.measurement)})\n"
        f"\n"
        f"union(tables: [\n" + ",\n".join(streams) + "\n])\n"
        f"    |> to(bucket: {_string(bucket_name(database, policy.policy))})\n"
    )


def tasks(text: str, database: str) -> list[Task]:
    """Every task the catalog's downsampling asks for, per kind and retention policy."""
    return [
        Task(task_name(kind.measurement, policy), flux(kind, policy, database))
        for kind in parse(text)
        for policy in DOWNSAMPLED_POLICIES
    ]
