"""The capacity model (`make capacity`): a fleet in, the deployment that carries it out, on each ingest path.

Every size is worked out for the fleet's mean rate times the headroom of benchmarks/limits.yaml:
- the function: concurrency = rate x the billed time of one invocation (the cost model's, from what `make bench`
  measured), never below the stack's default; on the queued path the batch size (the largest that fills within
  the batching window, fits Lambda's 6 MB event and keeps SQS's in-flight messages under its quota) and the event
  source mapping's maximum concurrency;
- the store, for what each path writes (one point a request on the direct path, its batch on the queued path):
  the ECS store's sizes (InfluxData's sizing bands), then Timestream for InfluxDB's classes (AWS's sizing table),
  each held to what its cores write by the bench's figure per core of influxd CPU; a path past both cannot carry
  the fleet, and a fleet no path carries is refused;
- on the stream path, the Kinesis stream's shards (provisioned: 1,000 records and 1 MiB a second each written) and
  the mapping's parallelization factor (concurrent batches per shard, 1-10), so that shards x factor batches keep
  up; the batch fills per lane (a shard's share of the rate over its factor);
- every AWS quota the deployment needs above its default, with its source (benchmarks/limits.yaml).

The arithmetic's inputs come from the cost model (benchmarks/cost.py passes them in): one model, not two.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from catalog.loader import load_yaml
from infrastructure.stacks import cluster, influxdb, ingest, ingest_stream

LIMITS = Path(__file__).with_name("limits.yaml")
DIRECT, QUEUED, STREAM = "direct", "queued", "stream"
MAX_PARALLELIZATION = 10  # ParallelizationFactor's range is 1-10 (AWS::Lambda::EventSourceMapping)
BATCH_SIZES = (5_000, 2_000, 1_000)  # tried largest first; InfluxData advises 5,000-10,000 lines a write
BYTES_PER_GIB = 2**30


class FrozenModel(BaseModel):
    """What the benchmarks read from their YAML and JSON files (limits, prices, measurements): read-only, and a
    key the model does not know fails the load (a misspelt one is never ignored)."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class Quota(FrozenModel):
    value: int
    adjustable: bool
    unit: str
    source: str


class Band(FrozenModel):
    field_writes_per_second: int
    series: int
    cores: str
    memory_gb: str
    iops: str


class Influx1Sizing(FrozenModel):
    source: str
    single_node_field_writes_per_second: int
    single_node_series: int
    bands: list[Band]
    note: str


class EcsSize(FrozenModel):
    band: int
    cpu: int  # task CPU units (1,024 a vCPU)
    memory: int  # task MiB
    instance_type: str
    instance_vcpu: int
    instance_memory_gib: int


class ManagedClass(FrozenModel):
    name: str
    vcpu: int
    memory_gib: int
    lines_per_second: int | None = None  # AWS's sizing table; a class without a row is not chosen
    series: int | None = None


class Timestream(FrozenModel):
    source: str
    storage_type: str
    storage_minimum_gib: int
    classes: list[ManagedClass]
    note: str


class Limits(FrozenModel):
    read: str
    region: str
    headroom: float
    quotas: dict[str, Quota]
    sqs_record_bytes: int
    kinesis_record_bytes: int  # one reading's record in a Kinesis event (base64 data and the envelope)
    stream_reading_bytes: int  # one reading as the rule puts it on the stream
    influxdb1_sizing: Influx1Sizing
    ecs_store_sizes: list[EcsSize]
    ecs_hosts: int
    series_per_device: int
    timestream_influxdb: Timestream

    def quota(self, name: str) -> int:
        return self.quotas[name].value


def load_limits(path: Path = LIMITS) -> Limits:
    return Limits.model_validate(load_yaml(path.read_text()))


