"""InfluxDB's TLS on AWS: the deploy tool's CA and certificate (in moto's Secrets Manager), and what the templates
make of them: an https Url, the task's certificate from its secret, every client given the CA to verify with."""

from __future__ import annotations

import datetime
import json
import uuid
from typing import Any

from cryptography import x509
from ingest_to_influxdb.constants import SYSTEM_ROOTS
from ingest_to_influxdb.environment import INFLUXDB_CA_CERTIFICATE as INFLUXDB_CA_VARIABLE

from infrastructure import influx_tls
from infrastructure.stacks import influxdb, influxdb_backup
from reach.endpoints import Endpoints
from tests.support.influx_task import secrets_client


def _certificate(pem: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate(pem.encode())


def _tls(client: Any, environment: str) -> dict[str, str]:
    value: dict[str, str] = json.loads(
        client.get_secret_value(SecretId=influx_tls.tls_secret_name(environment))["SecretString"]
    )
    return value


def test_the_deploy_tool_makes_a_ca_and_a_certificate_for_the_cloud_map_name(endpoints: Endpoints) -> None:
    client, environment = secrets_client(endpoints), f"t{uuid.uuid4().hex[:8]}"
    made = influx_tls.ensure(client, environment, kms_key_id=None)
    value = _tls(client, environment)
    server, ca = _certificate(value["certificate"]), _certificate(made.ca_certificate)
    server.verify_directly_issued_by(ca)
    names = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == [f"influx.{environment}"]
    assert [str(ip) for ip in names.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    assert value["ca_certificate"] == made.ca_certificate
    assert "private_key" in value and "PRIVATE KEY" in value["private_key"]
    # The CA's key is in a secret of its own, which only the deploy tool reads.
    ca_secret = json.loads(
        client.get_secret_value(SecretId=influx_tls.ca_secret_name(environment))["SecretString"]
    )
    assert "PRIVATE KEY" in ca_secret["private_key"] and "private_key" not in made.ca_certificate

    again = influx_tls.ensure(client, environment, kms_key_id=None)
    assert again == made and _tls(client, environment) == value  # a second deploy changes nothing


def test_an_expiring_certificate_is_renewed_under_the_same_ca(endpoints: Endpoints) -> None:
    client, environment = secrets_client(endpoints), f"t{uuid.uuid4().hex[:8]}"
    first = influx_tls.ensure(client, environment, kms_key_id=None)
    before = _tls(client, environment)
    expiry = _certificate(before["certificate"]).not_valid_after_utc
    soon = expiry - datetime.timedelta(days=influx_tls.RENEW_DAYS - 1)
    renewed = influx_tls.ensure(client, environment, kms_key_id=None, now=soon)
    after = _tls(client, environment)
    assert renewed.ca_certificate == first.ca_certificate  # the clients' trust does not change
    assert after["certificate"] != before["certificate"]
    _certificate(after["certificate"]).verify_directly_issued_by(_certificate(first.ca_certificate))


# -- the templates -----------------------------------------------------------------------------------------------
def _resources(template: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [r for r in template["Resources"].values() if r["Type"] == kind]


def test_the_url_export_is_https_to_the_certificate_s_name(templates: dict[str, Any]) -> None:
    outputs = templates["influxdb"]["Outputs"]
    url = json.dumps(outputs["Url"]["Value"])
    assert "https://influx.${EnvironmentName}:8086" in url and "http://" not in url
    ca = outputs["CaCertificate"]["Value"]
    assert ca == {
        "Fn::If": [influxdb.IS_MANAGED_STORE, SYSTEM_ROOTS, {"Ref": influxdb.CA_CERTIFICATE_PARAMETER}]
    }


def test_the_task_takes_its_certificate_from_the_tls_secret_and_checks_health_over_https(
    templates: dict[str, Any],
) -> None:
    template = templates["influxdb"]
    assert {influxdb.TLS_SECRET_PARAMETER, influxdb.CA_CERTIFICATE_PARAMETER} <= set(template["Parameters"])
    (definition,) = _resources(template, "AWS::ECS::TaskDefinition")
    containers = {c["Name"]: c for c in definition["Properties"]["ContainerDefinitions"]}
    influx = containers["influxdb"]
    secrets = {s["Name"]: json.dumps(s["ValueFrom"]) for s in influx["Secrets"]}
    for name, key in (
        ("INFLUXDB_TLS_CERTIFICATE", "certificate"),
        ("INFLUXDB_TLS_PRIVATE_KEY", "private_key"),
        ("INFLUXDB_TLS_CA_CERTIFICATE", "ca_certificate"),
    ):
        assert influxdb.TLS_SECRET_PARAMETER in secrets[name] and f":{key}::" in secrets[name], name
    assert "https://127.0.0.1:8086/ping" in " ".join(influx["HealthCheck"]["Command"])
    assert "--cacert" in " ".join(influx["HealthCheck"]["Command"])
    # The backup container verifies influxd too: the CA only, never the server's key.
    backup = {s["Name"] for s in containers[influxdb_backup.BACKUP_CONTAINER]["Secrets"]}
    assert "INFLUXDB_TLS_CA_CERTIFICATE" in backup and "INFLUXDB_TLS_PRIVATE_KEY" not in backup
    # Only the task's execution role may read the secret.
    roles = json.dumps(_resources(template, "AWS::IAM::Role"))
    assert roles.count(f'"Ref": "{influxdb.TLS_SECRET_PARAMETER}"') == 1


def test_every_client_is_given_the_ca_to_verify_with(templates: dict[str, Any]) -> None:
    export = {"Fn::ImportValue": {"Fn::Sub": influxdb.CA_CERTIFICATE.template_name}}
    for stack in ("ingest", "webhook"):
        functions = [
            f
            for f in _resources(templates[stack], "AWS::Lambda::Function")
            if "INFLUXDB_URL" in f["Properties"].get("Environment", {}).get("Variables", {})
        ]
        assert functions, stack
        for function in functions:
            assert function["Properties"]["Environment"]["Variables"][INFLUXDB_CA_VARIABLE] == export, stack
    for stack in ("grafana", "chronograf"):
        assert json.dumps(export) in json.dumps(templates[stack]), stack
