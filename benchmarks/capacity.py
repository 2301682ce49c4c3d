"""The capacity model (`make capacity`): a fleet in, the deployment that carries it out, on each ingest path.

Every size is worked out for the fleet's mean rate times the headroom of benchmarks/limits.yaml:
- the function: concurrency = rate x the billed time of one invocation (the cost model's, from what `make bench`
  measured), never below the stack's default; on the queued path the batch size (the largest that fills within
  the batching window, fits Lambda's 6 MB event and keeps SQS's in-flight messages under its quota) and the event
  source mapping's maximum concurrency;
- the store: the ECS store's sizes (InfluxData's sizing bands, checked against the measured ceiling per core of
  influxd), then Timestream for InfluxDB's classes (AWS's sizing table); past both the fleet is refused;
- every AWS quota the deployment needs above its default, with its source (benchmarks/limits.yaml).

The arithmetic's inputs come from the cost model (benchmarks/cost.py passes them in): one model, not two.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict
from rich.console import Console
from rich.table import Table

from infrastructure.stacks import cluster, influxdb, ingest

LIMITS = Path(__file__).with_name("limits.yaml")
DIRECT, QUEUED = "direct", "queued"
BATCH_SIZES = (5_000, 2_000, 1_000)  # tried largest first; InfluxData advises 5,000-10,000 lines a write
BYTES_PER_GIB = 2**30


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Quota(_Model):
    value: int
    adjustable: bool
    unit: str
    source: str


class Band(_Model):
    field_writes_per_second: int
    series: int
    cores: str
    memory_gb: str
    iops: str


class Influx1Sizing(_Model):
    source: str
    single_node_field_writes_per_second: int
    single_node_series: int
    bands: list[Band]
    note: str


class EcsSize(_Model):
    band: int
    cpu: int  # task CPU units (1,024 a vCPU)
    memory: int  # task MiB
    instance_type: str
    instance_vcpu: int
    instance_memory_gib: int


class ManagedClass(_Model):
    name: str
    vcpu: int
    memory_gib: int
    lines_per_second: int | None = None  # AWS's sizing table; a class without a row is not chosen
    series: int | None = None


class Timestream(_Model):
    source: str
    storage_type: str
    storage_minimum_gib: int
    classes: list[ManagedClass]
    note: str


class Limits(_Model):
    read: str
    region: str
    headroom: float
    quotas: dict[str, Quota]
    sqs_record_bytes: int
    influxdb1_sizing: Influx1Sizing
    ecs_store_sizes: list[EcsSize]
    ecs_hosts: int
    series_per_device: int
    timestream_influxdb: Timestream

    def quota(self, name: str) -> int:
        return self.quotas[name].value


def load_limits(path: Path = LIMITS) -> Limits:
    return Limits.model_validate(yaml.safe_load(path.read_text()))


@dataclass(frozen=True)
class Inputs:
    """What the capacity model takes from the cost model, the stacks' defaults and the bench."""

    billed_seconds: Callable[[bool, float], float]  # (queued, readings per invocation) -> billed seconds
    reserved_concurrency: int  # the ingest stack's default
    batch_size: int  # the ingest stack's default
    batch_window_seconds: float
    fields_per_reading: int  # the most fields a catalog kind writes per point
    store_points_per_core_second: float | None  # the bench's store ceiling per core of influxd CPU
    store_fields_per_point: int  # fields of the points that ceiling was measured with
    bytes_per_reading: float  # on the store's disk
    raw_retention_days: float


class Refused(Exception):
    """The fleet is beyond what the offered deployments carry; the message is the one-line reason."""


@dataclass(frozen=True)
class PathPlan:
    path: str
    per_invocation: float  # readings per invocation
    batch_size: int | None  # BatchSize (queued)
    billed_seconds: float  # per invocation
    invocations_per_second: float
    concurrency: int  # ReservedConcurrency
    event_source_concurrency: int | None  # ScalingConfig.MaximumConcurrency (queued)
    in_flight: float | None  # SQS messages received and not yet deleted (queued)


@dataclass(frozen=True)
class StorePlan:
    store: str  # influxdb.STORE_ECS or influxdb.STORE_MANAGED
    lines_per_second: float  # with headroom
    field_writes_per_second: float
    series: int
    ecs: EcsSize | None
    managed: ManagedClass | None
    storage_gib: int  # the managed store's allocated storage (0 on the ECS store: EFS grows by itself)
    hosts: int
    instance_type: str
    why: str


@dataclass(frozen=True)
class QuotaNeed:
    name: str
    default: int
    needed: int
    quota: Quota

    @property
    def raise_needed(self) -> bool:
        return self.needed > self.default


