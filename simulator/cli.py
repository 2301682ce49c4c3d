"""`python -m simulator run|provision|deprovision`: simulated devices for the local pipeline or AWS IoT Core."""

from __future__ import annotations

import argparse
import json
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from ingest_to_influxdb import basic_ingest
from rich.console import Console
from rich.live import Live
from rich.table import Table

from catalog import CatalogError, load_catalog
from infrastructure.names import DEFAULT_ENVIRONMENT
from local_aws.iot.policy import PolicyError
from reach.endpoints import DEFAULT_PATH
from simulator.api import FleetGroup, local_target, no_rule_warning, readings_to_no_rule, run_groups
from simulator.arguments import positive_float, positive_int
from simulator.device_types import DeviceTypeError, resolve_type
from simulator.fleet import OPERATION_TIMEOUT_MS, BrokerUnreachable, Counters, FleetSummary, Target
from simulator.provisioning import ProvisioningError

console = Console(stderr=True)


class _Progress:
    """Sent, acknowledged and failed: per second and in total."""

    def __init__(self) -> None:
        self.last = (time.monotonic(), 0, 0, 0)
        self.table = self._render(0, 0, 0, 0.0, 0.0, 0.0)

    def _render(self, sent: int, acked: int, failed: int, s: float, a: float, f: float) -> Table:
        table = Table(title="devices publishing")
        for column in ("", "sent", "acknowledged", "failed"):
            table.add_column(column, justify="right")
        table.add_row("per second", f"{s:,.0f}", f"{a:,.0f}", f"{f:,.0f}")
        table.add_row("total", f"{sent:,}", f"{acked:,}", f"{failed:,}")
        return table

    def update(self, counters: Counters) -> Table:
        now = time.monotonic()
        then, sent, acked, failed = self.last
        elapsed = max(now - then, 1e-6)
        if elapsed >= 0.5:
            self.table = self._render(
                counters.sent,
                counters.acknowledged,
                counters.failed,
                (counters.sent - sent) / elapsed,
                (counters.acknowledged - acked) / elapsed,
                (counters.failed - failed) / elapsed,
            )
            self.last = (now, counters.sent, counters.acknowledged, counters.failed)
        return self.table


def summary_table(summary: FleetSummary) -> Table:
    table = Table(title="fleet summary" + (" (interrupted)" if summary.interrupted else ""))
    table.add_column("")
    table.add_column("", justify="right")
    for name, value in summary.as_dict().items():
        if name not in ("by_type", "interrupted"):
            table.add_row(name, str(value))
    for type_name, acked in summary.by_type.items():
        table.add_row(f"acknowledged: {type_name}", str(acked))
    return table


def aws_target(ca_file: Path, keys: Path, endpoint: str | None = None) -> Target:
    """AWS IoT Core: mutual TLS with the keys that `provision` stored, to the account's ATS data endpoint or to
    `endpoint` (HOST[:PORT], e.g. the local sandbox's mutual-TLS endpoint with its CA as `ca_file`)."""
    import boto3
    from awsiot import mqtt_connection_builder

    if not ca_file.is_file():
        raise FileNotFoundError(
            f"{ca_file}: no Amazon root CA there; download it with 'curl -o {ca_file} "
            "https://www.amazontrust.com/repository/AmazonRootCA1.pem' or give --ca-file"
        )
    port = 8883
    if endpoint is None:
        endpoint = boto3.client("iot").describe_endpoint(endpointType="iot:Data-ATS")["endpointAddress"]
    elif ":" in endpoint:
        endpoint, _, port_text = endpoint.rpartition(":")
        port = int(port_text)

    def connect(client_id: str, on_resumed: Callable[..., None], on_interrupted: Callable[..., None]) -> Any:
        folder = keys / client_id  # the thing is named like the client id (simulator.provisioning)
        if not (folder / "certificate.pem").is_file():
            raise FileNotFoundError(
                f"{folder}: no certificate for device {client_id}; run 'python -m simulator provision' "
                "with at least as many --devices of this --type"
            )
        return mqtt_connection_builder.mtls_from_path(
            endpoint=endpoint,
            port=port,
            cert_filepath=str(folder / "certificate.pem"),
            pri_key_filepath=str(folder / "private.key"),
            ca_filepath=str(ca_file),
            client_id=client_id,
            clean_session=False,
            keep_alive_secs=30,
            reconnect_min_timeout_secs=1,
            reconnect_max_timeout_secs=16,
            protocol_operation_timeout_ms=OPERATION_TIMEOUT_MS,
            on_connection_resumed=on_resumed,
            on_connection_interrupted=on_interrupted,
        )

    return Target(host=endpoint, port=port, make_connection=connect)


