"""The function's configuration, read from its environment once per container and checked then."""

from __future__ import annotations

import math
import os
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from ingest_to_influxdb import environment
from ingest_to_influxdb.constants import SYSTEM_ROOTS
from ingest_to_influxdb.errors import ConfigError
from ingest_to_influxdb.kinds import SQL_SINK

DEFAULT_CACHE_TTL_SECONDS = 300.0
SQL_VARIABLES = (environment.SQL_RESOURCE_ARN, environment.SQL_SECRET_ARN, environment.SQL_DATABASE)


@dataclass(frozen=True)
class SqlConfig:
    resource_arn: str  # the Aurora cluster the RDS Data API reaches
    secret_arn: str  # the writer's {"username", "password"}, which the Data API reads itself
    database: str


def sql_config(env: Mapping[str, str], sinks: Collection[str] = ()) -> SqlConfig | None:
    """The SQL sink's settings: all three variables, or none (no kind writes to SQL). A kind that writes to SQL
    without them fails the container's start, in one line."""
    values = [env.get(name, "").strip() for name in SQL_VARIABLES]
    if all(values):
        return SqlConfig(*values)
    missing = [name for name, value in zip(SQL_VARIABLES, values, strict=True) if not value]
    if SQL_SINK in sinks:
        raise ConfigError(
            f"a kind of the catalog writes to the {SQL_SINK} sink but {', '.join(missing)} "
            f"{'is' if len(missing) == 1 else 'are'} not set: the relational stack sets them"
        )
    if any(values):
        raise ConfigError(f"{', '.join(SQL_VARIABLES)} go together: {', '.join(missing)} missing")
    return None


@dataclass(frozen=True)
class Config:
    influxdb_url: str  # http://influx.demo:8086 (ECS store) or https://<instance endpoint>:8086 (managed), no credentials
    influxdb_database: str
    influxdb_secret_arn: str  # the writer's {"username", "password"} (1.x) or {"token"} (2.x/3.x): secrets.py
    metadata_table: str
    rejected_queue_url: str
    metadata_cache_ttl_seconds: float = DEFAULT_CACHE_TTL_SECONDS
    # PEM of the CA the store's certificate is verified against; None: the system's roots (a public certificate)
    influxdb_ca_certificate: str | None = None
    sql: SqlConfig | None = None  # the SQL sink, when a kind writes to it
    # Where a reading some sinks miss goes, naming them (dead_letters.py); None: it is retried whole.
    dead_letter_queue_url: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, sinks: Collection[str] = ()) -> Config:
        """`sinks`: every sink the packed kinds write to (kinds.KindTable.sinks); the SQL sink's variables are
        required when it is one of them."""
        env = os.environ if env is None else env

        def required(name: str) -> str:
            value = env.get(name, "").strip()
            if not value:
                raise ConfigError(f"the environment variable {name} is not set: the ingest stack sets it")
            return value

        url = required(environment.INFLUXDB_URL).rstrip("/")
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"INFLUXDB_URL must be like http://influx.demo:8086, not {url!r}")
        if parts.username or parts.password:
            raise ConfigError("INFLUXDB_URL must not carry credentials: they come from INFLUXDB_SECRET_ARN")
        ca_text = env.get(environment.INFLUXDB_CA_CERTIFICATE, "").strip()
        ca_certificate = None if ca_text in ("", SYSTEM_ROOTS) else ca_text
        if ca_certificate is not None and parts.scheme != "https":
            raise ConfigError(
                f"{environment.INFLUXDB_CA_CERTIFICATE} is set but INFLUXDB_URL is not https: {url!r}"
            )
        if ca_certificate is not None and "-----BEGIN CERTIFICATE-----" not in ca_certificate:
            raise ConfigError(
                f"{environment.INFLUXDB_CA_CERTIFICATE} must hold a PEM certificate (-----BEGIN CERTIFICATE-----)"
            )
        ttl_text = env.get(environment.METADATA_CACHE_TTL_SECONDS, "").strip() or str(
            DEFAULT_CACHE_TTL_SECONDS
        )
        try:
            ttl = float(ttl_text)
        except ValueError:
            ttl = math.nan
        if not math.isfinite(ttl) or ttl < 0:
            raise ConfigError(
                f"METADATA_CACHE_TTL_SECONDS must be a number of seconds >= 0, not {ttl_text!r}"
            )
        return cls(
            influxdb_url=url,
            influxdb_database=required(environment.INFLUXDB_DATABASE),
            influxdb_secret_arn=required(environment.INFLUXDB_SECRET_ARN),
            metadata_table=required(environment.METADATA_TABLE),
            rejected_queue_url=required(environment.REJECTED_QUEUE_URL),
            metadata_cache_ttl_seconds=ttl,
            influxdb_ca_certificate=ca_certificate,
            sql=sql_config(env, sinks),
            dead_letter_queue_url=env.get(environment.DEAD_LETTER_QUEUE_URL, "").strip() or None,
        )
