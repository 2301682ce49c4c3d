"""A provisioned device over mutual TLS, through the local IoT endpoint, the rule and the function, into InfluxDB."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sandbox.accounting import count_points
from sandbox.broker_access import local_registry
from sandbox.local_ca import LocalCa
from simulator.api import FleetGroup, run_groups
from simulator.cli import aws_target
from simulator.provisioning import deprovision, provision
from tests.e2e.conftest import Pipeline

DEVICES, READINGS = 3, 5


def test_provisioned_devices_publish_over_mutual_tls_and_land_enriched(
    direct_pipeline: Pipeline, tmp_path: Path
) -> None:
    pipeline = direct_pipeline
    keys = tmp_path / "keys"
    with local_registry(pipeline.sandbox.endpoints_path) as ca_folder:
        list(provision("pressure", DEVICES, keys, issuer=LocalCa(ca_folder)))
    mqtt = pipeline.endpoints.mqtt
    assert mqtt.ca_file is not None
    target = aws_target(Path(mqtt.ca_file), keys, f"{mqtt.host}:{mqtt.tls_port}")
    since = datetime.now(UTC)
    try:
        deadline = time.monotonic() + 10
        while True:  # the endpoint applies the new registrations within a second
            try:
                summary = run_groups(
                    None, [FleetGroup("pressure", DEVICES)], rate=10, count=READINGS, target=target
                )
                break
            except ConnectionError:
                assert time.monotonic() < deadline
                time.sleep(0.3)
        assert (summary.acknowledged, summary.denied) == (DEVICES * READINGS, 0)
        until = datetime.now(UTC) + timedelta(minutes=1)
        deadline = time.monotonic() + 60
        while count_points(pipeline.endpoints, since, until).get("pressure") != DEVICES * READINGS:
            assert time.monotonic() < deadline, count_points(pipeline.endpoints, since, until)
            time.sleep(0.3)
        series = pipeline.query(
            f"SELECT count(\"pressureValue\") FROM pressure WHERE time >= '{since.isoformat()}' "
            "GROUP BY sensorID, manufacturer, family"
        )
        assert len(series) == DEVICES
        assert all(s["tags"]["manufacturer"] and s["tags"]["family"] for s in series)
    finally:
        with local_registry(pipeline.sandbox.endpoints_path):
            list(deprovision("pressure", DEVICES, keys))
