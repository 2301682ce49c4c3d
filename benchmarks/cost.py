"""`python -m benchmarks.cost` (`make cost`): what the pipeline costs per million readings and per month.

Inputs, each from one place: the prices (benchmarks/prices.yaml, with the date they were read), the stacks'
own defaults and resources (the templates `make synth` writes: memory, batch size, NAT gateways, hosts, ...),
and the handler's time per invocation measured by `make bench` (benchmarks/measured.json, refreshed from
build/bench/results.json with `--update-measured`). `--write-doc` writes docs/cost.md from the same numbers.

Lambda's duration on AWS is modelled from the bench: the CPU time of an invocation, scaled by the share of a
vCPU the function's memory buys (a full one at 1,769 MB), plus the time it waits on InfluxDB, billed per ms.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from benchmarks import capacity, capacity_report, platform_logs
from catalog.loader import PROJECT_ROOT, load_yaml
from infrastructure.stacks.influxdb import STORE_ECS, STORE_MANAGED
from infrastructure.stacks.relational import MAX_CAPACITIES

ROOT = PROJECT_ROOT
PRICES = Path(__file__).with_name("prices.yaml")
MEASURED = Path(__file__).with_name("measured.json")
RESULTS = ROOT / "build" / "bench" / "results.json"
DOC = ROOT / "docs" / "cost.md"
INFLUX_INIT = ROOT / "services" / "influxdb" / "init-influxdb.sh"
SECONDS_PER_HOUR = 3600
FLEETS = (20, 1_000, 10_000, 100_000)  # devices, one reading a second each
PER_MILLION_FLEET = 1_000  # the fleet the per-million table is worked out for
RULES_FLOOR = (
    "IoT Core rules and actions"  # what every rule-based pipeline pays per reading, ours or IoT Core's own
)
MESSAGES = "IoT Core messages"
# IoT Core's own InfluxDB rule action: writes line protocol to an InfluxDB V2 or V3 store (Timestream for
# InfluxDB), batching, with no validation and no enrichment; priced as a rule and an action a message, the store
# apart (https://docs.aws.amazon.com/iot/latest/developerguide/influxdb-rule-action.html).
NATIVE_ACTION = "IoT Core's influxDB action (V2/V3 store)"
SQS_RECEIVE_MAX = 10  # messages per ReceiveMessage and per DeleteMessageBatch
EMF_METRICS_PER_KIND = 1  # ReadingsWritten, per kind
EMF_METRICS_FIXED = 4  # ReadingsFailed, MetadataMisses, MetadataAttributesDropped, WriteLatency (handler.py)
EC2_HOUR = "ec2_instance_hour."  # + the instance type: prices.yaml prices each type the model may choose
TIMESTREAM_HOUR = "timestream_influxdb_hour."  # + the class
TIMESTREAM_STORAGE = "timestream_influxdb_storage_gb_month"


class Price(capacity.FrozenModel):
    usd: float
    unit: str
    source: str
    tiers: list[tuple[float | None, float]] | None = (
        None  # (millions a month in this tier or None: the rest, usd)
    )

    def for_millions(self, millions_a_month: float) -> float:
        """The average price per million when `millions_a_month` are used in a month."""
        if not self.tiers or millions_a_month <= 0:
            return self.usd
        left, total = millions_a_month, 0.0
        for size, usd in self.tiers:
            used = left if size is None else min(left, size)
            total, left = total + used * usd, left - used
            if left <= 0:
                break
        return total / millions_a_month


class Assumptions(capacity.FrozenModel):
    lambda_full_vcpu_mb: int
    influxdb_bytes_per_reading: float
    efs_base_gb: float
    devices_per_metadata_item: int
    sql_rows_per_reading: int
    sql_request_bytes_per_row: float
    sql_stored_bytes_per_row: float
    sql_rows_per_acu_second: float


class PriceList(capacity.FrozenModel):
    region: str
    read: str
    hours_per_month: int
    prices: dict[str, Price]
    assumptions: Assumptions

    def usd(self, name: str) -> float:
        return self.prices[name].usd


class HandlerTiming(capacity.FrozenModel):
    """One handler case of `make bench`: wall and CPU seconds per invocation, bytes logged per invocation."""

    readings_per_invocation: int
    seconds_per_invocation: float
    cpu_seconds_per_invocation: float
    log_bytes_per_invocation: int


class StoreCeiling(capacity.FrozenModel):
    """`make bench`'s store case: what one core of influxd CPU writes, in points a second."""

    points_per_core_second: float
    single_point_per_core_second: float | None = None  # one point a request, as the direct path writes
    fields_per_point: int
    points_per_second: float  # on the bench's machine, the writer sharing its cores
    measured: str


class Measured(capacity.FrozenModel):
    measured: str  # when the bench ran
    machine: str
    direct: HandlerTiming
    queued: list[HandlerTiming]  # by batch size
    store: StoreCeiling | None = None


@dataclass(frozen=True)
class Stacks:
    """What the templates say, at their defaults."""

    memory_mb: int
    batch_size: int
    batch_window_seconds: float
    cache_ttl_seconds: float
    reserved_concurrency: int
    architecture: str
    instance_type: str
    hosts: int
    resources: Counter[str]
    kinds: int
    raw_retention_days: float
    fields_per_reading: int  # the most fields one catalog kind writes in a point
    waf_rules: int = 0  # in the web ACLs, on by default (the edge stack's Waf parameter)
    # The store: the influxdb stack's default, or what the capacity model chose (Model.sized).
    store: str = STORE_ECS
    managed_class: str | None = None
    managed_storage_gib: int = 0
    # Lambda's own lines a successful invocation sends under the function's log settings (LoggingConfig).
    platform_log_bytes: int = 0
    # The stream path's stream as the capacity model sized it (0 shards: on demand) and its lanes.
    stream_shards: int = 0
    stream_parallelization: int = 1


