"""The ECS InfluxDB's TLS: a CA the deploy tool makes once per environment and keeps in Secrets Manager, and the
server certificate it signs for the Cloud Map name `influx.<env>` (and 127.0.0.1, where the task's own start-up
script and health check reach it).

Why this CA and not AWS Private CA (prices in benchmarks/prices.yaml, docs/deploying.md "TLS to InfluxDB"):
a general-purpose private CA costs $400 a month, more than the whole fixed part of a deployment (docs/cost.md);
a short-lived-mode CA costs $50 a month, and its certificates live at most 7 days, so the one InfluxDB task
would need a new certificate and a restart every week. Two secrets cost $0.80 a month, and the certificate is
renewed by the deploy tool whenever it finds it expiring within RENEW_DAYS.

Two secrets, encrypted with the data key (the network stack's), so that each reader gets only what it needs:
- `<env>/influxdb/ca` {"certificate", "private_key"}: only the deploy tool reads it (to sign a new server
  certificate under the same CA, so the clients' trust does not change).
- `<env>/influxdb/tls` {"ca_certificate", "certificate", "private_key"}: the influxdb task's execution role reads
  it (services/influxdb/task.yaml). The clients get the CA certificate, which is public, through the influxdb
  stack's `CaCertificate` export: the functions' environment, Grafana's data source and Chronograf.
"""

from __future__ import annotations

import datetime
import json
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError
from cryptography import x509

from infrastructure.certificate_authority import issue_server, new_authority

RENEW_DAYS = 30  # a server certificate that expires sooner is replaced by the next deploy
HOST_PREFIX = "influx"  # the Cloud Map service's name in the environment's namespace (influxdb_ecs.py)
LOOPBACK = "127.0.0.1"  # start.sh's wait for /ping, init-influxdb.sh's CLI and the container health check
CA_COMMON_NAME = "IoT telemetry InfluxDB CA ({environment})"


def host_name(environment: str) -> str:
    """The Cloud Map name the clients reach InfluxDB by: the certificate's first SAN."""
    return f"{HOST_PREFIX}.{environment}"


def ca_secret_name(environment: str) -> str:
    return f"{environment}/influxdb/ca"


def tls_secret_name(environment: str) -> str:
    return f"{environment}/influxdb/tls"


@dataclass(frozen=True)
class InfluxTls:
    tls_secret_arn: str  # the task's secret (server certificate, key, CA certificate)
    ca_certificate: str  # PEM, for the clients


def _get(client: Any, name: str) -> tuple[str, dict[str, str]] | None:
    try:
        answer = client.get_secret_value(SecretId=name)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
            return None
        raise
    return str(answer["ARN"]), json.loads(answer["SecretString"])


def _put(
    client: Any, name: str, value: dict[str, str], kms_key_id: str | None, description: str, exists: bool
) -> str:
    text = json.dumps(value)
    if exists:
        return str(client.put_secret_value(SecretId=name, SecretString=text)["ARN"])
    key = {"KmsKeyId": kms_key_id} if kms_key_id else {}
    return str(client.create_secret(Name=name, Description=description, SecretString=text, **key)["ARN"])


def _still_good(value: dict[str, str], ca_pem: str, names: list[str], now: datetime.datetime) -> bool:
    """The server certificate is this CA's, names the host and lives more than RENEW_DAYS."""
    try:
        certificate = x509.load_pem_x509_certificate(value["certificate"].encode())
        authority = x509.load_pem_x509_certificate(ca_pem.encode())
    except (KeyError, ValueError):
        return False
    if value.get("ca_certificate") != ca_pem or certificate.issuer != authority.subject:
        return False
    try:
        certificate.verify_directly_issued_by(authority)
        san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (ValueError, TypeError, x509.ExtensionNotFound):
        return False
    if san.get_values_for_type(x509.DNSName)[: len(names)] != names:
        return False
    return certificate.not_valid_after_utc - now > datetime.timedelta(days=RENEW_DAYS)


def ensure(
    client: Any, environment: str, kms_key_id: str | None, now: datetime.datetime | None = None
) -> InfluxTls:
    """The environment's CA and InfluxDB's server certificate, made when missing and renewed when expiring;
    `client` is a Secrets Manager client, `kms_key_id` the key new secrets are encrypted with (None: the account's
    default key, as the tests that play the task without the stacks)."""
    now = now or datetime.datetime.now(datetime.UTC)
    ca_found = _get(client, ca_secret_name(environment))
    if ca_found is None:
        certificate, key = new_authority(CA_COMMON_NAME.format(environment=environment))
        ca = {"certificate": certificate.decode(), "private_key": key.decode()}
        _put(
            client,
            ca_secret_name(environment),
            ca,
            kms_key_id,
            "CA of InfluxDB's TLS certificate (the deploy tool signs with it; nothing else reads it)",
            exists=False,
        )
    else:
        ca = ca_found[1]
    names = [host_name(environment)]
    tls_found = _get(client, tls_secret_name(environment))
    if tls_found is not None and _still_good(tls_found[1], ca["certificate"], names, now):
        return InfluxTls(tls_found[0], ca["certificate"])
    server, server_key = issue_server(
        ca["certificate"].encode(), ca["private_key"].encode(), names, [LOOPBACK]
    )
    arn = _put(
        client,
        tls_secret_name(environment),
        {
            "ca_certificate": ca["certificate"],
            "certificate": server.decode(),
            "private_key": server_key.decode(),
        },
        kms_key_id,
        "InfluxDB's TLS certificate and key for its Cloud Map name, and their CA (the influxdb task reads it)",
        exists=tls_found is not None,
    )
    return InfluxTls(arn, ca["certificate"])