@dataclass(frozen=True)
class Inputs:
    """What the capacity model takes from the cost model, the stacks' defaults and the bench."""

    billed_seconds: Callable[[bool, float], float]  # (queued, readings per invocation) -> billed seconds
    reserved_concurrency: int  # the ingest stack's default
    batch_size: int  # the ingest stack's default
    batch_window_seconds: float
    fields_per_reading: int  # the most fields a catalog kind writes per point
    store_points_per_core_second: float | None  # the bench: points/s per core of influxd CPU, 5,000 a request
    store_single_points_per_core_second: float | None  # the same at one point a request
    store_fields_per_point: int  # fields of the points those were measured with
    bytes_per_reading: float  # on the store's disk
    raw_retention_days: float

    def points_per_core(self, per_request: float) -> float:
        """influxd's points a second per core at `per_request` points a request: a line through the two
        measurements in CPU per point (a cost per point plus a cost per request shared by its points)."""
        batched, single = self.store_points_per_core_second, self.store_single_points_per_core_second
        if batched is None:
            return math.inf
        per_point = 1 / batched
        per_request_cpu = max(0.0, 1 / single - per_point) if single else 0.0
        return 1 / (per_point + per_request_cpu / max(1.0, per_request))


class Refused(Exception):
    """The fleet is beyond what the offered deployments carry; the message is the one-line reason."""


@dataclass(frozen=True)
class StorePlan:
    store: str  # influxdb.STORE_ECS or influxdb.STORE_MANAGED
    lines_per_second: float  # with headroom
    field_writes_per_second: float
    series: int
    points_per_request: float
    ecs: EcsSize | None
    managed: ManagedClass | None
    storage_gib: int  # the managed store's allocated storage (0 on the ECS store: EFS grows by itself)
    hosts: int
    instance_type: str
    why: str


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
    store: StorePlan | None = None  # sized for what this path writes (set by plan())
    shards: int | None = None  # the stream's provisioned shards (stream)
    parallelization: int | None = None  # concurrent batches per shard (stream)


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
    paths: dict[str, PathPlan]  # the paths that carry the fleet
    refused: dict[str, str]  # the paths that do not, with the reason
    quotas: dict[str, list[QuotaNeed]]  # by path: every quota checked

    @property
    def readings_per_second(self) -> float:
        return self.devices * self.rate

    def store(self, path: str) -> StorePlan:
        store = self.paths[path].store
        assert store is not None
        return store

    def overrides(self, path: str) -> dict[str, dict[str, str]]:
        """The parameter values of this deployment, per stack (names from the stack modules)."""
        plan, store = self.paths[path], self.store(path)
        ingest_values = {
            ingest.INGEST_PATH_PARAMETER: path,
            ingest.RESERVED_CONCURRENCY_PARAMETER: str(plan.concurrency),
        }
        if plan.batch_size is not None:
            ingest_values[ingest.BATCH_SIZE_PARAMETER] = str(plan.batch_size)
        if plan.event_source_concurrency is not None and plan.shards is None:
            ingest_values[ingest.QUEUE_MAXIMUM_CONCURRENCY_PARAMETER] = str(plan.event_source_concurrency)
        if plan.shards is not None and plan.parallelization is not None:
            ingest_values[ingest_stream.SHARD_COUNT_PARAMETER] = str(plan.shards)
            ingest_values[ingest_stream.PARALLELIZATION_PARAMETER] = str(plan.parallelization)
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


def _batched(
    path: str,
    inputs: Inputs,
    rate: float,
    per_invocation: float,
    batch_size: int,
    billed: float,
    batches: int,
) -> PathPlan:
    """A path whose event source hands the function batches, `batches` at a time (the queued and stream paths,
    which add what only they have)."""
    return PathPlan(
        path=path,
        per_invocation=per_invocation,
        batch_size=batch_size,
        billed_seconds=billed,
        invocations_per_second=rate / per_invocation,
        # Lambda advises a reserved concurrency no lower than the event source's maximum.
        concurrency=max(inputs.reserved_concurrency, batches),
        event_source_concurrency=batches,
        in_flight=None,
    )