def load_prices(path: Path = PRICES) -> PriceList:
    return PriceList.model_validate(load_yaml(path.read_text()))


def load_measured(path: Path = MEASURED) -> Measured:
    return Measured.model_validate_json(path.read_text())


def _default(template: Any, name: str) -> Any:
    return template.parameters[name].properties["Default"]


def _raw_retention_days(script: Path = INFLUX_INIT) -> float:
    match = re.search(r"INFLUXDB_RAW_RETENTION:=(\d+)([dhw])", script.read_text())
    if not match:
        raise ValueError(f"{script} sets no default INFLUXDB_RAW_RETENTION")
    return int(match.group(1)) * {"h": 1 / 24, "d": 1, "w": 7}[match.group(2)]


def read_stacks() -> Stacks:
    from catalog import load_catalog
    from infrastructure.registry import all_stacks
    from infrastructure.stacks.influxdb import IS_MANAGED_STORE

    stacks = all_stacks()
    built = {name: stack.build() for name, stack in stacks.items()}  # once each: most of the time here
    resources: Counter[str] = Counter()
    for name, stack in stacks.items():
        if stack.left_out_when is not None and stack.left_out_now():
            continue  # not deployed for this catalog (the relational stack without a SQL kind): sql_sink prices it
        # At the default store (Store=ecs): the managed store's resources are the capacity model's to price.
        resources.update(
            r.resource_type
            for r in built[name].resources.values()
            if getattr(r, "Condition", None) != IS_MANAGED_STORE
        )
    ingest, cluster = built["ingest"], built["cluster"]
    functions = [r for r in ingest.resources.values() if r.resource_type == "AWS::Lambda::Function"]
    return Stacks(
        memory_mb=int(_default(ingest, "MemorySize")),
        batch_size=int(_default(ingest, "BatchSize")),
        batch_window_seconds=float(_default(ingest, "BatchWindowSeconds")),
        cache_ttl_seconds=float(_default(ingest, "MetadataCacheTtlSeconds")),
        reserved_concurrency=int(_default(ingest, "ReservedConcurrency")),
        architecture=str(functions[0].properties.get("Architectures", ["x86_64"])[0]),
        instance_type=str(_default(cluster, "InstanceType")),
        hosts=int(_default(cluster, "DesiredCapacity")),
        resources=resources,
        kinds=len(load_catalog().kinds),
        waf_rules=sum(
            len(r.properties.get("Rules", []))
            for template in built.values()
            for r in template.resources.values()
            if r.resource_type == "AWS::WAFv2::WebACL"
        ),
        raw_retention_days=_raw_retention_days(),
        fields_per_reading=max(len(kind.fields) for kind in load_catalog()),
        platform_log_bytes=_platform_log_bytes(ingest, functions[0]),
    )


def _platform_log_bytes(ingest: Any, function: Any) -> int:
    """Lambda's own lines per successful invocation at the ingest function's log format and system level."""
    config = function.properties["LoggingConfig"].to_dict()
    level = config.get("SystemLogLevel", "INFO")
    if isinstance(level, dict):  # a Ref to the stack's parameter: its default
        level = _default(ingest, level["Ref"])
    return platform_logs.bytes_per_invocation(config.get("LogFormat", "Text"), str(level))


@dataclass(frozen=True)
class Route:
    name: str
    queued: bool  # batched: the queued or the stream path
    basic_ingest: bool  # devices publish to $aws/rules/<rule>: no messaging charge
    stream: bool = False  # through the Kinesis stream, not the SQS queue

    @property
    def path(self) -> str:
        return capacity.STREAM if self.stream else capacity.QUEUED if self.queued else capacity.DIRECT


PATHS = (
    Route("direct", False, False),
    Route("queued", True, False),
    Route("direct, Basic Ingest", False, True),
    Route("queued, Basic Ingest", True, True),
    Route("stream", True, False, stream=True),
    Route("stream, Basic Ingest", True, True, stream=True),
)
KB = 1024


