"""What `make capacity` prints: the capacity model's plans as a table, each fleet's quotas with their sources, and
the `make deploy` commands that set its parameters (only those the stacks' templates declare)."""

from __future__ import annotations

from dataclasses import dataclass, field

from rich.console import Console
from rich.table import Table

from benchmarks.capacity import DIRECT, QUEUED, STREAM, PathPlan, Plan, StorePlan, Threshold
from infrastructure.stacks import cluster, influxdb, ingest


@dataclass
class Declared:
    """The parameter names each stack's synthesized template declares."""

    names: dict[str, set[str]] = field(default_factory=dict)

    def split(self, overrides: dict[str, dict[str, str]]) -> tuple[dict[str, dict[str, str]], list[str]]:
        """(the overrides the templates take, 'stack: Name' of those no template declares yet)."""
        present: dict[str, dict[str, str]] = {}
        missing: list[str] = []
        for stack, values in overrides.items():
            for name, value in values.items():
                if name in self.names.get(stack, set()):
                    present.setdefault(stack, {})[name] = value
                else:
                    missing.append(f"{stack}: {name}={value}")
        return present, missing


def declared_parameters() -> Declared:
    from infrastructure.registry import all_stacks

    stacks = all_stacks()
    return Declared(
        {name: set(stacks[name].build().parameters) for name in (ingest.NAME, cluster.NAME, influxdb.NAME)}
    )


def deploy_commands(overrides: dict[str, dict[str, str]]) -> list[str]:
    """`make deploy` per stack with its overrides (PARAMS is passed to the deploy tool as --param Key=Value)."""
    return [
        f'make deploy STACK={stack} PARAMS="{" ".join(f"{k}={v}" for k, v in values.items())}"'
        for stack, values in overrides.items()
        if values
    ]


def _store_cell(store: StorePlan) -> str:
    if store.ecs is not None:
        return (
            f"ECS: task {store.ecs.cpu / 1024:g} vCPU / {store.ecs.memory / 1024:g} GiB,"
            f" {store.hosts} x {store.instance_type}"
        )
    assert store.managed is not None
    return f"Timestream for InfluxDB {store.managed.name}, {store.storage_gib:,} GiB; {store.hosts} x {store.instance_type}"


def table_rows(plans: list[Plan]) -> list[list[str]]:
    """One row per fleet and path: the sizes, the store and the quotas to raise (or why the path cannot)."""
    rows = []
    for p in plans:
        fleet = f"{p.devices:,} at {p.rate:g}/s"
        for path in (DIRECT, QUEUED, STREAM):
            if path in p.refused:
                rows.append([fleet, path, "-", "-", "-", f"cannot carry it: {p.refused[path]}", "-"])
                continue
            one = p.paths[path]
            raises = [q for q in p.quotas[path] if q.raise_needed]
            rows.append(
                [
                    fleet,
                    path,
                    f"{one.concurrency:,}",
                    "-"
                    if one.batch_size is None
                    else f"{one.batch_size:,} ({one.per_invocation:,.0f} filled)",
                    _event_source_cell(one),
                    _store_cell(p.store(path)),
                    ", ".join(f"{q.name} {q.default:,} -> {q.needed:,}" for q in raises) or "none",
                ]
            )
    return rows


def _event_source_cell(one: PathPlan) -> str:
    if one.event_source_concurrency is None:
        return "-"
    if one.shards is not None:
        shards = f"{one.shards:,} shard{'s' if one.shards != 1 else ''}"
        return f"{one.event_source_concurrency:,} ({shards} x {one.parallelization})"
    return f"{one.event_source_concurrency:,}"


TABLE_HEADER = [
    "fleet",
    "path",
    "ReservedConcurrency",
    "BatchSize",
    "event-source concurrency",
    "store",
    "quota increases (default -> needed)",
]


def render(plans: list[Plan], declared: Declared, limits: list[Threshold], console: Console) -> None:
    """The table for the fleets; for a single fleet also its quotas with their sources and the deploy commands."""
    table = Table(title="The deployment that carries each fleet (make capacity; sizes include the headroom)")
    for i, column in enumerate(TABLE_HEADER):
        table.add_column(column, justify="left" if i < 2 else "right")
    for row in table_rows(plans):
        table.add_row(*row)
    console.print(table)
    for p in plans:
        for path in p.paths:
            store = p.store(path)
            console.print(
                f"{p.devices:,} devices at {p.rate:g}/s, {path}: {store.store} store for {store.lines_per_second:,.0f}"
                f" lines/s ({store.field_writes_per_second:,.0f} field writes/s, {p.headroom:g}x headroom),"
                f" {store.series:,} series: {store.why}"
            )
    if len(plans) != 1:
        console.print("When to switch store (readings/s each size is chosen up to, the headroom taken off):")
        for limit in limits:
            console.print(
                f"  {limit.store}: direct {limit.direct:,.0f}/s ({limit.direct_bound_by}),"
                f" queued {limit.queued:,.0f}/s ({limit.queued_bound_by}), {limit.devices_by_series:,} devices"
            )
        raised = {
            q.name: q.quota for p in plans for needs in p.quotas.values() for q in needs if q.raise_needed
        }
        for name, quota in raised.items():
            console.print(f"  {name}: {quota.unit}; source: {quota.source}")
        console.print(
            "One fleet's quotas and `make deploy` parameters: make capacity FLEET=<devices> RATE=<per device>"
        )
        return
    only = plans[0]
    for path in (DIRECT, QUEUED, STREAM):
        console.print(f"[bold]{path}[/]")
        if path in only.refused:
            console.print(f"  cannot carry it: {only.refused[path]}")
            continue
        for q in only.quotas[path]:
            verdict = "raise" if q.raise_needed else "within the default"
            console.print(
                f"  {q.name}: {q.needed:,} needed, default {q.default:,} ({verdict}); {q.quota.source}"
            )
        present, missing = declared.split(only.overrides(path))
        for command in deploy_commands(present):
            console.print(f"  {command}")
        for name in missing:
            console.print(f"  not deployable from this tree yet (no such parameter in the stack): {name}")
