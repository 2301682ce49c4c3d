"""The fleet against a real mosquitto: every reading arrives, devices are distinct, the broker may drop us."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from awscrt import io, mqtt

from reach.endpoints import Endpoints
from sandbox.manager.services import Sandbox
from simulator.api import FleetGroup, run_groups
from simulator.cli import main
from simulator.fleet import BrokerUnreachable, Target


class Subscriber:
    """Counts every message on the readings' topics (QoS 1, persistent session)."""

    def __init__(self, endpoints: Endpoints, name: str) -> None:
        self.messages: list[tuple[str, dict[str, Any]]] = []
        self.lock = threading.Lock()
        self.connection = mqtt.Connection(
            client=mqtt.Client(io.ClientBootstrap.get_or_create_static_default()),
            host_name=endpoints.mqtt.host,
            port=endpoints.mqtt.port,
            username=endpoints.mqtt.username,
            password=endpoints.mqtt.password,
            disable_metrics=True,
            client_id=name,
            clean_session=False,
            reconnect_min_timeout_secs=1,
            reconnect_max_timeout_secs=2,
        )
        self.connection.on_message(self._on_message)
        self.connection.connect().result(timeout=10)
        for topic in ("/pressure/data", "/shelf/data"):
            self.connection.subscribe(topic, mqtt.QoS.AT_LEAST_ONCE)[0].result(timeout=10)

    def _on_message(self, topic: str, payload: bytes, **_: Any) -> None:
        with self.lock:
            self.messages.append((topic, json.loads(payload)))

    def wait_for(self, count: int, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while len(self.messages) < count and time.monotonic() < deadline:
            time.sleep(0.05)

    def close(self) -> None:
        self.connection.disconnect().result(timeout=10)


@pytest.fixture
def subscriber(endpoints: Endpoints, request: pytest.FixtureRequest) -> Any:
    one = Subscriber(endpoints, f"test-subscriber-{request.node.name}")
    yield one
    one.close()


def test_fifty_devices_twenty_readings_each_all_arrive(sandbox: Sandbox, subscriber: Subscriber) -> None:
    summary = run_groups(sandbox.endpoints_path, [FleetGroup("pressure", 50)], rate=50, count=20)
    assert (summary.sent, summary.acknowledged, summary.failed) == (1000, 1000, 0)
    subscriber.wait_for(1000)
    assert len(subscriber.messages) == 1000
    by_device: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for topic, reading in subscriber.messages:
        assert topic == "/pressure/data"
        assert 500 <= reading["pressure"] <= 1500 and 25 <= reading["viscosity"] <= 100
        by_device[reading["deviceid"]].append(reading)
    assert len(by_device) == 50 and all(len(r) == 20 for r in by_device.values())
    statics = {(r[0]["deviceid"], r[0]["clientid"]) for r in by_device.values()}
    assert len(statics) == 50  # distinct between devices
    for readings in by_device.values():  # constant per device
        assert len({(r["clientid"], r["metakey"]) for r in readings}) == 1


def test_both_types_in_one_fleet(sandbox: Sandbox, subscriber: Subscriber) -> None:
    summary = run_groups(
        sandbox.endpoints_path,
        [FleetGroup("pressure", 3), FleetGroup("shelf", 2)],
        rate=100,
        count=10,
        seed=4,
    )
    assert summary.by_type == {"pressure": 30, "shelf": 20}
    subscriber.wait_for(50)
    shelf = [r for topic, r in subscriber.messages if topic == "/shelf/data"]
    assert len(shelf) == 20 and all(r["count"] >= 0 and r["product_id"].startswith("sku-") for r in shelf)


def test_an_unreachable_broker_is_a_clear_error() -> None:
    from sandbox.manager.processes import free_port

    port = free_port()
    with pytest.raises(
        BrokerUnreachable, match=rf"cannot connect to 127.0.0.1:{port}.*is the broker running"
    ):
        run_groups(None, [FleetGroup("pressure", 1)], count=1, target=Target("127.0.0.1", port))


def test_the_cli_prints_a_json_summary(sandbox: Sandbox, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["run", "--type", "shelf", "--devices", "2", "--rate", "50", "--count", "3", "--json",
                 "--endpoints", str(sandbox.endpoints_path)])  # fmt: skip
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["sent"] == summary["acknowledged"] == 6 and summary["failed"] == 0


def test_a_bad_type_file_stops_the_cli_with_its_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "thermo.yaml"
    bad.write_text("name: thermo\ntopic: /t\nattributes:\n  t: {type: int_range, min: 9, max: 1}\n")
    assert main(["run", "--type", str(bad), "--count", "1"]) == 2
    assert "attribute 't'" in capsys.readouterr().err


def test_a_broker_that_drops_the_connection_mid_run_loses_nothing(sandbox: Sandbox) -> None:
    def restart_broker() -> None:
        sandbox.stop_service("mosquitto")
        sandbox.start_service("mosquitto")

    restarter = threading.Timer(1.0, restart_broker)
    restarter.start()
    summary = run_groups(sandbox.endpoints_path, [FleetGroup("pressure", 10)], rate=10, count=30)
    restarter.join()
    # Every device reconnected, and every reading published before, during and after the outage was
    # acknowledged by the broker: those in flight or queued while it was down were published again.
    assert summary.reconnects >= 10
    assert summary.acknowledged == summary.sent == 300 and summary.failed == 0


def test_ctrl_c_stops_publishing_and_still_prints_the_summary(
    sandbox: Sandbox, subscriber: Subscriber
) -> None:
    command = [sys.executable, "-m", "simulator", "run", "--devices", "3", "--rate", "5", "--duration", "60",
               "--json", "--endpoints", str(sandbox.endpoints_path)]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # Interrupt once it is connected and publishing (the broker passed on its readings), however long its
        # start took on a busy machine.
        subscriber.wait_for(len(subscriber.messages) + 6, timeout=120)
        assert process.poll() is None, process.communicate()
        process.send_signal(signal.SIGINT)
        out, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    summary = json.loads(out)
    assert summary["interrupted"] is True
    assert 0 < summary["sent"] < 3 * 5 * 60 and summary["acknowledged"] == summary["sent"]
    assert process.returncode == 0