class Model:
    """The arithmetic: every figure in US dollars, for `devices` devices at one reading a second."""

    def __init__(
        self, prices: PriceList, stacks: Stacks, measured: Measured, limits: capacity.Limits | None = None
    ) -> None:
        self.prices, self.stacks, self.measured = prices, stacks, measured
        self.limits = limits or capacity.load_limits()
        if stacks.architecture != "arm64":
            raise ValueError(
                f"the function runs on {stacks.architecture}: prices.yaml prices arm64 GB-seconds"
            )
        self.instance_hour(stacks.instance_type)

    def instance_hour(self, instance_type: str) -> float:
        key = f"{EC2_HOUR}{instance_type}"
        if key not in self.prices.prices:
            raise ValueError(f"the cluster runs {instance_type}: prices.yaml has no {key}")
        return self.prices.usd(key)

    def optional(self, key: str) -> float:
        """A price prices.yaml may not have (NaN: unpriced, shown as such, never guessed)."""
        return self.prices.usd(key) if key in self.prices.prices else math.nan

    # -- the capacity model's inputs, and the deployment it chose -----------------------------------------
    def capacity_inputs(self) -> capacity.Inputs:
        s, store = self.stacks, self.measured.store
        return capacity.Inputs(
            billed_seconds=lambda queued, per: self.billed_seconds(PATHS[1] if queued else PATHS[0], per),
            reserved_concurrency=s.reserved_concurrency,
            batch_size=s.batch_size,
            batch_window_seconds=s.batch_window_seconds,
            fields_per_reading=s.fields_per_reading,
            store_points_per_core_second=store.points_per_core_second if store else None,
            store_single_points_per_core_second=store.single_point_per_core_second if store else None,
            store_fields_per_point=store.fields_per_point if store else s.fields_per_reading,
            bytes_per_reading=self.prices.assumptions.influxdb_bytes_per_reading,
            raw_retention_days=s.raw_retention_days,
        )

    def plan(self, devices: int, rate: float = 1.0) -> capacity.Plan:
        return capacity.plan(self.limits, self.capacity_inputs(), devices, rate)

    def sized(self, plan: capacity.Plan, path: str) -> Model:
        """This model on the deployment `plan` chose for `path` instead of the stacks' defaults."""
        one, store = plan.paths[path], plan.store(path)
        stacks = replace(
            self.stacks,
            reserved_concurrency=one.concurrency,
            batch_size=one.batch_size or self.stacks.batch_size,
            hosts=store.hosts,
            instance_type=store.instance_type,
            store=store.store,
            managed_class=store.managed.name if store.managed else None,
            managed_storage_gib=store.storage_gib,
            stream_shards=one.shards or 0,
            stream_parallelization=one.parallelization or 1,
        )
        return Model(self.prices, stacks, self.measured, self.limits)

    def for_fleet(self, route: Route, devices: int) -> Model | None:
        """This model on the deployment chosen for the fleet and the route's path; None if the path cannot
        carry the fleet (make capacity says why)."""
        path = route.path
        chosen = self.plan(devices)
        return self.sized(chosen, path) if path in chosen.paths else None

    def fleet(self, route: Route, devices: int) -> Model:
        sized = self.for_fleet(route, devices)
        if sized is None:
            raise capacity.Refused(
                f"the {route.name} path cannot carry {devices:,} devices: see make capacity"
            )
        return sized

    @property
    def seconds_per_month(self) -> float:
        return self.prices.hours_per_month * SECONDS_PER_HOUR

    def readings_per_batch(self, devices: int, stream: bool = False) -> float:
        """The event source mapping fills a batch up to BatchSize or for the batching window, whichever first; on
        the stream path each lane (a shard's share over the parallelization factor) fills its own."""
        lanes = max(1, self.stacks.stream_shards) * self.stacks.stream_parallelization if stream else 1
        return max(
            1.0, min(float(self.stacks.batch_size), devices / lanes * self.stacks.batch_window_seconds)
        )

    def kinesis_per_million(self, devices: int) -> float:
        """The stream for a million readings: provisioned, its shard-hours spread over the month's readings and a
        PUT payload unit a reading; on demand (no shards sized), the stream-hour and each reading's KB in and out."""
        p, readings = self.prices, devices * self.seconds_per_month
        units = math.ceil(self.limits.stream_reading_bytes / (25 * KB))
        if self.stacks.stream_shards:
            hours = self.stacks.stream_shards * p.hours_per_month * p.usd("kinesis_shard_hour")
            return hours / readings * 1e6 + units * p.usd("kinesis_put_payload_unit_per_million")
        gb = math.ceil(self.limits.stream_reading_bytes / KB) * KB / 1e9 * 1e6
        stream_hours = p.hours_per_month * p.usd("kinesis_on_demand_stream_hour") / readings * 1e6
        return stream_hours + gb * (p.usd("kinesis_on_demand_gb_in") + p.usd("kinesis_on_demand_gb_out"))

    def _timing(self, path: Route, per_invocation: float) -> tuple[float, float]:
        """(wall, CPU) seconds of one invocation carrying `per_invocation` readings, from the bench."""
        if not path.queued:
            return (
                self.measured.direct.seconds_per_invocation,
                self.measured.direct.cpu_seconds_per_invocation,
            )
        cases = sorted(self.measured.queued, key=lambda t: t.readings_per_invocation)
        small, large = cases[0], cases[-1]  # a straight line through the smallest and largest batches
        span = large.readings_per_invocation - small.readings_per_invocation

        def line(a: float, b: float) -> float:
            slope = (b - a) / span if span else 0.0
            return max(0.0, a + slope * (per_invocation - small.readings_per_invocation))

        return (
            line(small.seconds_per_invocation, large.seconds_per_invocation),
            line(small.cpu_seconds_per_invocation, large.cpu_seconds_per_invocation),
        )

    def billed_seconds(self, path: Route, per_invocation: float) -> float:
        """Lambda's billed duration: CPU time at the memory's share of a vCPU, plus the wait, per whole ms."""
        wall, cpu = self._timing(path, per_invocation)
        share = min(1.0, self.stacks.memory_mb / self.prices.assumptions.lambda_full_vcpu_mb)
        return math.ceil(round((cpu / share + max(0.0, wall - cpu)) * 1000, 6)) / 1000  # round: float noise

    def per_million(self, path: Route, devices: int) -> dict[str, float]:
        """The per-reading charges, for a million readings from a fleet of `devices`."""
        p, n = self.prices, 1_000_000
        per_invocation = self.readings_per_batch(devices, path.stream) if path.queued else 1.0
        invocations = n / per_invocation
        billed = self.billed_seconds(path, per_invocation)
        timing = (
            self.measured.direct
            if not path.queued
            else max(self.measured.queued, key=lambda t: t.readings_per_invocation)
        )
        log_bytes = timing.log_bytes_per_invocation + self.stacks.platform_log_bytes
        sqs_per_reading = 1 + 2 / SQS_RECEIVE_MAX if path.queued and not path.stream else 0.0
        sqs_requests = n * sqs_per_reading  # send; receive and delete batches
        rate = float(devices)  # readings a second
        # SQS's tiers: the month's requests at this fleet's rate set the average price of each.
        sqs_month = rate * self.seconds_per_month * sqs_per_reading / 1e6
        concurrency = min(self.stacks.reserved_concurrency, max(1, math.ceil(rate / per_invocation * billed)))
        items = math.ceil(devices / p.assumptions.devices_per_metadata_item)
        reads_per_second = (
            concurrency * items / self.stacks.cache_ttl_seconds
        )  # each container, each item, per TTL
        read_units = reads_per_second * (n / rate) * 0.5  # eventually consistent, items under 4 KB
        return {
            MESSAGES: 0.0
            if path.basic_ingest
            else n
            / 1e6
            * p.prices["iot_message_per_million"].for_millions(rate * self.seconds_per_month / 1e6),
            RULES_FLOOR: n
            / 1e6
            * (p.usd("iot_rule_triggered_per_million") + p.usd("iot_action_per_million")),
            "SQS requests": sqs_requests / 1e6 * p.prices["sqs_request_per_million"].for_millions(sqs_month),
            "Kinesis stream": self.kinesis_per_million(devices) if path.stream else 0.0,
            "Lambda requests": invocations / 1e6 * p.usd("lambda_request_per_million"),
            "Lambda duration": invocations
            * billed
            * self.stacks.memory_mb
            / 1024
            * p.usd("lambda_gb_second_arm64"),
            "DynamoDB reads (cached)": read_units / 1e6 * p.usd("dynamodb_read_request_unit_per_million"),
            "CloudWatch logs": invocations * log_bytes / 1e9 * p.usd("cloudwatch_log_ingestion_per_gb"),
        }

    def fixed_per_month(self, devices: int) -> dict[str, float]:
        p, s, hours = self.prices, self.stacks, self.prices.hours_per_month
        readings = devices * self.seconds_per_month
        on_efs = s.store == STORE_ECS  # the managed store keeps its points on its own storage
        stored_gb = p.assumptions.efs_base_gb + on_efs * (
            readings * (s.raw_retention_days * 24 / hours) * p.assumptions.influxdb_bytes_per_reading / 1e9
        )
        metrics = s.kinds * EMF_METRICS_PER_KIND + EMF_METRICS_FIXED
        store: dict[str, float] = {}
        if s.store == STORE_MANAGED:
            store = {
                f"Timestream for InfluxDB ({s.managed_class})": hours
                * self.optional(f"{TIMESTREAM_HOUR}{s.managed_class}"),
                f"Timestream for InfluxDB storage ({s.managed_storage_gib:,} GiB)": s.managed_storage_gib
                * self.optional(TIMESTREAM_STORAGE),
            }
        return {
            "NAT gateways": s.resources["AWS::EC2::NatGateway"] * hours * p.usd("nat_gateway_hour"),
            f"ECS hosts ({s.hosts} x {s.instance_type})": s.hosts
            * hours
            * self.instance_hour(s.instance_type),
            **store,
            "Application Load Balancer": s.resources["AWS::ElasticLoadBalancingV2::LoadBalancer"]
            * hours
            * (p.usd("alb_hour") + p.usd("alb_lcu_hour")),
            "EFS (InfluxDB's raw retention and the apps)" if on_efs else "EFS (the apps)": stored_gb
            * p.usd("efs_gb_month"),
            "Secrets Manager": s.resources["AWS::SecretsManager::Secret"] * p.usd("secret_per_month"),
            "KMS keys": s.resources["AWS::KMS::Key"] * p.usd("kms_key_per_month"),
            "CloudWatch metrics and alarms": metrics * p.usd("cloudwatch_metric_per_month")
            + s.resources["AWS::CloudWatch::Alarm"] * p.usd("cloudwatch_alarm_per_month"),
            "WAF web ACL (Waf=enabled, the default)": s.resources["AWS::WAFv2::WebACL"]
            * p.usd("waf_web_acl_per_month")
            + s.waf_rules * p.usd("waf_rule_per_month"),
            "CloudFront (a small team's viewing)": 0.0,
        }

    def per_month(self, path: Route, devices: int) -> dict[str, float]:
        """Per-reading charges for the month's readings, and the fixed part ("unpriced": how many of its
        parts prices.yaml has no price for; they are left out of the sums)."""
        millions = devices * self.seconds_per_month / 1e6
        variable = sum(self.per_million(path, devices).values()) * millions
        parts = self.fixed_per_month(devices).values()
        fixed = sum(v for v in parts if not math.isnan(v))
        unpriced = sum(math.isnan(v) for v in parts)
        return {"readings": variable, "fixed": fixed, "total": variable + fixed, "unpriced": unpriced}