@dataclass(frozen=True)
class Plan:
    devices: int
    rate: float  # readings a second per device
    headroom: float
    paths: dict[str, PathPlan]
    store: StorePlan
    quotas: dict[str, list[QuotaNeed]]  # by path: every quota checked

    @property
    def readings_per_second(self) -> float:
        return self.devices * self.rate

    def overrides(self, path: str) -> dict[str, dict[str, str]]:
        """The parameter values of this deployment, per stack (names from the stack modules)."""
        plan, store = self.paths[path], self.store
        ingest_values = {
            ingest.INGEST_PATH_PARAMETER: path,
            ingest.RESERVED_CONCURRENCY_PARAMETER: str(plan.concurrency),
        }
        if plan.batch_size is not None:
            ingest_values[ingest.BATCH_SIZE_PARAMETER] = str(plan.batch_size)
        if plan.event_source_concurrency is not None:
            ingest_values[ingest.QUEUE_MAXIMUM_CONCURRENCY_PARAMETER] = str(plan.event_source_concurrency)
        influx_values = {influxdb.STORE_PARAMETER: store.store}
        if store.ecs is not None:
            influx_values[influxdb.TASK_CPU_PARAMETER] = str(store.ecs.cpu)
            influx_values[influxdb.TASK_MEMORY_PARAMETER] = str(store.ecs.memory)
        if store.managed is not None:
            influx_values[influxdb.MANAGED_CLASS_PARAMETER] = store.managed.name
        return {
            ingest.NAME: ingest_values,
            cluster.NAME: {
                cluster.INSTANCE_TYPE_PARAMETER: store.instance_type,
                cluster.DESIRED_CAPACITY_PARAMETER: str(store.hosts),
                cluster.MAX_SIZE_PARAMETER: str(2 * store.hosts),  # room to place a replacement task
            },
            influxdb.NAME: influx_values,
        }


def _need(limits: Limits, name: str, needed: float) -> QuotaNeed:
    quota = limits.quotas[name]
    return QuotaNeed(name, quota.value, math.ceil(needed), quota)


def _direct(limits: Limits, inputs: Inputs, rate: float) -> PathPlan:
    billed = inputs.billed_seconds(False, 1.0)
    design = rate * limits.headroom
    return PathPlan(
        path=DIRECT,
        per_invocation=1.0,
        batch_size=None,
        billed_seconds=billed,
        invocations_per_second=rate,
        concurrency=max(inputs.reserved_concurrency, math.ceil(design * billed)),
        event_source_concurrency=None,
        in_flight=None,
    )


def _queued_at(limits: Limits, inputs: Inputs, rate: float, batch_size: int) -> PathPlan:
    design = rate * limits.headroom
    per_invocation = max(1.0, min(float(batch_size), rate * inputs.batch_window_seconds))
    billed = inputs.billed_seconds(True, per_invocation)
    fill_seconds = per_invocation / rate if rate else inputs.batch_window_seconds
    needed = math.ceil(design / per_invocation * billed)
    event_source = max(2, needed)  # MaximumConcurrency takes 2-1000
    return PathPlan(
        path=QUEUED,
        per_invocation=per_invocation,
        batch_size=batch_size,
        billed_seconds=billed,
        invocations_per_second=rate / per_invocation,
        concurrency=max(inputs.reserved_concurrency, event_source),  # Lambda advises reserved >= maximum
        event_source_concurrency=event_source,
        in_flight=design
        * (fill_seconds + billed),  # Little's law: each message waits for its batch, then runs
    )


def _queued(limits: Limits, inputs: Inputs, rate: float) -> PathPlan:
    """The largest batch that fills within the window, fits one event and keeps in-flight under the quota."""
    fits = limits.quota("lambda_invocation_payload_bytes") // limits.sqs_record_bytes
    fills = rate * inputs.batch_window_seconds
    choices = [
        b
        for b in BATCH_SIZES
        if b <= fits
        and b <= limits.quota("sqs_event_source_batch_size")
        and (b <= fills or b == min(BATCH_SIZES))
    ]
    sizes = [b for b in choices if b >= inputs.batch_size] or [inputs.batch_size]
    plans = [_queued_at(limits, inputs, rate, b) for b in sizes]
    in_flight = limits.quota("sqs_in_flight_per_queue")
    plan = next((p for p in plans if (p.in_flight or 0) <= in_flight), plans[-1])
    if (plan.event_source_concurrency or 0) > limits.quota("sqs_event_source_maximum_concurrency"):
        raise Refused(
            f"the queued path needs {plan.event_source_concurrency:,} concurrent batches, past the event source"
            f" mapping's maximum of {limits.quota('sqs_event_source_maximum_concurrency'):,}"
        )
    return plan


