"""The influxdb task's container run here as ECS runs it: the command, environment and secrets of
services/influxdb/task.yaml (start.sh, which starts the real influxd and runs init-influxdb.sh), with the data
directory, the ports and the secrets' values set locally.

ECS itself cannot run here. What it does for this container is small and is done the same way: it reads each
secret's current value (AWSCURRENT) when the task starts and sets it in the environment, and it stops the task
with SIGTERM. The secrets live in moto's Secrets Manager, so a rotation is the same `PutSecretValue` as on AWS.
"""

from __future__ import annotations

import json
import os
import secrets as random
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from infrastructure import influx_tls, service_files
from infrastructure.stacks import influxdb
from reach.endpoints import Endpoints, InfluxEndpoint, InfluxUser, InfluxUsers
from reach.influx import InfluxReader
from sandbox.manager import processes

HOST = "127.0.0.1"
READY = "init-influxdb: database"  # the start-up script's last line
ENVIRONMENT_TEMPLATE = "${EnvironmentName}"


def secret_id(environment: str, template: str) -> str:
    return template.replace(ENVIRONMENT_TEMPLATE, environment)


def role_secret(environment: str, role: str) -> str:
    return secret_id(environment, influxdb.secret_name(role))


def new_password() -> str:
    return random.token_hex(16)


def secrets_client(endpoints: Endpoints) -> Any:
    return aws_client(endpoints, "secretsmanager")


def aws_client(endpoints: Endpoints, service: Any) -> Any:
    """A boto3 client of moto's server (the AWS cloud itself cannot run here)."""
    return endpoints.aws.client(service)


def create_secrets(client: Any, environment: str) -> None:
    """As the influxdb stack does: one secret per role, JSON username and password (a first version only); and as
    the deploy tool does, the TLS secret of a certificate its CA signed (infrastructure/influx_tls.py)."""
    influx_tls.ensure(client, environment, kms_key_id=None)
    for role, username in influxdb.ROLES.items():
        client.create_secret(
            Name=role_secret(environment, role),
            SecretString=json.dumps({"username": username, "password": new_password()}),
        )


def credentials(client: Any, environment: str, role: str) -> tuple[str, str]:
    value = json.loads(client.get_secret_value(SecretId=role_secret(environment, role))["SecretString"])
    return str(value["username"]), str(value["password"])


@dataclass
class InfluxTask:
    root: Path
    environment: str  # the stacks' EnvironmentName: names the secrets
    secrets: Any  # a boto3 Secrets Manager client
    http: int = field(default_factory=processes.free_port)
    rpc: int = field(default_factory=processes.free_port)
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def url(self) -> str:
        return f"https://{HOST}:{self.http}"

    @property
    def ca_file(self) -> str:
        """The CA start.sh wrote from the TLS secret: the clients verify the task's certificate with it."""
        return str(self.root / "tls" / "ca.pem")

    @property
    def log(self) -> Path:
        return self.root / f"start-{self.starts}.log"

    def secret_values(self) -> dict[str, str]:
        """What ECS puts in the container's environment from `secrets:` at the task's start."""
        values = {}
        for name, ref in service_files.load("influxdb").secrets.items():
            text = self.secrets.get_secret_value(SecretId=secret_id(self.environment, ref.secret))[
                "SecretString"
            ]
            values[name] = str(json.loads(text)[ref.key])
        return values

    def container_environment(self) -> dict[str, str]:
        spec = service_files.load("influxdb")
        env = {name: value for name, value in spec.environment.items() if name not in spec.templated}
        env.update(
            {
                "PATH": os.environ["PATH"],
                "TMPDIR": str(self.root),
                "INFLUXDB_TLS_DIR": str(self.root / "tls"),
                "INFLUXDB_GRAPHITE_0_ENABLED": "false",  # the stack's GraphiteListener default
                "INFLUXDB_PORT": str(self.http),
                "INFLUXDB_HTTP_BIND_ADDRESS": f"{HOST}:{self.http}",  # the task listens on :8086
                "INFLUXDB_BIND_ADDRESS": f"{HOST}:{self.rpc}",
                "INFLUXDB_META_DIR": str(self.root / "efs" / "meta"),
                "INFLUXDB_DATA_DIR": str(self.root / "efs" / "data"),
                "INFLUXDB_DATA_WAL_DIR": str(self.root / "efs" / "wal"),
                "INFLUXDB_MONITOR_STORE_ENABLED": "false",
                **self.secret_values(),
            }
        )
        return env

    def start(self, timeout: float = 60) -> None:
        """Start the container's command; return once the start-up script has finished."""
        assert self.process is None, "already running"
        self.starts += 1
        command = service_files.load("influxdb").command
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                command,
                env=self.container_environment(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while READY not in self.log.read_text(errors="replace"):
            if self.process.poll() is not None or time.monotonic() > deadline:
                status = self.process.poll()
                self.stop()
                raise AssertionError(f"the influxdb container ended (status {status}):\n{self.log_text()}")
            time.sleep(0.05)

    def stop(self) -> int | None:
        """SIGTERM, as ECS stops a task; the container's exit status. Its whole process group goes if it hangs."""
        process, self.process = self.process, None
        if process is None:
            return None
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                return process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
        return process.wait(timeout=10)

    def restart(self) -> None:
        """`aws ecs update-service --force-new-deployment`: the old task stops (minimum healthy 0 %), a new one
        starts with the secrets' current values."""
        status = self.stop()
        assert status == 0, f"the container stopped with status {status}:\n{self.log_text()}"
        self.start()

    def endpoints(self, base: Endpoints) -> Endpoints:
        """The sandbox's endpoints with this task's InfluxDB in place of the sandbox's own."""
        users = {
            role: InfluxUser(username=user, password=password)
            for role in influxdb.ROLES
            for user, password in [credentials(self.secrets, self.environment, role)]
        }
        influx = InfluxEndpoint(
            url=self.url,
            database="telemetry",
            users=InfluxUsers(**users),
            rpc=f"{HOST}:{self.rpc}",
            ca_file=self.ca_file,
        )
        return base.model_copy(update={"influxdb": influx})

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    # -- what the task's clients do -------------------------------------------------------------------------
    def query(self, text: str, user: str, password: str) -> list[dict[str, Any]]:
        """The series of `text` as InfluxDB sends them, through sandbox.influx; QueryError when refused."""
        reader = InfluxReader(self.url, "telemetry", user, password, ca_file=self.ca_file)
        try:
            return reader.raw(text)
        finally:
            reader.client.close()

    def write(self, lines: str, user: str, password: str, database: str = "telemetry") -> requests.Response:
        return requests.post(
            f"{self.url}/write",
            params={"db": database, "precision": "ms"},
            auth=(user, password),
            data=lines.encode(),
            timeout=30,
            verify=self.ca_file,
        )


@contextmanager
def running_task(client: Any, prefix: str, directory: Path) -> Iterator[InfluxTask]:
    """A task of a new environment (`prefix` and a random suffix): its secrets made with no previous version,
    an empty data directory, stopped when the block ends."""
    environment = f"{prefix}{uuid.uuid4().hex[:8]}"
    create_secrets(client, environment)
    task = InfluxTask(directory, environment, client)
    try:
        task.start()
        yield task
    finally:
        task.stop()