def native_action_per_million(model: Model, devices: int, basic_ingest: bool) -> dict[str, float]:
    """IoT Core's own InfluxDB action for a million readings: the messages (none with Basic Ingest) and the rule
    and its action; no function, queue or logs (and none of their checks)."""
    parts = model.per_million(PATHS[2] if basic_ingest else PATHS[0], devices)
    return {MESSAGES: parts[MESSAGES], RULES_FLOOR: parts[RULES_FLOOR]}


def largest_fleet_rows(model: Model) -> list[list[str]]:
    """Per million readings at the largest fleet, everything on the data path (the store priced apart, the same
    for every row), and its ratio to the rules-and-actions floor; IoT Core's own InfluxDB action beside it."""
    fleet = FLEETS[-1]
    rows: list[list[str]] = []
    totals: list[tuple[str, float | None]] = []
    for path in PATHS:
        sized = model.for_fleet(path, fleet)
        totals.append((path.name, None if sized is None else sum(sized.per_million(path, fleet).values())))
    for basic in (False, True):
        name = NATIVE_ACTION + (", Basic Ingest" if basic else "")
        totals.append((name, sum(native_action_per_million(model, fleet, basic).values())))
    floor = model.per_million(PATHS[0], fleet)[RULES_FLOOR]
    for name, total in totals:
        rows.append(
            [name, "cannot carry it", "-"] if total is None else [name, _usd(total), f"{total / floor:.2f} x"]
        )
    return rows


