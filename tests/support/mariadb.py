"""The sandbox's MariaDB for the local RDS Data API's tests: reached as the cluster's master user (with its password,
over TCP), whom the tests' secrets name; and the secrets and clients those tests use."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

import boto3
import pymysql
from sql_setup.constants import PASSWORD_KEY, USERNAME_KEY
from sql_setup.setup import Outcome

from reach.endpoints import Endpoints

CLUSTER_ARN = "arn:aws:rds:us-east-1:123456789012:cluster:local-sql"  # the cluster the tests' stand-in plays


@dataclass(frozen=True)
class MariaDb:
    """The session sandbox's MariaDB (endpoints.json's `sql`), reached as its master user."""

    host: str
    port: int
    admin_username: str
    admin_password: str

    @classmethod
    def of(cls, endpoints: Endpoints) -> MariaDb:
        assert endpoints.sql is not None
        master = endpoints.sql.users["master"]
        return cls(endpoints.sql.host, endpoints.sql.port, master.username, master.password)

    def admin(self, database: str | None = None) -> pymysql.connections.Connection[pymysql.cursors.Cursor]:
        return pymysql.connect(
            host=self.host,
            port=self.port,
            user=self.admin_username,
            password=self.admin_password,
            database=database,
            autocommit=True,
            charset="utf8mb4",
        )


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
