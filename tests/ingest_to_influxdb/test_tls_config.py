"""The function verifies the store's certificate: against the CA it is given (the ECS store), else against the
system's roots (the managed store's AWS certificate); never not at all."""

from __future__ import annotations

import ssl

import pytest
from ingest_to_influxdb.config import Config
from ingest_to_influxdb.constants import SYSTEM_ROOTS
from ingest_to_influxdb.environment import INFLUXDB_CA_CERTIFICATE as INFLUXDB_CA_VARIABLE
from ingest_to_influxdb.errors import ConfigError
from ingest_to_influxdb.influx_writer import verified_pool
from store_setup.influx_api import InfluxApi

PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
ENV = {
    "INFLUXDB_URL": "https://influx.demo:8086",
    "INFLUXDB_DATABASE": "telemetry",
    "INFLUXDB_SECRET_ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:demo/influxdb/writer",
    "METADATA_TABLE": "t",
    "REJECTED_QUEUE_URL": "https://sqs/q",
}


def test_the_ca_comes_from_the_environment_else_the_system_roots() -> None:
    assert Config.from_env({**ENV, INFLUXDB_CA_VARIABLE: PEM}).influxdb_ca_certificate == PEM.strip()
    assert Config.from_env({**ENV, INFLUXDB_CA_VARIABLE: ""}).influxdb_ca_certificate is None
    # what the influxdb stack exports with the managed store
    assert Config.from_env({**ENV, INFLUXDB_CA_VARIABLE: SYSTEM_ROOTS}).influxdb_ca_certificate is None
    assert Config.from_env(ENV).influxdb_ca_certificate is None


def test_a_ca_without_https_or_not_a_certificate_is_refused_at_start() -> None:
    with pytest.raises(ConfigError, match="not https"):
        Config.from_env({**ENV, "INFLUXDB_URL": "http://influx.demo:8086", INFLUXDB_CA_VARIABLE: PEM})
    with pytest.raises(ConfigError, match="PEM certificate"):
        Config.from_env({**ENV, INFLUXDB_CA_VARIABLE: "not a certificate"})


def _https_settings(pool: object) -> dict[str, object]:
    connections = pool.connection_from_url("https://influx.demo:8086")  # type: ignore[attr-defined]
    return {"cert_reqs": connections.cert_reqs, "ca_cert_data": connections.conn_kw.get("ca_cert_data")}


def test_every_pool_to_the_store_requires_a_verified_certificate() -> None:
    assert _https_settings(verified_pool(PEM)) == {"cert_reqs": "CERT_REQUIRED", "ca_cert_data": PEM}
    assert _https_settings(verified_pool(None)) == {"cert_reqs": "CERT_REQUIRED", "ca_cert_data": None}
    # The managed store's set-up step: AWS's certificate, against the system's roots.
    api = InfluxApi("https://store.example:8086", lambda: 30.0)
    assert _https_settings(api.pool)["cert_reqs"] in ("CERT_REQUIRED", ssl.CERT_REQUIRED)