def _queued_at(limits: Limits, inputs: Inputs, rate: float, batch_size: int) -> PathPlan:
    design = rate * limits.headroom
    per_invocation = max(1.0, min(float(batch_size), rate * inputs.batch_window_seconds))
    billed = inputs.billed_seconds(True, per_invocation)
    fill_seconds = per_invocation / rate if rate else inputs.batch_window_seconds
    needed = math.ceil(design / per_invocation * billed)
    event_source = max(2, needed)  # MaximumConcurrency takes 2-1000
    # Little's law: each message waits for its batch to fill, then for the invocation.
    in_flight = design * (fill_seconds + billed)
    plan = _batched(QUEUED, inputs, rate, per_invocation, batch_size, billed, event_source)
    return replace(plan, in_flight=in_flight)


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
            f"{plan.event_source_concurrency:,} concurrent batches are past the event source mapping's maximum"
            f" of {limits.quota('sqs_event_source_maximum_concurrency'):,}"
        )
    return plan


def _stream_at(limits: Limits, inputs: Inputs, rate: float, batch_size: int, shards: int) -> PathPlan:
    """The stream path with `shards` shards: the factor that lets shards x factor concurrent batches keep up (a
    lane's batch fills from its share of the rate), more shards when ten a shard are not enough."""
    design = rate * limits.headroom
    factor = 1
    for _ in range(2 * MAX_PARALLELIZATION):  # a few rounds: smaller batches per lane need more lanes
        lanes = shards * factor
        per_invocation = max(1.0, min(float(batch_size), rate / lanes * inputs.batch_window_seconds))
        billed = inputs.billed_seconds(True, per_invocation)
        needed = math.ceil(design / per_invocation * billed)
        if needed <= lanes:
            break
        if factor < MAX_PARALLELIZATION:
            factor = min(MAX_PARALLELIZATION, math.ceil(needed / shards))
        else:
            shards = math.ceil(needed / MAX_PARALLELIZATION)
    lanes = shards * factor  # one batch at a time per lane
    plan = _batched(STREAM, inputs, rate, per_invocation, batch_size, billed, lanes)
    return replace(plan, shards=shards, parallelization=factor)


def stream_shards(limits: Limits, rate: float) -> int:
    """Provisioned shards for `rate` readings a second with the headroom: each writes 1,000 records and 1 MiB a
    second, whichever the readings reach first."""
    design = rate * limits.headroom
    by_records = design / limits.quota("kinesis_shard_write_records_per_second")
    by_bytes = design * limits.stream_reading_bytes / limits.quota("kinesis_shard_write_bytes_per_second")
    return max(1, math.ceil(max(by_records, by_bytes)))


def _stream(limits: Limits, inputs: Inputs, rate: float) -> PathPlan:
    """The largest batch that fills within the window in a lane and fits one event, on the shards the rate needs."""
    fits = limits.quota("lambda_invocation_payload_bytes") // limits.kinesis_record_bytes
    shards = stream_shards(limits, rate)
    fills = rate / shards * inputs.batch_window_seconds
    choices = [
        b
        for b in BATCH_SIZES
        if b <= fits
        and b <= limits.quota("kinesis_event_source_batch_size")
        and (b <= fills or b == min(BATCH_SIZES))
    ]
    size = max([b for b in choices if b >= inputs.batch_size] or [inputs.batch_size])
    plan = _stream_at(limits, inputs, rate, min(size, fits), shards)
    if (plan.shards or 0) > limits.quota("kinesis_shards_per_account"):
        raise Refused(
            f"{plan.shards:,} shards are past the account's {limits.quota('kinesis_shards_per_account'):,}"
        )
    return plan


def _storage_gib(limits: Limits, inputs: Inputs, rate: float) -> int:
    stored = rate * limits.headroom * inputs.raw_retention_days * 86_400 * inputs.bytes_per_reading
    return max(limits.timestream_influxdb.storage_minimum_gib, math.ceil(stored / BYTES_PER_GIB))