def _storage_gib(limits: Limits, inputs: Inputs, rate: float) -> int:
    stored = rate * limits.headroom * inputs.raw_retention_days * 86_400 * inputs.bytes_per_reading
    return max(limits.timestream_influxdb.storage_minimum_gib, math.ceil(stored / BYTES_PER_GIB))


def size_store(limits: Limits, inputs: Inputs, devices: int, rate: float) -> StorePlan:
    lines = rate * limits.headroom
    field_writes = lines * inputs.fields_per_reading
    series = devices * limits.series_per_device
    per_core = inputs.store_points_per_core_second
    for size in limits.ecs_store_sizes:
        band = limits.influxdb1_sizing.bands[size.band]
        measured = (
            math.inf if per_core is None else per_core * size.cpu / 1024 * inputs.store_fields_per_point
        )
        if field_writes <= min(band.field_writes_per_second, measured) and series <= band.series:
            return StorePlan(
                store=influxdb.STORE_ECS,
                lines_per_second=lines,
                field_writes_per_second=field_writes,
                series=series,
                ecs=size,
                managed=None,
                storage_gib=0,
                hosts=limits.ecs_hosts,
                instance_type=size.instance_type,
                why=f"under {band.field_writes_per_second:,} field writes/s and {band.series:,} series"
                f" (InfluxData's band of {band.cores} cores, {band.memory_gb} GB)",
            )
    for managed in limits.timestream_influxdb.classes:
        if managed.lines_per_second is None or managed.series is None:
            continue
        if lines <= managed.lines_per_second and series <= managed.series:
            return StorePlan(
                store=influxdb.STORE_MANAGED,
                lines_per_second=lines,
                field_writes_per_second=field_writes,
                series=series,
                ecs=None,
                managed=managed,
                storage_gib=_storage_gib(limits, inputs, rate),
                hosts=limits.ecs_hosts,  # Grafana and Chronograf, still in two zones
                instance_type=limits.ecs_store_sizes[0].instance_type,
                why=f"past the ECS store's last size; {managed.name} carries ~{managed.lines_per_second:,} lines/s"
                f" and {managed.series:,} series (AWS's sizing table)",
            )
    top = max(
        (c for c in limits.timestream_influxdb.classes if c.lines_per_second),
        key=lambda c: c.lines_per_second or 0,
    )
    raise Refused(
        f"{lines:,.0f} lines/s ({limits.headroom:g} x {rate:,.0f} readings/s) and {series:,} series are past every"
        f" offered store: the ECS store's last size and one Timestream for InfluxDB instance"
        f" ({top.name}: < {top.lines_per_second:,} lines/s, {top.series:,} series); InfluxDB 3 clusters are not offered"
    )


def plan(limits: Limits, inputs: Inputs, devices: int, rate_per_device: float) -> Plan:
    """The deployment that carries `devices` devices each sending `rate_per_device` readings a second."""
    if devices < 1 or rate_per_device <= 0:
        raise Refused(
            f"a fleet needs at least one device and a positive rate, not {devices} at {rate_per_device}/s"
        )
    per_connection = limits.quota("iot_publishes_per_second_per_connection")
    if rate_per_device > per_connection:
        raise Refused(
            f"{rate_per_device:g} readings/s per device is past AWS IoT Core's {per_connection} publishes/s on one"
            " connection (not adjustable)"
        )
    rate = devices * rate_per_device
    design = rate * limits.headroom
    paths = {DIRECT: _direct(limits, inputs, rate), QUEUED: _queued(limits, inputs, rate)}
    store = size_store(limits, inputs, devices, rate)
    common = [
        _need(limits, "iot_inbound_publishes_per_second", design),
        _need(limits, "iot_concurrent_connections", devices),
    ]
    if store.managed is not None:
        common.append(_need(limits, "timestream_influxdb_instances", 1))
    unreserved = limits.quota("lambda_unreserved_minimum")
    per_concurrency = limits.quota("lambda_requests_per_second_per_concurrency")
    quotas = {
        DIRECT: [
            *common,
            _need(
                limits,
                "lambda_concurrent_executions",
                max(paths[DIRECT].concurrency + unreserved, design / per_concurrency),
            ),
        ],
        QUEUED: [
            *common,
            _need(limits, "lambda_concurrent_executions", paths[QUEUED].concurrency + unreserved),
            _need(limits, "sqs_in_flight_per_queue", paths[QUEUED].in_flight or 0),
        ],
    }
    return Plan(devices, rate_per_device, limits.headroom, paths, store, quotas)


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
    """One row per fleet and path: the sizes, the store and the quotas to raise."""
    rows = []
    for p in plans:
        for path in (DIRECT, QUEUED):
            one = p.paths[path]
            raises = [q for q in p.quotas[path] if q.raise_needed]
            rows.append(
                [
                    f"{p.devices:,} at {p.rate:g}/s",
                    path,
                    f"{one.concurrency:,}",
                    "-"
                    if one.batch_size is None
                    else f"{one.batch_size:,} ({one.per_invocation:,.0f} filled)",
                    "-" if one.event_source_concurrency is None else f"{one.event_source_concurrency:,}",
                    _store_cell(p.store),
                    ", ".join(f"{q.name} {q.default:,} -> {q.needed:,}" for q in raises) or "none",
                ]
            )
    return rows


