"""`make demo`: the whole pipeline on this machine, then where every reading went."""

from __future__ import annotations

import random
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
from ingest_to_influxdb.constants import METAKEY
from ingest_to_influxdb.ingestor import SINK_LABELS
from ingest_to_influxdb.kinds import INFLUXDB_SINK, SQL_SINK
from rich.console import Console
from rich.live import Live
from rich.table import Table

from catalog import SENSOR_ID_TAG, Catalog, load_catalog
from catalog.loader import PROJECT_ROOT
from infrastructure.names import stack_name
from infrastructure.stacks import ingest
from reach import influx
from reach.endpoints import STREAM_FAILURES_KEY, STREAM_KEY, Endpoints
from reach.queues import PartialLetters, partial_letters
from sandbox.manager.deployment import aws_environment, deploy_local, rule_runner_stats, stack_outputs
from sandbox.manager.processes import SandboxError
from sandbox.manager.services import Sandbox
from sandbox.scenarios.accounting import (
    Accounting,
    broker_backlog,
    count_points,
    count_rows,
    in_flight,
    measurements,
    queue_depths,
    sink_accounts,
)
from sandbox.scenarios.alert_demo import show_alerts
from simulator.api import FleetGroup, no_rule_warning, readings_to_no_rule, run_groups
from simulator.fleet import Counters, Target
from simulator.webhook import BackgroundFleet, WebhookFleet, local_target

PICTURE = PROJECT_ROOT / "build" / "dashboards.png"
DEFAULT_DEVICES = 20
DEFAULT_WEBHOOK_BUTTONS = 5


@dataclass(frozen=True)
class DemoOptions:
    devices: dict[str, int] = field(
        default_factory=lambda: {"shelf": 5}
    )  # per kind; DEFAULT_DEVICES otherwise
    rate: float = 1.0
    duration: float = 30.0
    ingest_path: str = "direct"
    environment: str = "demo"
    # The devices provisioned and connected over mutual TLS through the local IoT endpoint, as to IoT Core, so the
    # rules' clientid() binds every reading to its thing; False: the broker's plain listener (operators' tools).
    device_tls: bool = True
    webhook_shelves: int = 2  # shelf endpoints of a device-management service, besides the MQTT shelves

    drain_timeout: float = 600.0  # how long to wait for readings in flight before counting

    def fleet(self, catalog: Catalog) -> dict[str, int]:
        """Devices of every kind of the catalog that can be simulated (0 leaves a kind out)."""
        return {
            kind.name: self.devices.get(kind.name, DEFAULT_DEVICES)
            for kind in catalog
            if kind.simulator is not None
        }

    @property
    def webhook_buttons(self) -> int:
        """Button endpoints reporting through the local webhook gateway (`--devices button=N`)."""
        return self.devices.get("button", DEFAULT_WEBHOOK_BUTTONS)


def live_view(counters: Counters, stats: dict[str, object], elapsed: float, duration: float) -> Table:
    table = Table(title=f"the pipeline at work: {elapsed:.0f} of {duration:.0f} s")
    for column in (
        "devices: sent",
        "acknowledged",
        "rules: received",
        "function: done",
        "retried",
        "dead letters",
    ):
        table.add_column(column, justify="right")
    dead = int(str(stats.get("on_failure", 0))) + int(str(stats.get("error_action", 0)))
    table.add_row(
        str(counters.sent),
        str(counters.acknowledged),
        str(stats.get("received", 0)),
        str(stats.get("delivered", 0)),
        str(stats.get("retried", 0)),
        str(dead),
    )
    return table


def device_tls_target(sandbox: Sandbox, groups: list[FleetGroup], environment: str) -> Target:
    """Provision the demo's devices in the local IoT registry (certificates from the sandbox's CA) and connect
    them as `simulator run --target aws` connects to IoT Core: mutual TLS through awsiotsdk."""
    from local_aws.iot.access import local_registry
    from local_aws.iot.ca import LocalCa
    from local_aws.iot.endpoint import RELOAD_SECONDS
    from simulator.cli import aws_target
    from simulator.provisioning import provision

    keys = sandbox.root / "devices"
    with local_registry(sandbox.endpoints_path) as ca_folder:
        for group in groups:
            issuer = LocalCa(ca_folder)
            for _ in provision(group.type_name, group.devices, keys, issuer, environment=environment):
                pass
        register_thing_metadata(groups, environment)
    mqtt = sandbox.endpoints().mqtt
    time.sleep(2 * RELOAD_SECONDS)  # the endpoint reloads its access rules this often
    return aws_target(sandbox.ca.ca_file, keys, f"{mqtt.host}:{mqtt.tls_port}")


