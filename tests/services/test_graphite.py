"""The Graphite listener as services/influxdb/task.yaml configures it, on a real influxd of its own.

The task's INFLUXDB_GRAPHITE_* variables are given to a local influxd (listening on 127.0.0.1 instead of the
task's :2003), Graphite plaintext lines are sent to it, and the points are read back: the mbed.* template puts
the endpoint in sensorID and the resource in the field.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest

from infrastructure import service_files
from reach.influx import InfluxReader, QueryError
from sandbox.manager import processes

# It starts an influxd of its own rather than through the `sandbox` fixture: not a pure test.
pytestmark = pytest.mark.services

HOST = "127.0.0.1"


def graphite_environment() -> dict[str, str]:
    variables = {k: v for k, v in service_files.load("influxdb").environment.items() if "GRAPHITE" in k}
    assert variables.pop("INFLUXDB_GRAPHITE_0_ENABLED") == "${GraphiteListener}"  # the stack's switch
    return variables


@pytest.fixture(scope="module")
def influxd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, int]]:
    root = tmp_path_factory.mktemp("graphite")
    http, graphite, rpc = processes.free_port(), processes.free_port(), processes.free_port()
    config = root / "influxdb.conf"
    config.write_text(
        f'reporting-disabled = true\nbind-address = "{HOST}:{rpc}"\n'
        f'[meta]\n  dir = "{root}/meta"\n[data]\n  dir = "{root}/data"\n  wal-dir = "{root}/wal"\n'
        f'[http]\n  bind-address = "{HOST}:{http}"\n  log-enabled = false\n[monitor]\n  store-enabled = false\n'
    )
    env = {
        **os.environ,
        **graphite_environment(),
        "INFLUXDB_GRAPHITE_0_ENABLED": "true",
        "INFLUXDB_GRAPHITE_0_BIND_ADDRESS": f"{HOST}:{graphite}",
        "INFLUXDB_GRAPHITE_0_BATCH_TIMEOUT": "100ms",  # the default 1 s would only slow the test
    }
    pid_file = root / "influxd.pid"
    processes.start(
        "influxd-graphite",
        ["influxd", "-config", str(config)],
        pid_file=pid_file,
        log_file=root / "influxd.log",
        ready=lambda: processes.tcp_answers(graphite),
        timeout=30,
        env=env,
    )
    try:
        yield http, graphite
    finally:
        processes.stop("influxd-graphite", pid_file)


def query(port: int, q: str) -> list[dict[str, Any]]:
    """The series of `q` (times in ms), from this test's own influxd, which has no users; none until the
    listener has made its database."""
    try:
        return InfluxReader(f"http://{HOST}:{port}", "telemetry", "", "").raw(q)
    except QueryError as error:
        if "database not found" in str(error):
            return []
        raise


def test_graphite_lines_land_in_the_telemetry_database(influxd: tuple[int, int]) -> None:
    http, graphite = influxd
    now = int(time.time())
    lines = (
        f"mbed.button-01.presses 12 {now}\n"
        f"mbed.button-01.presses 15 {now + 1}\n"
        f"mbed.shelf-07.count 4 {now}\n"
        f"statsd.requests 3 {now}\n"
    )
    with socket.create_connection((HOST, graphite), timeout=5) as connection:
        connection.sendall(lines.encode())
    deadline = time.monotonic() + 10
    while (
        time.monotonic() < deadline and len(query(http, 'SELECT count(*) FROM "mbed", "statsd.requests"')) < 2
    ):
        time.sleep(0.2)
    [mbed] = query(http, 'SELECT "presses", "count", "sensorID" FROM "mbed"')
    ms = now * 1000
    assert mbed["columns"] == ["time", "presses", "count", "sensorID"]
    assert sorted(mbed["values"], key=str) == sorted(
        [[ms, None, 4, "shelf-07"], [ms, 12, None, "button-01"], [ms + 1000, 15, None, "button-01"]], key=str
    )
    [other] = query(http, 'SELECT "value" FROM "statsd.requests"')  # no template: Graphite's default
    assert other["values"] == [[ms, 3]]


def test_the_listener_is_off_unless_the_stack_turns_it_on() -> None:
    from infrastructure.stacks import influxdb

    template = json.loads(influxdb.build().to_json())
    assert template["Parameters"]["GraphiteListener"]["Default"] == "false"
    ingress = template["Resources"]["GraphiteIngress"]
    assert ingress["Condition"] == "HasGraphiteListener" and ingress["Properties"]["FromPort"] == 2003
    assert "CidrIp" in ingress["Properties"]  # the VPC's range, never 0.0.0.0/0
    assert "ImportValue" in json.dumps(ingress["Properties"]["CidrIp"])
