"""A real MariaDB for a test module, on 127.0.0.1 and a free port, its data in a temporary folder, stopped by its PID.
The OS user logs in as MariaDB's root through the server's socket; `admin` (with a password, over TCP) is the
cluster's master user the tests' secrets name."""

from __future__ import annotations

import getpass
import json
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pymysql
from sql_setup.constants import PASSWORD_KEY, USERNAME_KEY
from sql_setup.setup import Outcome

from reach.endpoints import Endpoints

HOST = "127.0.0.1"
ADMIN = "admin"
ADMIN_PASSWORD = "admin-Passw0rd"
SERVER = "/usr/sbin/mariadbd"
CLUSTER_ARN = "arn:aws:rds:us-east-1:123456789012:cluster:local-sql"  # the cluster the tests' stand-in plays


@dataclass(frozen=True)
class MariaDb:
    host: str
    port: int
    socket: Path
    pid: int

    def root(self) -> pymysql.connections.Connection[pymysql.cursors.Cursor]:
        return pymysql.connect(unix_socket=str(self.socket), user="root", autocommit=True, charset="utf8mb4")

    def admin(self, database: str | None = None) -> pymysql.connections.Connection[pymysql.cursors.Cursor]:
        return pymysql.connect(
            host=self.host,
            port=self.port,
            user=ADMIN,
            password=ADMIN_PASSWORD,
            database=database,
            autocommit=True,
            charset="utf8mb4",
        )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def available() -> bool:
    return Path(SERVER).exists() and shutil.which("mariadb-install-db") is not None


@contextmanager
def running_mariadb(folder: Path) -> Iterator[MariaDb]:
    data, sock = folder / "data", folder / "s.sock"
    data.mkdir(parents=True)
    user = f"--user={getpass.getuser()}"
    subprocess.run(
        ["mariadb-install-db", "--no-defaults", "--auth-root-authentication-method=socket", f"--datadir={data}",
         "--skip-test-db", user],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    port = free_port()
    process = subprocess.Popen(
        [SERVER, "--no-defaults", f"--datadir={data}", f"--bind-address={HOST}", f"--port={port}",
         f"--socket={sock}", "--skip-name-resolve", "--default-time-zone=+00:00",
         "--character-set-server=utf8mb4", "--collation-server=utf8mb4_bin", user],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    server = MariaDb(HOST, port, sock, process.pid)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with server.root() as root, root.cursor() as cursor:
                    cursor.execute(
                        f"CREATE USER IF NOT EXISTS '{ADMIN}'@'%' IDENTIFIED BY '{ADMIN_PASSWORD}'"
                    )
                    cursor.execute(f"GRANT ALL PRIVILEGES ON *.* TO '{ADMIN}'@'%' WITH GRANT OPTION")
                break
            except pymysql.err.OperationalError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def aws_client(endpoints: Endpoints, service: str, url: str | None = None) -> Any:
    """A boto3 client of the session's moto server, or of a stand-in at `url`."""
    aws = endpoints.aws
    return boto3.client(
        service,  # type: ignore[call-overload]
        endpoint_url=url or aws.endpoint_url,
        region_name=aws.region,
        aws_access_key_id=aws.access_key_id,
        aws_secret_access_key=aws.secret_access_key,
    )


def make_secret(secretsmanager: Any, username: str, password: str) -> str:
    """A database secret in moto's Secrets Manager, as the relational stack makes them: its ARN."""
    value = json.dumps({USERNAME_KEY: username, PASSWORD_KEY: password})
    name = f"rds-data-test-{uuid.uuid4().hex[:10]}"
    return str(secretsmanager.create_secret(Name=name, SecretString=value)["ARN"])


@dataclass(frozen=True)
class Schema:
    """The SQL sink's database, set up through the local Data API by `run_setup`, and its users' secrets."""

    database: str
    master: str
    writer: str
    reader: str
    outcome: Outcome