def register_thing_metadata(groups: list[FleetGroup], environment: str) -> int:
    """Over mutual TLS the broker vouches for each device, and the function takes its metadata from the item of
    its thing, whatever metakey the payload names (lambda/ingest_to_influxdb/identity.py). So the demo registers,
    under each thing it provisioned, the sample item that the device's simulated payload names, as an operator
    registers a device's metadata under its thing name (docs/operations.md); how many it registered."""
    from simulator.device_types import resolve_type
    from simulator.provisioning import thing_name

    table = boto3.resource("dynamodb").Table(
        stack_outputs(stack_name(environment, ingest.NAME))[ingest.METADATA_TABLE_NAME.output]
    )
    registered = 0
    for group in groups:
        spec = resolve_type(group.type_name).attributes.get(METAKEY)
        if spec is None:
            continue
        for index in range(group.devices):
            named = spec.stream(random.Random(index), time.time, index)()
            item = table.get_item(Key={METAKEY: str(named)}).get("Item")
            if item is not None:
                table.put_item(Item={**item, METAKEY: thing_name(group.type_name, index)})
                registered += 1
    return registered


def fleet_groups(fleet: dict[str, int]) -> list[FleetGroup]:
    return [FleetGroup(name, devices) for name, devices in fleet.items() if devices > 0]


def run_fleet(
    sandbox: Sandbox,
    fleet: dict[str, int],
    options: DemoOptions,
    console: Console,
    target: Target | None = None,
) -> tuple[dict[str, int], dict[str, int]]:
    """Publish from the simulated devices (to `target`, or the plain listener), with a live view; returns how many
    readings the broker acknowledged, per kind, and how many of them went to a topic no deployed rule reads."""
    groups = fleet_groups(fleet)
    started = time.monotonic()
    with Live(console=console, refresh_per_second=4, transient=True) as live:

        def on_tick(counters: Counters) -> None:
            elapsed = time.monotonic() - started
            live.update(live_view(counters, rule_runner_stats(sandbox), elapsed, options.duration))

        summary = run_groups(
            sandbox.endpoints_path,
            groups,
            rate=options.rate,
            duration=options.duration,
            on_tick=on_tick,
            target=target,
        )
    if summary.denied:
        console.print(f"[bold red]{summary.denied} readings were denied by the broker[/] (not delivered)")
    to_no_rule = readings_to_no_rule(sandbox.endpoints_path, groups, summary)
    if to_no_rule:
        console.print(f"[bold red]{no_rule_warning(to_no_rule)}[/]")
    sent = {name: summary.by_type.get(name, 0) for name in fleet}
    return sent, {t.type_name: t.readings for t in to_no_rule}


def account(
    sandbox: Sandbox,
    endpoints: Endpoints,
    sent: int,
    since: datetime,
    before: dict[str, int],
    drain_timeout: float,
    on_progress: Callable[[Accounting], None] = lambda _: None,
    to_no_rule: int = 0,
    unacknowledged: int = 0,
) -> Accounting:
    """Count where every reading went (per kind, and in each sink), waiting until nothing is in flight (or
    `drain_timeout` passes).

    Settled means nothing is in flight and two counts a second apart agree; until then every reading
    not yet written, rejected or dead-lettered is shown where it is, never as lost."""
    deadline = time.monotonic() + drain_timeout
    previous: Accounting | None = None
    catalog = load_catalog()
    started_at = since - timedelta(minutes=1)  # (SQS's SentTimestamp against the device times: generous)
    with aws_environment(endpoints):
        while True:
            # Upstream first: a reading that moves on between two reads is then counted twice (in flight a
            # moment longer), never missed.
            broker, stats = _broker_backlog(endpoints), rule_runner_stats(sandbox)
            queues = queue_depths(endpoints, sandbox.root)
            until = datetime.now(UTC) + timedelta(minutes=1)
            points = count_points(endpoints, since, until, catalog)
            held = held_by_sink(endpoints, catalog, points, since, until)
            partial = _partial_letters(endpoints, catalog, queues, started_at)
            taken, sinks = sink_accounts(catalog, held, partial.missing)
            current = Accounting(
                sent=sent,
                written=sum(taken.values()),
                rejected=queues["rejected"] - before["rejected"],
                dead_letters=kept(queues, before) - partial.letters,
                in_flight=in_flight(broker, stats, queues.get("ingest", 0), queues.get(STREAM_KEY, 0)),
                to_no_rule=to_no_rule,
                unacknowledged=unacknowledged,
                sinks=sinks,
                written_by_kind=taken,
            )
            on_progress(current)
            if (current.in_flight.total == 0 and current == previous) or time.monotonic() >= deadline:
                return current
            previous = current
            time.sleep(1.0)