TABLE_HEADER = [
    "fleet",
    "path",
    "ReservedConcurrency",
    "BatchSize",
    "event-source concurrency",
    "store",
    "quota increases (default -> needed)",
]


def render(plans: list[Plan], declared: Declared, thresholds_: list[Threshold], console: Console) -> None:
    """The table for the fleets; for a single fleet also its quotas with their sources and the deploy commands."""
    table = Table(title="The deployment that carries each fleet (make capacity; sizes include the headroom)")
    for i, column in enumerate(TABLE_HEADER):
        table.add_column(column, justify="left" if i < 2 else "right")
    for row in table_rows(plans):
        table.add_row(*row)
    console.print(table)
    for p in plans:
        console.print(
            f"{p.devices:,} devices at {p.rate:g}/s: {p.store.store} store, {p.store.lines_per_second:,.0f} lines/s and"
            f" {p.store.field_writes_per_second:,.0f} field writes/s with {p.headroom:g}x headroom, {p.store.series:,}"
            f" series: {p.store.why}"
        )
    if len(plans) != 1:
        console.print(
            "When to switch store (readings/s a store size is chosen up to, with the headroom taken off):"
        )
        for limit in thresholds_:
            console.print(
                f"  {limit.store}: up to {limit.readings_per_second:,.0f} readings/s and"
                f" {limit.devices_by_series:,} devices ({limit.bound_by})"
            )
        raised = {
            q.name: q.quota
            for p in plans
            for path in (DIRECT, QUEUED)
            for q in p.quotas[path]
            if q.raise_needed
        }
        for name, quota in raised.items():
            console.print(f"  {name}: {quota.unit}; source: {quota.source}")
        console.print(
            "One fleet's quotas and `make deploy` parameters: make capacity FLEET=<devices> RATE=<per device>"
        )
        return
    only = plans[0]
    for path in (DIRECT, QUEUED):
        console.print(f"[bold]{path}[/]")
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


@dataclass(frozen=True)
class Threshold:
    store: str  # the size or class
    readings_per_second: float  # the most it is chosen for (the headroom taken off)
    devices_by_series: int  # the most devices its series limit allows
    bound_by: str


def thresholds(limits: Limits, inputs: Inputs) -> list[Threshold]:
    """Where each offered store size stops, in readings a second of the fleet: when to switch store."""
    found = []
    for size in limits.ecs_store_sizes:
        band = limits.influxdb1_sizing.bands[size.band]
        per_core = inputs.store_points_per_core_second
        measured = (
            math.inf if per_core is None else per_core * size.cpu / 1024 * inputs.store_fields_per_point
        )
        field_writes = min(band.field_writes_per_second, measured)
        found.append(
            Threshold(
                f"ECS store, task {size.cpu / 1024:g} vCPU / {size.memory / 1024:g} GiB on {size.instance_type}",
                field_writes / inputs.fields_per_reading / limits.headroom,
                band.series // limits.series_per_device,
                "InfluxData's band"
                if field_writes == band.field_writes_per_second
                else "the measured ceiling",
            )
        )
    last = found[-1]
    for managed in limits.timestream_influxdb.classes:
        if managed.lines_per_second is None or managed.series is None:
            continue
        limit = Threshold(
            f"Timestream for InfluxDB {managed.name}",
            managed.lines_per_second / limits.headroom,
            managed.series // limits.series_per_device,
            "AWS's sizing table",
        )
        # A class the ECS store's last size outdoes on both counts is never chosen.
        if (
            limit.readings_per_second > last.readings_per_second
            or limit.devices_by_series > last.devices_by_series
        ):
            found.append(limit)
    return found
