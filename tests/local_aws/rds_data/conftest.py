"""The session sandbox's MariaDB and moto's Secrets Manager behind an in-process local RDS Data API: the secrets
name MariaDB's master user, and a boto3 `rds-data` client calls the stand-in."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sql_setup.setup import run_setup

from local_aws.rds_data.server import DataApiServer, serve
from reach.endpoints import Endpoints
from sandbox.manager import processes
from tests.support.mariadb import (
    CLUSTER_ARN,
    MariaDb,
    Schema,
    aws_client,
    make_secret,
)


@pytest.fixture(scope="session")
def mariadb(endpoints: Endpoints) -> MariaDb:
    return MariaDb.of(endpoints)


@pytest.fixture(scope="session")
def secretsmanager(endpoints: Endpoints) -> Any:
    return aws_client(endpoints, "secretsmanager")


@pytest.fixture(scope="session")
def master_secret(secretsmanager: Any, mariadb: MariaDb) -> str:
    return make_secret(secretsmanager, mariadb.admin_username, mariadb.admin_password)


@pytest.fixture(scope="session")
def data_api_server(mariadb: MariaDb, secretsmanager: Any) -> Iterator[DataApiServer]:
    server = serve(CLUSTER_ARN, mariadb.host, mariadb.port, secretsmanager)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def rds_data(endpoints: Endpoints, data_api_server: DataApiServer) -> Any:
    return aws_client(endpoints, "rds-data", data_api_server.url)


@pytest.fixture
def database(mariadb: MariaDb) -> Iterator[str]:
    """A database of its own for the test, dropped after it."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    with mariadb.admin() as admin, admin.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
    try:
        yield name
    finally:
        with mariadb.admin() as admin, admin.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS {name}")


@pytest.fixture
def stopped_port() -> int:
    """A port nothing listens on: MariaDB stopped."""
    return processes.free_port()


@pytest.fixture
def schema(rds_data: Any, secretsmanager: Any, master_secret: str, mariadb: MariaDb) -> Iterator[Schema]:
    suffix = uuid.uuid4().hex[:8]
    database = f"telemetry_{suffix}"
    writer = make_secret(secretsmanager, f"w_{suffix}", f"Writer-{suffix}-pass")
    reader = make_secret(secretsmanager, f"r_{suffix}", f"Reader-{suffix}-pass")
    outcome = run_setup(
        rds_data, secretsmanager, CLUSTER_ARN, master_secret, writer, reader, database=database
    )
    try:
        yield Schema(database, master_secret, writer, reader, outcome)
    finally:
        with mariadb.admin() as admin, admin.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS {database}")
            cursor.execute(f"DROP USER IF EXISTS 'w_{suffix}'@'%', 'r_{suffix}'@'%'")