def kept(queues: dict[str, int], before: dict[str, int]) -> int:
    """Readings kept for replay since `before`: the dead letters, and the stream path's failed batches."""
    return sum(queues.get(name, 0) - before.get(name, 0) for name in ("dead_letter", STREAM_FAILURES_KEY))


def held_by_sink(
    endpoints: Endpoints, catalog: Catalog, points: dict[str, int], since: datetime, until: datetime
) -> dict[str, dict[str, int]]:
    """Sink -> kind -> readings it holds in the window: InfluxDB's points by measurement, the SQL sink's rows (when
    a kind writes there)."""
    held = {
        INFLUXDB_SINK: {k.name: points.get(k.measurement, 0) for k in catalog if INFLUXDB_SINK in k.sinks}
    }
    if any(SQL_SINK in kind.sinks for kind in catalog):
        rows = count_rows(endpoints, since, until)
        held[SQL_SINK] = {kind.name: rows.get(kind.name, 0) for kind in catalog if SQL_SINK in kind.sinks}
    return held


def _partial_letters(
    endpoints: Endpoints, catalog: Catalog, queues: dict[str, int], since: datetime
) -> PartialLetters:
    """The dead letters since `since` that some sinks hold (read only when a kind has two sinks and dead letters
    are waiting)."""
    url = endpoints.queues.get("dead_letter")
    if not url or queues.get("dead_letter", 0) <= 0 or all(len(kind.sinks) < 2 for kind in catalog):
        return PartialLetters()
    return partial_letters(boto3.client("sqs"), url, since)


def _broker_backlog(endpoints: Endpoints) -> int:
    try:
        return broker_backlog(endpoints)
    except Exception:  # the broker is restarting: count it as holding something until it answers
        return 1


def summary_table(
    accounting: Accounting,
    stats: dict[str, object],
    sent: dict[str, int] | None = None,
    written: dict[str, int] | None = None,
    by_webhook: int = 0,
    to_no_rule: dict[str, int] | None = None,
) -> Table:
    """The totals, and a column per kind (`sent`, `written`, and what each sink holds, by kind) where they are
    counted per kind."""
    sent, written = sent or {}, written or {}
    table = Table(title="Where every reading went")
    table.add_column("")
    table.add_column("readings", justify="right")
    for name in sent:
        table.add_column(name, justify="right")

    def row(label: str, total: object, by_kind: dict[str, int] | None = None) -> None:
        table.add_row(
            label, str(total), *(str(by_kind.get(n, 0)) if by_kind is not None else "" for n in sent)
        )

    row("sent (acknowledged by the broker)", accounting.sent, sent)
    row("  of them by webhook (acknowledged by the webhook gateway)", by_webhook)
    row("received by the IoT rules", stats.get("received", "?"))
    if not accounting.sinks or [account.sink for account in accounting.sinks] == [INFLUXDB_SINK]:
        row("written to InfluxDB (counted by a query)", accounting.written, written)
    else:
        row("written (taken by a sink of their kind)", accounting.written, written)
        for account in accounting.sinks:
            label = SINK_LABELS.get(account.sink, account.sink)
            row(f"  held by {label} (counted by a query)", account.held, dict(account.held_by_kind))
            if account.missing:
                row(f"  [yellow]missing in {label}, on the dead letters for make replay[/]", account.missing)
            if account.lost:
                row(
                    f"[bold red]  lost in {label} (held by another sink only)[/]",
                    f"[bold red]{account.lost}[/]",
                )
    row("rejected (kept with their reason)", accounting.rejected)
    row("dead letters (kept for make replay)", accounting.dead_letters)
    if accounting.to_no_rule:
        row(
            "[bold red]to no rule (no deployed rule reads their topic: dropped by the broker)[/]",
            f"[bold red]{accounting.to_no_rule}[/]",
            to_no_rule,
        )
    if accounting.in_flight.total:
        row(
            f"[yellow]still in flight ({accounting.in_flight.describe()})[/]",
            f"[yellow]{accounting.in_flight.total}[/]",
        )
    if not accounting.settled:
        # Counts taken while readings move between places are not exact: only a drained pipeline is.
        row(
            "[yellow]lost: known once nothing is in flight (not seen in this count)[/]",
            f"[yellow]({accounting.lost})[/]",
        )
        return table
    style = "green" if accounting.lost == 0 else "bold red"
    to_no_rule_term = " - to no rule" if accounting.to_no_rule else ""
    row(
        f"[{style}]lost = sent - written - rejected - dead letters{to_no_rule_term}[/]",
        f"[{style}]{accounting.lost}[/]",
    )
    return table


