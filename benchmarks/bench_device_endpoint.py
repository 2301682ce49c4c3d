"""Acknowledged readings per second from a fleet: the plain listener (the baseline) against the mutual-TLS device
endpoint, which checks every publish against the device's IoT policy before mosquitto sees it.

Both on this machine's real mosquitto, with the same fleet code (awscrt, QoS 1, each device its own connection);
the fleet, the endpoint and mosquitto share the same cores, so figures are for this machine.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from infrastructure.deploy import Deployer
from infrastructure.names import DEFAULT_ENVIRONMENT as ENVIRONMENT
from infrastructure.stacks import ingest
from local_aws.iot.access import local_registry
from local_aws.iot.ca import LocalCa
from local_aws.iot.endpoint import RELOAD_SECONDS
from sandbox.manager.services import Sandbox
from simulator.api import FleetGroup, local_target, run_groups
from simulator.cli import aws_target
from simulator.fleet import Target
from simulator.provisioning import provision

RUNS = 3
DEVICES = 20
READINGS = 250  # per device and run
RATE = 10_000.0  # readings a second per device: as fast as the acknowledgements come


def _rate(target: Target) -> float:
    summary = run_groups(None, [FleetGroup("pressure", DEVICES)], rate=RATE, count=READINGS, target=target)
    assert summary.acknowledged == DEVICES * READINGS, summary
    return summary.acknowledged / summary.seconds


def main() -> int:
    console = Console()
    with tempfile.TemporaryDirectory(prefix="bench-endpoint-") as folder:
        sandbox = Sandbox(Path(folder) / "sandbox")
        try:
            endpoints = sandbox.up()
            keys = Path(folder) / "keys"
            with local_registry(sandbox.endpoints_path) as ca_folder:
                # The ingest stack's device policies, as the deploy tool makes them on a local endpoint.
                Deployer(ENVIRONMENT, endpoint_url=endpoints.aws.endpoint_url).put_local_iot_policies(
                    ingest.NAME
                )
                policy = ingest.device_policy_of(ENVIRONMENT, "pressure")
                list(provision("pressure", DEVICES, keys, issuer=LocalCa(ca_folder), policy=policy))
            time.sleep(2 * RELOAD_SECONDS)
            plain = local_target(sandbox.endpoints_path)
            tls = aws_target(sandbox.ca.ca_file, keys, f"{endpoints.mqtt.host}:{endpoints.mqtt.tls_port}")
            figures = {
                "plain listener (baseline)": statistics.median(_rate(plain) for _ in range(RUNS)),
                "mutual-TLS device endpoint": statistics.median(_rate(tls) for _ in range(RUNS)),
            }
        finally:
            sandbox.down()
    baseline = figures["plain listener (baseline)"]
    table = Table(title=f"{DEVICES} devices x {READINGS} readings, QoS 1, median of {RUNS}")
    for column in ("path", "acknowledged/s", "vs baseline"):
        table.add_column(column, justify="right")
    for name, value in figures.items():
        table.add_row(name, f"{value:,.0f}", f"{value / baseline:.2f}x")
    console.print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
