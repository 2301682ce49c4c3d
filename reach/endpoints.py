"""`.sandbox/endpoints.json`: the one place that says where every local service is and how to reach it.

This module is its only reader and writer (`Endpoints.load`, `Endpoints.save`, `endpoints_file`); every tool and
test goes through it (tests/sandbox/test_endpoints_client.py fails on a second way in).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ingest_to_influxdb import environment
from pydantic import BaseModel, ConfigDict


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class MqttEndpoint(_Model):
    """The local broker: a plain listener that wants a user and password, and a mutual-TLS listener for devices
    (the local stand-in for IoT Core's data endpoint, see local_aws/iot/endpoint.py)."""

    host: str
    port: int
    username: str
    password: str
    tls_port: int | None = None
    # The local certificate authority that signs the endpoint's and the devices' certificates.
    ca_file: str | None = None


def mqtt_login(endpoints: Endpoints) -> tuple[str, str]:
    """The user and password every local MQTT client gives on the plain listener (no anonymous client gets in)."""
    return endpoints.mqtt.username, endpoints.mqtt.password


class Login(_Model):
    username: str
    password: str


InfluxUser = Login  # an InfluxDB user's login


class InfluxUsers(_Model):
    admin: InfluxUser
    writer: InfluxUser
    reader: InfluxUser


class InfluxEndpoint(_Model):
    url: str  # https://127.0.0.1:<port>: influxd serves HTTPS only
    database: str
    users: InfluxUsers
    # The CA that signed influxd's certificate (the sandbox's CA): every client verifies the server against it.
    ca_file: str | None = None
    rpc: str | None = (
        None  # host:port of influxd's backup and restore service (`make backup`, `make restore`)
    )

    @property
    def verify(self) -> str | bool:
        """What `requests` verifies the server with: the CA file, or the system's roots."""
        return self.ca_file or True

    def function_environment(self) -> dict[str, str]:
        """The function's InfluxDB variables as the ingest stack sets them on AWS: the URL and the CA's PEM."""
        env = {environment.INFLUXDB_URL: self.url}
        if self.ca_file:
            env[environment.INFLUXDB_CA_CERTIFICATE] = Path(self.ca_file).read_text()
        return env


class AwsEndpoint(_Model):
    endpoint_url: str
    region: str
    account_id: str
    access_key_id: str = "testing"
    secret_access_key: str = "testing"

    def env(self) -> dict[str, str]:
        """The environment that points plain `boto3.client(...)` at this endpoint."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
            "AWS_ACCESS_KEY_ID": self.access_key_id,
            "AWS_SECRET_ACCESS_KEY": self.secret_access_key,
        }

    def client(self, service: str) -> Any:
        """A boto3 client of this endpoint (moto's server locally), whatever the process's environment says."""
        import boto3  # only the tools that call AWS need it

        return boto3.client(
            service,  # type: ignore[call-overload]
            endpoint_url=self.endpoint_url,
            region_name=self.region,
            aws_access_key_id=self.access_key_id,
            aws_secret_access_key=self.secret_access_key,
        )


# botocore's endpoint variable for the RDS Data API (service id "RDS Data"): the functions' rds-data client, and
# only it, reaches the local stand-in (local_aws/rds_data/) while every other client reaches moto.
RDS_DATA_ENDPOINT_VARIABLE = "AWS_ENDPOINT_URL_RDS_DATA"


class SqlEndpoint(_Model):
    """The SQL sink (docs/sql-sink.md): MariaDB on 127.0.0.1, which the functions reach through the local RDS Data
    API as they reach Aurora through the real one."""

    host: str
    port: int  # MariaDB's
    # By role (sql_setup.constants.ROLES): the master user creates the schema and the users; the writer and the
    # reader are made by the set-up step with their secrets' passwords.
    users: dict[str, Login]
    data_api_url: str  # http://127.0.0.1:<port>: the local RDS Data API
    cluster_arn: str  # the cluster the local Data API answers for
    database: str
    secrets: dict[str, str] = {}  # role -> the ARN of its secret in moto (after a deploy)

    def function_environment(self) -> dict[str, str]:
        """The function's SQL variables as the stacks set them on AWS, and the local Data API's address; empty
        before a deploy has made the writer's secret."""
        writer = self.secrets.get("writer")
        if writer is None:
            return {}
        return {
            environment.SQL_RESOURCE_ARN: self.cluster_arn,
            environment.SQL_SECRET_ARN: writer,
            environment.SQL_DATABASE: self.database,
            RDS_DATA_ENDPOINT_VARIABLE: self.data_api_url,
        }


class WebhookEndpoint(_Model):
    url: str  # the callback URL the local gateway serves
    secret_name: str  # the callback's header secret in the local Secrets Manager (Authorization: Bearer ...)


# Besides the queues' URLs (dead_letter, rejected, ingest), `queues` names the stream path's two stores: the
# stream's ARN and the on-failure destination's bucket, where readings wait or are kept as in a queue.
STREAM_KEY = "ingest_stream"
STREAM_FAILURES_KEY = "stream_failures"


class Endpoints(_Model):
    mqtt: MqttEndpoint
    influxdb: InfluxEndpoint
    aws: AwsEndpoint
    queues: dict[str, str] = {}
    dashboard_png: str | None = None
    webhook: WebhookEndpoint | None = None
    sql: SqlEndpoint | None = None

    @classmethod
    def load(cls, path: Path | None = None) -> Endpoints:
        """The sandbox's endpoints from `path` (default .sandbox/endpoints.json)."""
        path = path or DEFAULT_PATH
        if not path.exists():
            raise FileNotFoundError(
                f"{path} does not exist: start the local services with 'make demo' or 'python -m sandbox up'"
            )
        return cls.model_validate_json(path.read_text())

    def save(self, path: Path) -> None:
        """Written 0600 from the first byte (it holds every InfluxDB password), whoever writes it."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.unlink(missing_ok=True)  # a leftover may have other permissions: O_CREAT would keep them
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(self.model_dump_json(indent=2) + "\n")
        tmp.replace(path)


FILE_NAME = "endpoints.json"


def endpoints_file(root: Path) -> Path:
    """Where a sandbox rooted at `root` keeps its endpoints."""
    return root / FILE_NAME


DEFAULT_ROOT = Path(".sandbox")
DEFAULT_PATH = endpoints_file(DEFAULT_ROOT)


@contextmanager
def environment_set(values: Mapping[str, str]) -> Iterator[None]:
    """`values` in this process's environment for the block; after it, each name as it was (or unset again)."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