def throughput_line(accounting: Accounting, started: float, published: float, drained: float | None) -> str:
    """Readings per second through the pipeline (first publish to the last reading counted), and the lag at the
    end: how long after the devices stopped the last reading was counted (to within the 1 s between counts)."""
    if drained is None:
        return (
            f"through the pipeline: {accounting.written} readings written in the {published - started:.0f} s of"
            f" publishing and the wait; lag at the end: more than the wait ({accounting.in_flight.total} in flight)"
        )
    through = accounting.written + accounting.rejected + accounting.dead_letters
    seconds = max(drained - started, 1e-9)
    return (
        f"through the pipeline: {through} readings in {seconds:.1f} s = {through / seconds:,.0f} readings/s;"
        f" lag at the end: {max(0.0, drained - published):.1f} s after the last publish"
    )


def unbound_things(
    endpoints: Endpoints, catalog: Catalog, fleet: dict[str, int], since: datetime
) -> list[str]:
    """The demo's MQTT devices that have no reading written under their own thing name: over mutual TLS, the rules'
    clientid() is the thing, and the function writes each reading as it (lambda/ingest_to_influxdb/identity.py)."""
    from simulator.provisioning import thing_name

    window = f"time >= {int(since.timestamp() * 1000)}ms"
    found: set[str] = set()
    for measurement, point_field in measurements(catalog).items():
        query = (
            f'SELECT count("{point_field}") FROM "{measurement}" WHERE {window} GROUP BY "{SENSOR_ID_TAG}"'
        )
        found |= {series["tags"][SENSOR_ID_TAG] for series in influx.query(endpoints, query)}
    things = [thing_name(kind, index) for kind, count in fleet.items() for index in range(count)]
    return [name for name in things if name not in found]


def render_picture(endpoints_path: Path, out: Path, since: datetime) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "grafana.render",
            "--endpoints",
            str(endpoints_path),
            "--out",
            str(out),
            "--start",
            since.isoformat(),  # the window the demo ran, up to now
        ],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise SandboxError(
            f"drawing the dashboards failed: {(result.stderr or result.stdout).strip()[-600:]}"
        )


NEXT_STEPS = """[bold]Next[/]
  look at the dashboards:   {picture}
  query InfluxDB (HTTPS):   SSL_CERT_FILE={ca} influx -ssl -host 127.0.0.1 -port {port} -username reader \\
                              -password '<see {endpoints}>' -database telemetry -execute 'SELECT mean(pressureValue) FROM pressure GROUP BY sensorID'
  more devices:             make simulate DEVICES=50 RATE=5 DURATION=60
  replay dead letters:      make replay
  stop everything:          make down"""