def topic_overrides(pairs: list[str]) -> dict[str, str]:
    """`--topic pressure=/plant1/pressure` pairs as a mapping."""
    topics = {}
    for pair in pairs:
        name, _, topic = pair.partition("=")
        if not name or not topic:
            raise DeviceTypeError(f"--topic {pair!r}: give TYPE=TOPIC, e.g. pressure=/plant1/pressure")
        topics[name] = topic
    return topics


def basic_ingest_group(group: FleetGroup, environment: str) -> FleetGroup:
    """The group publishing through Basic Ingest to its kind's ingest rule, the kind's topic after the prefix."""
    catalog = load_catalog()
    if group.type_name not in catalog.names:
        raise DeviceTypeError(
            f"--basic-ingest: {group.type_name} is not a kind of the catalog ({', '.join(catalog.names)}): only a "
            "kind has an ingest rule to publish to"
        )
    device_type = resolve_type(group.type_name, group.topic, catalog)
    rule = basic_ingest.rule_name(environment, device_type.name)
    return replace(group, topic=basic_ingest.device_topic(rule, device_type.topic))


def run(args: argparse.Namespace) -> int:
    if args.duration is None and args.count is None:
        args.duration = 60.0
    topics = topic_overrides(args.topic or [])
    unknown = sorted(set(topics) - set(args.type))
    if unknown:
        raise DeviceTypeError(f"--topic names types that are not run (no --type): {', '.join(unknown)}")
    groups = [FleetGroup(t, args.devices, topics.get(t)) for t in args.type]
    for group in groups:
        resolve_type(group.type_name)  # a bad type file is reported before anything connects
    if args.basic_ingest:
        groups = [basic_ingest_group(group, args.environment) for group in groups]
    target = (
        aws_target(args.ca_file, args.keys, args.endpoint)
        if args.target == "aws"
        else local_target(args.endpoints)
    )
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())  # Ctrl-C: stop publishing, keep the summary
    progress = _Progress()
    with Live(progress.table, console=console, refresh_per_second=4, transient=True) as live:
        summary = run_groups(
            None,
            groups,
            rate=args.rate,
            duration=args.duration,
            count=args.count,
            seed=args.seed,
            metakey=args.metakey,
            target=target,
            on_tick=lambda counters: live.update(progress.update(counters)),
            stop=stop,
        )
    # Acknowledged is not ingested: the local broker takes a reading no rule reads, and drops it.
    to_no_rule = readings_to_no_rule(args.endpoints, groups, summary) if args.target == "local" else []
    if args.json:
        print(json.dumps({**summary.as_dict(), "to_no_rule": sum(t.readings for t in to_no_rule)}))
    else:
        console.print(summary_table(summary))
    if to_no_rule:
        console.print(f"[bold yellow]warning:[/] {no_rule_warning(to_no_rule)}")
    return 0 if summary.failed == 0 and summary.acknowledged == summary.sent and not to_no_rule else 1