def _measured_field_writes(inputs: Inputs, vcpu: float, per_request: float) -> float:
    """Field writes a second `vcpu` cores of influxd carry at `per_request` points a request, by the bench."""
    return inputs.points_per_core(per_request) * vcpu * inputs.store_fields_per_point


def size_store(limits: Limits, inputs: Inputs, devices: int, rate: float, per_request: float) -> StorePlan:
    """The smallest offered store that carries `rate` readings a second written `per_request` points a request:
    the lower of InfluxData's (or AWS's) sizing figure and what the bench measured per core of influxd."""
    lines = rate * limits.headroom
    field_writes = lines * inputs.fields_per_reading
    series = devices * limits.series_per_device
    for size in limits.ecs_store_sizes:
        band = limits.influxdb1_sizing.bands[size.band]
        measured = _measured_field_writes(inputs, size.cpu / 1024, per_request)
        if field_writes <= min(band.field_writes_per_second, measured) and series <= band.series:
            return StorePlan(
                store=influxdb.STORE_ECS,
                lines_per_second=lines,
                field_writes_per_second=field_writes,
                series=series,
                points_per_request=per_request,
                ecs=size,
                managed=None,
                storage_gib=0,
                hosts=limits.ecs_hosts,
                instance_type=size.instance_type,
                why=f"under {band.field_writes_per_second:,} field writes/s and {band.series:,} series"
                f" (InfluxData's band of {band.cores} cores, {band.memory_gb} GB) and under the"
                f" {measured:,.0f} its {size.cpu / 1024:g} vCPU write at {per_request:,.0f} point(s) a request",
            )
    for managed in limits.timestream_influxdb.classes:
        if managed.lines_per_second is None or managed.series is None:
            continue
        measured = _measured_field_writes(inputs, managed.vcpu, per_request)
        if lines <= managed.lines_per_second and field_writes <= measured and series <= managed.series:
            return StorePlan(
                store=influxdb.STORE_MANAGED,
                lines_per_second=lines,
                field_writes_per_second=field_writes,
                series=series,
                points_per_request=per_request,
                ecs=None,
                managed=managed,
                storage_gib=_storage_gib(limits, inputs, rate),
                hosts=limits.ecs_hosts,  # Grafana and Chronograf, still in two zones
                instance_type=limits.ecs_store_sizes[0].instance_type,
                why=f"past the ECS store's last size; {managed.name} carries ~{managed.lines_per_second:,}"
                f" lines/s and {managed.series:,} series (AWS's sizing table), and its {managed.vcpu} vCPU write"
                f" {measured:,.0f} field writes/s at {per_request:,.0f} point(s) a request (the bench, per core)",
            )
    top = max(
        (c for c in limits.timestream_influxdb.classes if c.lines_per_second),
        key=lambda c: c.lines_per_second or 0,
    )
    raise Refused(
        f"{lines:,.0f} lines/s ({limits.headroom:g} x {rate:,.0f} readings/s) at {per_request:,.0f} a request and"
        f" {series:,} series are past every offered store: the ECS store's last size and one Timestream for"
        f" InfluxDB instance ({top.name}: < {top.lines_per_second:,} lines/s, {top.series:,} series,"
        f" {_measured_field_writes(inputs, top.vcpu, per_request) / inputs.fields_per_reading:,.0f} lines/s by"
        " the bench's figure per core); InfluxDB 3 clusters are not offered"
    )