def run_demo(sandbox: Sandbox, options: DemoOptions, console: Console) -> int:
    with console.status("starting the local services and deploying every stack to the local AWS endpoint"):
        endpoints = deploy_local(sandbox, environment=options.environment, ingest_path=options.ingest_path)
    console.print(f"[green]deployed[/] ({options.ingest_path} path); endpoints in {sandbox.endpoints_path}")
    with aws_environment(endpoints):
        before = queue_depths(endpoints, sandbox.root)
    since = datetime.now(UTC) - timedelta(seconds=1)
    catalog = load_catalog()
    fleet = options.fleet(catalog)
    how = "over mutual TLS, as to IoT Core" if options.device_tls else "to the plain listener"
    console.print(
        f"{', '.join(f'{n} {k}' for k, n in fleet.items())} devices publishing {how} for {options.duration:.0f} s "
        f"at {options.rate:g} reading/s each"
    )
    target = None
    if options.device_tls:  # before the clock starts: the throughput is the pipeline's, not the registry's
        with console.status(f"provisioning {sum(fleet.values())} devices in the local IoT registry"):
            target = device_tls_target(sandbox, fleet_groups(fleet), options.environment)
    buttons, shelves = options.webhook_buttons, options.webhook_shelves
    webhook = None
    if buttons + shelves > 0:
        console.print(f"{buttons} button and {shelves} shelf endpoints more reporting through the webhook")
        webhook = BackgroundFleet(
            WebhookFleet(local_target(sandbox.endpoints_path), buttons, shelves),
            options.rate,
            options.duration,
        )
    started = time.monotonic()
    sent, to_no_rule = run_fleet(sandbox, fleet, options, console, target)
    by_webhook = 0
    if webhook is not None:
        counters = webhook.wait()
        # Every acknowledged delivery holds one reading of each endpoint.
        sent["button"] = sent.get("button", 0) + counters.deliveries * buttons
        sent["shelf"] = sent.get("shelf", 0) + counters.deliveries * shelves
        by_webhook = counters.readings_sent
    published = time.monotonic()
    drained: list[float] = []  # when nothing was in flight any more, first seen
    with console.status("waiting for the pipeline to take every reading") as status:

        def show(current: Accounting) -> None:
            if current.in_flight.total == 0 and not drained:
                drained.append(time.monotonic())
            status.update(
                f"waiting for the pipeline to take every reading (at most {options.drain_timeout:.0f} s): "
                f"{current.written} written, {current.in_flight.total} in flight "
                f"({current.in_flight.describe()})"
            )

        accounting = account(
            sandbox, endpoints, sum(sent.values()), since, before, options.drain_timeout, show,
            sum(to_no_rule.values()),
        )  # fmt: skip
    written = {name: count for name, count in accounting.written_by_kind.items() if name in sent}
    console.print(
        summary_table(accounting, rule_runner_stats(sandbox), sent, written, by_webhook, to_no_rule)
    )
    console.print(throughput_line(accounting, started, published, drained[0] if drained else None))
    unbound: list[str] = []
    if options.device_tls:
        unbound = unbound_things(endpoints, catalog, fleet, since)
        devices = sum(fleet.values())
        if unbound:
            console.print(
                f"[bold red]{len(unbound)} of {devices} devices have no reading written as their thing[/] "
                f"(clientid() did not bind them): {', '.join(unbound[:5])}"
            )
        else:
            console.print(
                f"identity: every one of the {devices} devices' readings written as its thing (clientid())"
            )
    if accounting.in_flight.total:
        console.print(
            f"[yellow]{accounting.in_flight.total} readings were still on their way after "
            f"{options.drain_timeout:.0f} s[/] (they are held, not lost). Watch them arrive with "
            "'python -m sandbox status', or wait longer next time with --drain-timeout."
        )
    with console.status("drawing the dashboards from the local InfluxDB"):
        render_picture(sandbox.endpoints_path, PICTURE, since)
    endpoints.model_copy(update={"dashboard_png": str(PICTURE)}).save(sandbox.endpoints_path)
    console.print(f"dashboards drawn: {PICTURE}")
    alerts_as_expected = show_alerts(endpoints, since, console)
    port = endpoints.influxdb.url.rsplit(":", 1)[1]
    console.print(
        NEXT_STEPS.format(picture=PICTURE, port=port, endpoints=sandbox.endpoints_path, ca=sandbox.ca.ca_file)
    )
    if accounting.settled and accounting.lost != 0:
        problem = (
            f"{accounting.lost} readings are unaccounted for"
            if accounting.lost > 0
            else f"{-accounting.lost} readings were counted twice (more outcomes than readings sent)"
        )
        console.print(f"[bold red]{problem}[/]: see {sandbox.root}/logs/")
        return 1
    if accounting.settled and accounting.lost_in_sinks:
        missing = ", ".join(f"{a.sink} {a.lost}" for a in accounting.sinks if a.lost)
        console.print(
            f"[bold red]readings another sink holds are not in every sink of their kind[/] ({missing}): "
            f"see {sandbox.root}/logs/"
        )
        return 1
    if accounting.to_no_rule:
        console.print(
            f"[bold red]{accounting.to_no_rule} readings went to topics no deployed rule reads[/] (see above)"
        )
        return 1
    if unbound:
        return 1
    if not alerts_as_expected:
        console.print("[bold red]the alerts are not as expected[/]: see python -m grafana.alert_check")
        return 1
    return 0