def provisioning(args: argparse.Namespace) -> int:
    from simulator.provisioning import deprovision, provision

    # The policy attached is the environment's ingest stack's: it allows Basic Ingest when the stack does.
    if args.target == "aws":
        if args.command == "provision":
            lines = provision(args.type, args.devices, args.keys, environment=args.environment)
        else:
            lines = deprovision(args.type, args.devices, args.keys, environment=args.environment)
        for line in lines:
            console.print(line)
        return 0
    from local_aws.iot.access import local_registry
    from local_aws.iot.ca import LocalCa

    with local_registry(args.endpoints) as ca_folder:
        if args.command == "provision":
            lines = provision(
                args.type, args.devices, args.keys, LocalCa(ca_folder), environment=args.environment
            )
        else:
            lines = deprovision(args.type, args.devices, args.keys, environment=args.environment)
        for line in lines:
            console.print(line)
    return 0


def basic_ingest_options(parser: argparse.ArgumentParser, verb: str) -> None:
    parser.add_argument(
        "--basic-ingest",
        action="store_true",
        help=f"{verb} only $aws/rules/<environment>_ingest_<type>/<topic> (Basic Ingest: no messaging charge; "
        "the stack's <Kind>BasicIngest parameter must be true)",
    )
    parser.add_argument(
        "--environment", default=DEFAULT_ENVIRONMENT, help="the stacks' EnvironmentName (names the rules)"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m simulator", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    run_parser = commands.add_parser("run", help="publish readings from a fleet of devices")
    run_parser.add_argument(
        "--type",
        action="append",
        help="a kind of device-kinds/ (pressure, shelf, ...) or a type file (repeatable)",
    )
    run_parser.add_argument(
        "--topic",
        action="append",
        metavar="TYPE=TOPIC",
        help="publish a type's readings to another topic, as the deployed stack's topic parameter (repeatable)",
    )
    run_parser.add_argument("--devices", type=positive_int, default=20, help="devices of each type")
    run_parser.add_argument("--rate", type=positive_float, default=1.0, help="readings per second per device")
    run_parser.add_argument("--duration", type=positive_float, help="seconds (default 60 unless --count)")
    run_parser.add_argument("--count", type=positive_int, help="readings per device")
    run_parser.add_argument("--seed", type=int, help="the same readings in every run (but the timestamps)")
    run_parser.add_argument("--metakey", help="the metadata key every device sends")
    run_parser.add_argument("--target", choices=("local", "aws"), default="local")
    run_parser.add_argument("--endpoints", type=Path, default=DEFAULT_PATH)
    run_parser.add_argument(
        "--endpoint", help="aws: HOST[:PORT] instead of the account's IoT data endpoint (e.g. the local one)"
    )
    run_parser.add_argument("--ca-file", type=Path, default=Path(".devices/AmazonRootCA1.pem"))
    run_parser.add_argument(
        "--keys", type=Path, default=Path(".devices"), help="where provision put the keys"
    )
    run_parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    basic_ingest_options(run_parser, "publish")

    for name in ("provision", "deprovision"):
        sub = commands.add_parser(name, help=f"{name} things, certificates and policies on AWS IoT")
        sub.add_argument("--type", default="pressure")
        sub.add_argument("--devices", type=positive_int, default=20)
        sub.add_argument("--keys", type=Path, default=Path(".devices"))
        sub.add_argument(
            "--target",
            choices=("aws", "local"),
            default="aws",
            help="local: the sandbox's IoT registry (moto), certificates from its CA, the broker updated at once",
        )
        sub.add_argument("--endpoints", type=Path, default=DEFAULT_PATH)
        sub.add_argument(
            "--environment",
            default=DEFAULT_ENVIRONMENT,
            help="the stacks' EnvironmentName: its ingest stack holds the device policy attached (Basic Ingest is "
            "allowed there when the stack's <Kind>BasicIngest parameter is true)",
        )

    args = parser.parse_args(argv)
    try:
        if args.command == "run":
            args.type = args.type or ["pressure"]
            return run(args)
        return provisioning(args)
    except (
        DeviceTypeError,
        BrokerUnreachable,
        FileNotFoundError,
        CatalogError,
        ProvisioningError,
        PolicyError,
    ) as error:
        console.print(f"[red]error:[/] {error}", soft_wrap=True)
        return 2