def _usd(value: float) -> str:
    if math.isnan(value):
        return "unpriced"
    if value == 0:
        return "-"
    if value < 0.01:
        return "< $0.01"
    return f"${value:,.2f}" if value < 1_000 else f"${value:,.0f}"


def _month_cell(model: Model, path: Route, devices: int) -> str:
    sized = model.for_fleet(path, devices)
    if sized is None:
        return "cannot carry it"
    month = sized.per_month(path, devices)
    return _usd(month["total"]) + (" + unpriced store" if month["unpriced"] else "")


def _sum(values: list[float]) -> str:
    priced = [v for v in values if not math.isnan(v)]
    return _usd(sum(priced)) + (" + unpriced" if len(priced) < len(values) else "")


def tables(model: Model) -> list[tuple[str, list[str], list[list[str]]]]:
    """(title, header, rows) of every table the command prints and the doc shows: each fleet priced on the
    deployment the capacity model chose for it and the path."""
    fleet = PER_MILLION_FLEET
    per_million = {path.name: model.fleet(path, fleet).per_million(path, fleet) for path in PATHS}
    parts = list(per_million[PATHS[0].name])
    rows = [[part, *(_usd(per_million[p.name][part]) for p in PATHS)] for part in parts]
    rows.append(["**total**", *(f"**{_usd(sum(per_million[p.name].values()))}**" for p in PATHS)])
    month = [[f"{devices:,}", *(_month_cell(model, p, devices) for p in PATHS)] for devices in FLEETS]
    deployments = capacity_report.table_rows([model.plan(devices) for devices in FLEETS])
    fixed = model.fleet(PATHS[0], fleet).fixed_per_month(fleet)
    fixed_rows = [[name, _usd(value)] for name, value in fixed.items()]
    fixed_rows.append(["**total**", f"**{_sum(list(fixed.values()))}**"])
    names = [p.name for p in PATHS]
    return [
        (f"Per million readings ({fleet:,} devices at one reading a second)", ["part", *names], rows),
        ("Per month, everything (devices at one reading a second)", ["devices", *names], month),
        (
            "The deployment each fleet is priced on (`make capacity`)",
            capacity_report.TABLE_HEADER,
            deployments,
        ),
        (f"The fixed part, per month ({fleet:,} devices)", ["part", "per month"], fixed_rows),
        (
            f"Per million readings at {FLEETS[-1]:,} devices, beside IoT Core's own InfluxDB action",
            ["path", "data path, per million (the store apart)", "x the rules-and-actions floor"],
            largest_fleet_rows(model),
        ),
    ]


