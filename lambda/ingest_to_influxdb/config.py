"""The function's configuration, read from its environment once, at cold start."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlparse


class ConfigurationError(RuntimeError):
    """An environment variable is missing or wrong; the message names it."""


@dataclass(frozen=True)
class Config:
    influxdb_url: str
    influxdb_database: str
    influxdb_secret_arn: str
    metadata_table: str
    rejected_queue_url: str
    metadata_cache_ttl_seconds: float = 300.0
    influxdb_timeout_seconds: float = 5.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Config:
        env = os.environ if env is None else env

        def required(name: str) -> str:
            value = env.get(name, "").strip()
            if not value:
                raise ConfigurationError(
                    f"the environment variable {name} is not set; the ingest stack sets it"
                )
            return value

        def positive(name: str, default: float) -> float:
            raw = env.get(name, "").strip()
            if not raw:
                return default
            try:
                value = float(raw)
            except ValueError:
                value = -1.0
            if value < 0:
                raise ConfigurationError(f"{name} must be a non-negative number of seconds, not {raw!r}")
            return value

        url = required("INFLUXDB_URL").rstrip("/")
        if urlparse(url).scheme not in ("http", "https") or not urlparse(url).netloc:
            raise ConfigurationError(
                f"INFLUXDB_URL must be an http(s) URL such as http://influx.demo:8086, not {url!r}"
            )
        return cls(
            influxdb_url=url,
            influxdb_database=env.get("INFLUXDB_DATABASE", "").strip() or "telemetry",
            influxdb_secret_arn=required("INFLUXDB_SECRET_ARN"),
            metadata_table=required("METADATA_TABLE"),
            rejected_queue_url=required("REJECTED_QUEUE_URL"),
            metadata_cache_ttl_seconds=positive("METADATA_CACHE_TTL_SECONDS", 300.0),
            influxdb_timeout_seconds=positive("INFLUXDB_TIMEOUT_SECONDS", 5.0) or 5.0,
        )
