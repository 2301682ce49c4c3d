"""The local services as real processes: start, answer, refuse bad credentials, reuse, recover, stop."""

from __future__ import annotations

import base64
import os
import signal
import socket
import ssl
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from reach.endpoints import Endpoints
from reach.influx import InfluxReader, QueryError
from sandbox.manager import processes
from sandbox.manager.processes import SandboxError
from sandbox.manager.services import SERVICE_NAMES, Sandbox


def _reader(endpoints: Endpoints, username: str, password: str) -> InfluxReader:
    influx = endpoints.influxdb
    return InfluxReader(influx.url, influx.database, username, password, ca_file=influx.ca_file)


def test_all_three_services_answer(endpoints: Endpoints) -> None:
    users = endpoints.influxdb.users
    (databases,) = _reader(endpoints, users.admin.username, users.admin.password).raw("SHOW DATABASES")
    assert ["telemetry"] in databases["values"]
    with socket.create_connection((endpoints.mqtt.host, endpoints.mqtt.port), timeout=2):
        pass
    with urllib.request.urlopen(f"{endpoints.aws.endpoint_url}/moto-api/data.json", timeout=5) as response:
        assert response.status == 200


def test_influxdb_users_have_their_grants_and_wrong_password_is_refused(endpoints: Endpoints) -> None:
    users = endpoints.influxdb.users
    with pytest.raises(QueryError, match=r"answered 401 .*authorization failed"):
        _reader(endpoints, users.admin.username, "wrong-password").raw("SHOW DATABASES")
    reader = _reader(endpoints, users.reader.username, users.reader.password)
    reader.raw("SHOW MEASUREMENTS")
    with pytest.raises(QueryError):
        reader.raw("CREATE DATABASE other")


def test_services_listen_on_loopback_only(sandbox: Sandbox) -> None:
    listening = Path("/proc/net/tcp").read_text().splitlines()[1:]
    ports = {s.port for s in sandbox.status()}
    for line in listening:
        local, state = line.split()[1], line.split()[3]
        address, port = local.split(":")
        if state == "0A" and int(port, 16) in ports:
            assert address == "0100007F", f"port {int(port, 16)} listens on {address}, not 127.0.0.1"


def test_up_twice_reuses_the_running_set(own_sandbox: Sandbox) -> None:
    first = own_sandbox.up()
    pids = {s.name: s.pid for s in own_sandbox.status()}
    second = own_sandbox.up()
    assert second == first
    assert {s.name: s.pid for s in own_sandbox.status()} == pids


def test_down_leaves_no_process_and_no_listening_port(own_sandbox: Sandbox) -> None:
    own_sandbox.up()
    statuses = own_sandbox.status()
    assert own_sandbox.down() == list(SERVICE_NAMES)
    for service in statuses:
        assert service.pid is not None and service.port is not None
        assert (
            not Path(f"/proc/{service.pid}").exists() or "Z" in Path(f"/proc/{service.pid}/stat").read_text()
        )
        assert not processes.tcp_answers(service.port)
    assert not list((own_sandbox.root / "pids").glob("*.pid"))


def test_a_killed_service_leaves_a_stale_pid_file_that_up_cleans_and_restarts(own_sandbox: Sandbox) -> None:
    endpoints = own_sandbox.up()
    record = processes.PidRecord.read(own_sandbox.pid_file("mosquitto"))
    assert record is not None
    os.kill(record.pid, signal.SIGKILL)
    while processes.is_running(record):
        pass
    assert not next(s for s in own_sandbox.status() if s.name == "mosquitto").running
    assert not own_sandbox.pid_file("mosquitto").exists()  # stale record removed, not trusted
    assert own_sandbox.up() == endpoints  # same port, same credentials
    assert processes.tcp_answers(endpoints.mqtt.port)


def test_a_recycled_pid_is_not_mistaken_for_the_service(own_sandbox: Sandbox) -> None:
    own_sandbox.root.joinpath("pids").mkdir(parents=True)
    # Our own PID with another start time: a process exists, but it is not the one that was recorded.
    processes.PidRecord(pid=os.getpid(), started=1.0).write(own_sandbox.pid_file("moto"))
    assert processes.running(own_sandbox.pid_file("moto")) is None
    assert not own_sandbox.pid_file("moto").exists()


def test_restarting_influxdb_keeps_port_and_data(own_sandbox: Sandbox) -> None:
    endpoints = own_sandbox.up()
    writer = endpoints.influxdb.users.writer
    when = int(time.time()) * 1_000_000_000  # recent: the raw retention policy drops old points
    token = base64.b64encode(f"{writer.username}:{writer.password}".encode()).decode()
    request = urllib.request.Request(
        f"{endpoints.influxdb.url}/write?db=telemetry",
        data=f"probe value=1 {when}".encode(),
        headers={"Authorization": f"Basic {token}"},
        method="POST",
    )
    context = ssl.create_default_context(cafile=endpoints.influxdb.ca_file)
    with urllib.request.urlopen(request, timeout=5, context=context) as response:
        assert response.status == 204
    own_sandbox.stop_service("influxdb")
    assert not processes.tcp_answers(int(endpoints.influxdb.url.rsplit(":", 1)[1]))
    own_sandbox.start_service("influxdb")
    admin = endpoints.influxdb.users.admin
    (probe,) = _reader(endpoints, admin.username, admin.password).raw("SELECT value FROM probe")
    assert [v[1] for v in probe["values"]] == [1]


def test_a_picked_port_is_free_and_below_the_ephemeral_range() -> None:
    """A port bind(0) hands out is in the range outgoing connections take their source ports from: one did take a
    sandbox's mosquitto port while the services before it started ("port ... is in use")."""
    low = processes._ephemeral_low()
    for _ in range(50):
        port = processes.free_port()
        assert port < low and processes.port_is_free(port)


@pytest.mark.services  # up() starts the services before the one whose port is taken
def test_a_port_in_use_gives_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        services = Sandbox(tmp_path / "sandbox", ports={"mosquitto": port})
        try:
            with pytest.raises(SandboxError, match=rf"port 127.0.0.1:{port} is in use"):
                services.up()
            assert not any(s.running for s in services.status())  # a failed up leaves nothing behind
        finally:
            services.down()


def test_a_missing_binary_says_what_to_install(own_sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(SandboxError, match=r"'influxd' is not installed: run 'make install'"):
        own_sandbox.up()


def test_a_service_that_dies_on_start_reports_its_log(own_sandbox: Sandbox, tmp_path: Path) -> None:
    fake = tmp_path / "bin" / "mosquitto"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\necho 'Error: cannot open configuration file' >&2\nexit 3\n")
    fake.chmod(0o755)
    own_sandbox.up()
    own_sandbox.stop_service("mosquitto")
    os.environ["PATH"], saved = f"{fake.parent}:{os.environ['PATH']}", os.environ["PATH"]
    try:
        with pytest.raises(SandboxError, match=r"(?s)mosquitto exited on start with status 3.*cannot open"):
            own_sandbox.start_service("mosquitto")
    finally:
        os.environ["PATH"] = saved
