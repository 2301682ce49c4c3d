"""The function's configuration, read from its environment once per container and checked then."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from ingest_to_influxdb import environment
from ingest_to_influxdb.constants import SYSTEM_ROOTS
from ingest_to_influxdb.errors import ConfigError

DEFAULT_CACHE_TTL_SECONDS = 300.0


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

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Config:
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
        )
