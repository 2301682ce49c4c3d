"""The sandbox's influxd answers only over TLS, with a certificate of the sandbox's CA: every client verifies it,
and a client that trusts another CA is refused (as the functions, Grafana and Chronograf on AWS)."""

from __future__ import annotations

import ssl
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from ingest_to_influxdb.errors import InfluxUnavailable
from ingest_to_influxdb.influx_writer import InfluxWriter
from ingest_to_influxdb.secrets import Credentials

from infrastructure.certificate_authority import LocalCa
from reach.endpoints import Endpoints
from reach.influx import InfluxReader, QueryError


class _Fixed:
    def __init__(self, credentials: Credentials) -> None:
        self.credentials = credentials

    def get(self) -> Credentials:
        return self.credentials

    def refresh(self) -> None:
        pass


def _reader(endpoints: Endpoints, ca_file: str | None) -> InfluxReader:
    influx, reader = endpoints.influxdb, endpoints.influxdb.users.reader
    return InfluxReader(influx.url, influx.database, reader.username, reader.password, ca_file=ca_file)


def test_influxd_serves_https_and_verifies_against_the_sandbox_ca(endpoints: Endpoints) -> None:
    assert endpoints.influxdb.url.startswith("https://")
    assert endpoints.influxdb.ca_file is not None
    assert _reader(endpoints, endpoints.influxdb.ca_file).raw("SHOW MEASUREMENTS") is not None


def test_plain_http_gets_no_answer_from_influxd(endpoints: Endpoints) -> None:
    plain = endpoints.influxdb.url.replace("https://", "http://", 1)
    # Go's TLS server answers a plaintext request with 400 "Client sent an HTTP request to an HTTPS server".
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{plain}/ping", timeout=5)
    assert refused.value.code == 400


def test_a_client_trusting_another_ca_is_refused(endpoints: Endpoints, tmp_path: Path) -> None:
    other = LocalCa(tmp_path / "other-ca").ensure()
    with pytest.raises(QueryError, match=r"CERTIFICATE_VERIFY_FAILED|certificate verify failed"):
        _reader(endpoints, str(other.ca_file)).raw("SHOW MEASUREMENTS")
    with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):
        urllib.request.urlopen(
            f"{endpoints.influxdb.url}/ping",
            timeout=5,
            context=ssl.create_default_context(cafile=other.ca_file),
        )


def test_the_function_refuses_a_server_of_another_ca(endpoints: Endpoints, tmp_path: Path) -> None:
    writer = endpoints.influxdb.users.writer
    credentials = _Fixed(Credentials(username=writer.username, password=writer.password))
    other = LocalCa(tmp_path / "other-ca").ensure()
    refusing = InfluxWriter(
        endpoints.influxdb.url, "telemetry", credentials, retry_delays=(), ca_certificate=other.ca_pem
    )
    with pytest.raises(InfluxUnavailable, match="unreachable: SSLError"):
        refusing.write(["tls_probe,sensorID=x v=1"], lambda: 30.0)
    # Trusting the sandbox's CA the same request gets through TLS to influxd, which answers (a database the writer
    # may not write, so no test's data changes).
    trusting = InfluxWriter(
        endpoints.influxdb.url,
        "no_such_database",
        credentials,
        retry_delays=(),
        ca_certificate=Path(endpoints.influxdb.ca_file or "").read_text(),
    )
    with pytest.raises(InfluxUnavailable, match="InfluxDB answered 40"):
        trusting.write(["tls_probe,sensorID=x v=1"], lambda: 30.0)