def plan(limits: Limits, inputs: Inputs, devices: int, rate_per_device: float) -> Plan:
    """The deployment that carries `devices` devices each sending `rate_per_device` readings a second, on each
    path that can; Refused (with every path's reason, in one line) when neither can."""
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
    unreserved = limits.quota("lambda_unreserved_minimum")
    per_concurrency = limits.quota("lambda_requests_per_second_per_concurrency")
    paths: dict[str, PathPlan] = {}
    refused: dict[str, str] = {}
    quotas: dict[str, list[QuotaNeed]] = {}
    for name, size in ((DIRECT, _direct), (QUEUED, _queued), (STREAM, _stream)):
        try:
            one = size(limits, inputs, rate)
            one = replace(one, store=size_store(limits, inputs, devices, rate, one.per_invocation))
        except Refused as reason:
            refused[name] = str(reason)
            continue
        paths[name] = one
        needs = [
            _need(limits, "iot_inbound_publishes_per_second", design),
            _need(limits, "iot_concurrent_connections", devices),
            # Every invocation is a request: Lambda caps them at 10 a second per unit of the account's quota.
            _need(
                limits,
                "lambda_concurrent_executions",
                max(one.concurrency + unreserved, design / one.per_invocation / per_concurrency),
            ),
        ]
        if one.in_flight is not None:
            needs.append(_need(limits, "sqs_in_flight_per_queue", one.in_flight))
        if one.shards is not None:
            needs.append(_need(limits, "kinesis_shards_per_account", one.shards))
        if one.store is not None and one.store.managed is not None:
            needs.append(_need(limits, "timestream_influxdb_instances", 1))
        quotas[name] = needs
    if not paths:
        raise Refused("; ".join(f"{name}: {reason}" for name, reason in refused.items()))
    return Plan(devices, rate_per_device, limits.headroom, paths, refused, quotas)


@dataclass(frozen=True)
class Threshold:
    """Where one store size stops, in readings a second of the fleet with the headroom taken off."""

    store: str  # the size or class
    direct: float  # one point a request
    queued: float  # QUEUED_POINTS_PER_REQUEST a request
    devices_by_series: int  # the most devices its series limit allows
    direct_bound_by: str
    queued_bound_by: str


QUEUED_POINTS_PER_REQUEST = BATCH_SIZES[0]  # the thresholds' queued column: full batches


def _threshold(
    limits: Limits, inputs: Inputs, store: str, vcpu: float, sizing: float, series: int, source: str
) -> Threshold:
    """`sizing`: the field writes a second InfluxData's band (or AWS's table, in lines) allows."""
    found: dict[float, tuple[float, str]] = {}
    for per_request in (1.0, float(QUEUED_POINTS_PER_REQUEST)):
        measured = _measured_field_writes(inputs, vcpu, per_request)
        bound = min(sizing, measured)
        found[per_request] = (
            bound / inputs.fields_per_reading / limits.headroom,
            source if bound == sizing else "the bench's figure per core",
        )
    (direct, direct_by), (queued, queued_by) = found.values()
    return Threshold(store, direct, queued, series // limits.series_per_device, direct_by, queued_by)


def thresholds(limits: Limits, inputs: Inputs) -> list[Threshold]:
    """Where each offered store size stops on each path: when to switch store."""
    found = []
    for size in limits.ecs_store_sizes:
        band = limits.influxdb1_sizing.bands[size.band]
        found.append(
            _threshold(
                limits,
                inputs,
                f"ECS store, task {size.cpu / 1024:g} vCPU / {size.memory / 1024:g} GiB on {size.instance_type}",
                size.cpu / 1024,
                band.field_writes_per_second,
                band.series,
                "InfluxData's band",
            )
        )
    last = found[-1]
    for managed in limits.timestream_influxdb.classes:
        if managed.lines_per_second is None or managed.series is None:
            continue
        limit = _threshold(
            limits,
            inputs,
            f"Timestream for InfluxDB {managed.name}",
            managed.vcpu,
            managed.lines_per_second * inputs.fields_per_reading,
            managed.series,
            "AWS's sizing table",
        )
        # A class the ECS store's last size outdoes on every count is never chosen.
        if (limit.direct, limit.queued, limit.devices_by_series) > (0, 0, 0) and (
            limit.direct > last.direct
            or limit.queued > last.queued
            or limit.devices_by_series > last.devices_by_series
        ):
            found.append(limit)
    return found