def markdown(model: Model) -> str:
    p, s, m = model.prices, model.stacks, model.measured
    lines = [
        "# What it costs",
        "",
        "<!-- Generated by `make cost` (python -m benchmarks.cost --write-doc); edit benchmarks/cost.py or",
        "     benchmarks/prices.yaml instead: a test fails when this file and the model disagree. -->",
        "",
        f"On-demand prices in {p.region}, read on {p.read} (each price's source is in `benchmarks/prices.yaml`).",
        f"The handler's time per invocation is the one `make bench` measured on {m.measured} ({m.machine}):",
        f"Lambda's duration is that invocation's CPU time at the share of a vCPU that {s.memory_mb} MB buys",
        f"({s.memory_mb} / {p.assumptions.lambda_full_vcpu_mb} of one), plus its wait on InfluxDB, billed per ms.",
        f"The stacks' defaults: {s.memory_mb} MB {s.architecture} function, SQS batches of up to {s.batch_size:,}"
        f" gathered for up to {s.batch_window_seconds:g} s,",
        f"metadata cached {s.cache_ttl_seconds:g} s per container, {s.hosts} `{s.instance_type}` hosts,"
        f" {s.resources['AWS::EC2::NatGateway']} NAT gateways. Free tiers are left out.",
        "",
        "Each fleet is priced on the deployment `make capacity` chose for it and the path (concurrency, batch size,",
        "store, hosts: the table below and docs/scaling.md), not on those defaults, which carry small fleets only.",
        "",
        "The Basic Ingest columns price the same pipeline with devices publishing to `$aws/rules/<rule name>`,",
        "which hands the reading straight to the rule with no messaging charge; everything else is equal",
        '(see "Basic Ingest" below to turn it on).',
        "",
    ]
    for title, header, rows in tables(model):
        lines += [f"## {title}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
        lines.append("")
    direct = model.billed_seconds(PATHS[0], 1) * 1000
    batched = model.fleet(PATHS[1], PER_MILLION_FLEET)
    batch = batched.readings_per_batch(PER_MILLION_FLEET)
    queued = batched.billed_seconds(PATHS[1], batch) * 1000
    largest = max(c.readings_per_invocation for c in m.queued)
    queued_log = max(m.queued, key=lambda t: t.readings_per_invocation).log_bytes_per_invocation
    lines += [
        "## How to read it",
        "",
        f"- Lambda duration: one reading per invocation bills about {direct:,.0f} ms each on the direct path;"
        f" a batch of {batch:,.0f} bills about {queued:,.0f} ms on the queued path, so per reading the queued"
        f" path costs a fraction (batches past the {largest:,} the bench measured are extrapolated on a line).",
        "- SQS: each reading is one SendMessage (the rule's action); the function's event source mapping"
        f" receives and deletes them {SQS_RECEIVE_MAX} at a time. Its idle long polls are a few cents a month."
        " SQS's tiers apply to the month's requests: past 100 billion a month ($0.30) and 200 billion ($0.24).",
        "- Kinesis (the stream path): the stream `make capacity` sizes, in provisioned shards (1,000 readings a"
        " second each), priced per shard-hour spread over the month's readings, plus one PUT payload unit per"
        " reading (up to 25 KB). Lambda reads the stream at no request charge, in batches per shard (times the"
        " parallelization factor); the S3 on-failure bucket costs nothing while nothing fails. On demand (a"
        " stream deployed with `StreamShardCount=0`) is priced per GB in and out and per stream-hour instead: at"
        " a steady rate it costs about twice the provisioned shards, and it is the choice only while the rate"
        " is unknown or swings past what the shards carry.",
        f"- DynamoDB: each warm container reads each metadata item once per {s.cache_ttl_seconds:g} s"
        f" (one item per {p.assumptions.devices_per_metadata_item} devices assumed), so reads follow the"
        " number of containers and items, not readings.",
        f"- CloudWatch logs: the bytes the function printed per invocation in `make bench`"
        f" ({m.direct.log_bytes_per_invocation:,} on the direct path, {queued_log:,} per batch of {largest:,}),"
        f" plus {s.platform_log_bytes:,} of Lambda's own lines at the functions' log settings (JSON, system level"
        " WARN: a successful invocation sends no START/END/REPORT; sizes from `benchmarks/lambda_log_lines.yaml`).",
        "- The fixed part dominates small fleets; IoT Core's messaging and rules dominate large ones,"
        " which is where Basic Ingest pays.",
        f"- At {FLEETS[-1]:,} devices: every path's per-reading charges on the deployment `make capacity` chose,"
        " the store priced apart (it is the same for every row), against the rules-and-actions floor that every"
        " rule-based pipeline pays. IoT Core's own InfluxDB rule action pays that floor alone (and the messages"
        " without Basic Ingest), but writes to InfluxDB V2 or V3 stores only and neither checks nor enriches a"
        " reading: an invalid one is written or lost, not kept with its reason"
        " (https://docs.aws.amazon.com/iot/latest/developerguide/influxdb-rule-action.html). The stream path"
        " with Basic Ingest is this project's cheapest at that size.",
        f"- EFS holds InfluxDB's raw points for {s.raw_retention_days:g} days at about"
        f" {p.assumptions.influxdb_bytes_per_reading:g} bytes a reading, plus {p.assumptions.efs_base_gb:g} GB"
        " for the applications; NAT gateways also charge per GB processed (the gateway endpoints keep"
        " DynamoDB and S3 off them).",
        "- Timestream for InfluxDB: no list price could be read for its instance classes or storage, so"
        " `benchmarks/prices.yaml` has none and a fleet on the managed store shows `+ unpriced store`: the"
        " instance and its storage are left out of that figure, not guessed.",
        "",
        "Use `direct` (the default) for a few readings a second; `stream` beyond that (`queued` only where a",
        f"stream's shard-hours are not worth it: under about {stream_break_even(model):,.0f} readings a second one"
        " provisioned shard costs more than the SQS requests), and either batched path whenever InfluxDB must be"
        " able to stop for a while without a single reading going to the dead letters.",
        "",
    ]
    return "\n".join(lines + basic_ingest_section(model) + sql_section(model))


SQL_PATHS = (PATHS[0], PATHS[1], PATHS[4])  # direct, queued, stream: Basic Ingest changes nothing in the sink
DATA_API_PAYLOAD_UNIT = 32 * KB  # each 32 KB of a request's payload is charged as one request
AURORA_PAGE_BYTES = 4 * KB  # the pages Aurora's storage writes: the I/Os the model counts
SQL_STATEMENTS = (
    2  # per invocation: the readings' tags, then their values (lambda/ingest_to_influxdb/sql_sink.py)
)
AURORA_MIN_ACU = 0.5  # the least an active writer runs at; 0 only while paused
SQL_MAX_ACU = float(MAX_CAPACITIES[-1])  # the relational stack's largest MaxCapacity


def sql_per_million(model: Model, path: Route, devices: int) -> dict[str, float]:
    """The SQL sink's per-reading charges for a million readings of a kind that writes to SQL (beside InfluxDB)."""
    p, a, n = model.prices, model.prices.assumptions, 1_000_000
    per_invocation = model.readings_per_batch(devices, path.stream) if path.queued else 1.0
    payload = per_invocation * a.sql_rows_per_reading / SQL_STATEMENTS * a.sql_request_bytes_per_row
    requests = n / per_invocation * SQL_STATEMENTS * max(1, math.ceil(payload / DATA_API_PAYLOAD_UNIT))
    month = requests / n * devices * model.seconds_per_month / 1e6  # the month's requests, in millions
    stored = n * a.sql_rows_per_reading * a.sql_stored_bytes_per_row
    return {
        "Data API requests": requests
        / 1e6
        * p.prices["rds_data_api_request_per_million"].for_millions(month),
        "Aurora I/O": stored / AURORA_PAGE_BYTES / 1e6 * p.usd("aurora_io_per_million"),
        "Aurora storage, each month they are kept": stored / 1e9 * p.usd("aurora_storage_gb_month"),
    }


def sql_acus(model: Model, devices: int) -> float:
    """The writer's ACUs under a steady fleet (readings keep it from pausing), in half steps."""
    a = model.prices.assumptions
    load = devices * a.sql_rows_per_reading / a.sql_rows_per_acu_second
    return max(AURORA_MIN_ACU, math.ceil(load * 2) / 2)


def sql_per_month(model: Model, path: Route, devices: int) -> dict[str, float]:
    """The SQL sink for a month of a steady fleet: the writer's ACU-hours, and the month's readings' charges."""
    hours = model.prices.hours_per_month
    millions = devices * model.seconds_per_month / 1e6
    per_million = sql_per_million(model, path, devices)
    return {
        f"writer ({sql_acus(model, devices):g} ACU)": sql_acus(model, devices)
        * hours
        * model.prices.usd("aurora_serverless_v2_acu_hour"),
        **{part: value * millions for part, value in per_million.items()},
    }


def sql_idle_per_month(model: Model) -> dict[str, float]:
    """A month without readings: the chosen Aurora Serverless v2 (paused: storage only) and the alternative, the
    smallest RDS for MySQL behind RDS Proxy (billed whether readings come or not)."""
    p, hours = model.prices, model.prices.hours_per_month
    secrets = 3 * p.usd("secret_per_month")  # master, writer, reader: both choices keep them
    return {
        "Aurora Serverless v2, MinCapacity 0 (paused)": secrets,
        "Aurora Serverless v2, MinCapacity 0.5": secrets
        + AURORA_MIN_ACU * hours * p.usd("aurora_serverless_v2_acu_hour"),
        "RDS for MySQL db.t4g.small, 20 GB gp3, RDS Proxy": secrets
        + hours * p.usd("rds_mysql_instance_hour.db.t4g.small")
        + 20 * p.usd("rds_gp3_gb_month")
        + 2 * hours * p.usd("rds_proxy_vcpu_hour"),
    }


def sql_tables(model: Model) -> list[tuple[str, list[str], list[list[str]]]]:
    fleet = PER_MILLION_FLEET
    names = [p.name for p in SQL_PATHS]
    per_million = {p.name: sql_per_million(model.fleet(p, fleet), p, fleet) for p in SQL_PATHS}
    parts = list(per_million[names[0]])
    rows = [[part, *(_usd(per_million[n][part]) for n in names)] for part in parts]
    rows.append(["**total**", *(f"**{_usd(sum(per_million[n].values()))}**" for n in names)])
    month = []
    for devices in FLEETS:
        cells = []
        for path in SQL_PATHS:
            sized = model.for_fleet(path, devices)
            if sql_acus(model, devices) > SQL_MAX_ACU:
                cells.append(f"past one writer (MaxCapacity {SQL_MAX_ACU:g})")
                continue
            cells.append(
                "cannot carry it"
                if sized is None
                else _usd(sum(sql_per_month(sized, path, devices).values()))
            )
        month.append([f"{devices:,}", f"{sql_acus(model, devices):g}", *cells])
    idle = [[name, _usd(value)] for name, value in sql_idle_per_month(model).items()]
    return [
        (f"SQL sink: per million readings ({fleet:,} devices)", ["part", *names], rows),
        (
            "SQL sink: per month, on top of the pipeline (devices at one reading a second)",
            ["devices", "writer ACU", *names],
            month,
        ),
        ("SQL sink: a month without readings", ["choice", "per month"], idle),
    ]


def sql_section(model: Model) -> list[str]:
    a = model.prices.assumptions
    readings_per_unit = DATA_API_PAYLOAD_UNIT / (
        a.sql_rows_per_reading / SQL_STATEMENTS * a.sql_request_bytes_per_row
    )
    lines = [
        "## The SQL sink (the relational stack)",
        "",
        "Deployed only when a kind writes to SQL (`sinks: [influxdb, sql]`, docs/sql-sink.md: the demo's pressure and",
        "button kinds do); the tables above count its three secrets but leave the cluster out. A reading of such a",
        "kind costs its pipeline as above, plus:",
        "",
    ]
    for title, header, rows in sql_tables(model):
        lines += [f"### {title.removeprefix('SQL sink: ')}", "", "| " + " | ".join(header) + " |"]
        lines += ["|" + "---|" * len(header), *("| " + " | ".join(row) + " |" for row in rows), ""]
    lines += [
        f"- Rows: {a.sql_rows_per_reading} a reading (a row per field and per tag), {a.sql_request_bytes_per_row:g}"
        f" bytes each in a Data API request and {a.sql_stored_bytes_per_row:g} on storage with its indexes;"
        f" an ACU writing {a.sql_rows_per_acu_second:,.0f} rows a second. These are assumptions"
        " (`benchmarks/prices.yaml`), not measurements: the sandbox runs MariaDB, not Aurora.",
        f"- Data API: each invocation sends {SQL_STATEMENTS} requests (the tags, then the values), each charged"
        f" once per {DATA_API_PAYLOAD_UNIT // KB} KB of payload: {SQL_STATEMENTS} a reading on the direct path;"
        f" on the batched paths one per about {readings_per_unit:,.0f} readings a statement.",
        "- The writer: a steady fleet keeps it from pausing, so it runs at least 0.5 ACU; with no readings for"
        " `SecondsUntilAutoPause` it pauses and costs nothing but storage. Nothing expires from the table yet:"
        " storage grows by the month's readings every month.",
        "",
    ]
    return lines


def stream_break_even(model: Model) -> float:
    """Readings a second at which one provisioned shard a month costs what the queued path's SQS requests do."""
    p, month = model.prices, model.seconds_per_month
    sqs = (1 + 2 / SQS_RECEIVE_MAX) * p.usd("sqs_request_per_million") / 1e6
    put = p.usd("kinesis_put_payload_unit_per_million") / 1e6
    return p.hours_per_month * p.usd("kinesis_shard_hour") / (month * (sqs - put))


def basic_ingest_section(model: Model) -> list[str]:
    """What Basic Ingest saves, from the same model, and how to turn it on."""
    saved_per_million = model.per_million(PATHS[0], PER_MILLION_FLEET)[MESSAGES]
    largest = FLEETS[-1]
    plain, basic = (model.fleet(p, largest).per_month(p, largest)["total"] for p in (PATHS[1], PATHS[3]))
    saved_per_month = plain - basic
    share = saved_per_month / plain
    return [
        "## Basic Ingest",
        "",
        f"Publishing to `$aws/rules/<rule name>/...` instead of the kind's topic saves IoT Core's messaging charge:"
        f" {_usd(saved_per_million)} per million readings, {_usd(saved_per_month)} a month at {largest:,} devices"
        f" ({share:.0%} of that fleet's bill on the queued path), on either path. Rules and actions are charged as before. It is off"
        " by default and turned on per kind:",
        "",
        "1. deploy the ingest stack with `<Kind>BasicIngest=true` (`PressureBasicIngest=true`): the function then"
        " takes the readings that come through that kind's rule `<environment>_ingest_<kind>` as that kind's, and"
        " the kind's device policy allows publishing to `$aws/rules/<environment>_ingest_<kind>` and its levels;",
        "2. provision the kind's devices with `python -m simulator provision --type <kind>`: it attaches that"
        " policy;",
        "3. the devices publish to `$aws/rules/<environment>_ingest_<kind>/<topic>` (the simulator:"
        " `run --basic-ingest`).",
        "",
        "Nothing can subscribe to those topics: a reading sent this way reaches the ingest rule and nothing else"
        ' (docs/deploying.md, "Basic Ingest").',
        "",
    ]


def measured_from_results(results: dict[str, Any]) -> Measured:
    """The handler's timings out of a `make bench` results.json."""

    def timing(case: dict[str, Any]) -> HandlerTiming:
        per = int(case["per_request"])
        rate = float(case["readings_per_second"]["median"])
        return HandlerTiming(
            readings_per_invocation=per,
            seconds_per_invocation=round(per / rate, 6),
            cpu_seconds_per_invocation=round(float(case["cpu_seconds_per_1000"]) * per / 1000, 6),
            # what the function printed; Lambda's own lines are the stacks' to add (Stacks.platform_log_bytes)
            log_bytes_per_invocation=int(case.get("function_log_bytes", case["log_bytes_per_invocation"])),
        )

    cases = results["cases"]
    machine = results["machine"]
    store = results.get("store_ceiling")
    return Measured(
        store=None
        if not store
        else StoreCeiling(
            points_per_core_second=float(store["points_per_core_second"]),
            single_point_per_core_second=float(store["single_point_per_core_second"])
            if "single_point_per_core_second" in store
            else None,
            fields_per_point=int(store["fields_per_point"]),
            points_per_second=float(store["points_per_second"]["median"]),
            measured=str(results["started"])[:10],
        ),
        measured=str(results["started"])[:10],
        machine=f"{machine['cores']} shared cores, Python {machine['python']}, influxd {machine['influxd']}",
        direct=timing(next(c for c in cases if c["path"] == "direct")),
        queued=[timing(c) for c in cases if c["path"] == "queued"],
    )


def print_capacity(model: Model, fleet: int | None, rate: float, console: Console) -> int:
    """`make capacity`: the deployment for one fleet, or for the cost doc's fleets; a refusal in one line."""
    try:
        plans = [model.plan(devices, rate) for devices in ([fleet] if fleet is not None else list(FLEETS))]
    except capacity.Refused as refused:
        console.print(f"refused: {refused}", soft_wrap=True)
        return 2
    limits = capacity.thresholds(model.limits, model.capacity_inputs())
    capacity_report.render(plans, capacity_report.declared_parameters(), limits, console)
    console.print(f"limits read {model.limits.read} ({model.limits.region}); see benchmarks/limits.yaml")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.cost", description=__doc__)
    parser.add_argument(
        "--update-measured", action="store_true", help=f"take the handler timings from {RESULTS}"
    )
    parser.add_argument("--write-doc", action="store_true", help=f"write {DOC.relative_to(ROOT)}")
    parser.add_argument(
        "--capacity",
        action="store_true",
        help="the deployment that carries a fleet (make capacity), not the cost",
    )
    parser.add_argument("--fleet", type=int, help="--capacity: devices (default: the cost doc's fleets)")
    parser.add_argument("--rate", type=float, default=1.0, help="--capacity: readings a second per device")
    args = parser.parse_args(argv)
    console = Console() if sys.stdout.isatty() else Console(width=200)  # a log keeps the tables whole
    if args.update_measured:
        if not RESULTS.exists():
            console.print(f"[red]error:[/] {RESULTS} does not exist: run 'make bench' first")
            return 2
        measured = measured_from_results(json.loads(RESULTS.read_text()))
        MEASURED.write_text(measured.model_dump_json(indent=2) + "\n")
        console.print(f"handler timings of {measured.measured} written to {MEASURED}")
    model = Model(load_prices(), read_stacks(), load_measured())
    if args.capacity:
        return print_capacity(model, args.fleet, args.rate, console)
    for title, header, rows in tables(model) + sql_tables(model):
        table = Table(title=title)
        for i, column in enumerate(header):
            table.add_column(column, justify="left" if i == 0 else "right")
        for row in rows:
            table.add_row(*(cell.replace("**", "") for cell in row))
        console.print(table)
    console.print(f"prices read {model.prices.read} ({model.prices.region}); see benchmarks/prices.yaml")
    if args.write_doc:
        DOC.write_text(markdown(model))
        console.print(f"written: {DOC}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
