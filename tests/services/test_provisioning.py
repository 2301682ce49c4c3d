"""The provisioning files and task settings agree with each other, with the dashboards, and with the stacks."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from grafana import build, model
from grafana.names import CLOUDWATCH_DATASOURCE_UID, INFLUXDB_DATASOURCE_NAME, INFLUXDB_DATASOURCE_UID

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ROOT / "services"
DATASOURCES = SERVICES / "grafana" / "provisioning" / "datasources" / "datasources.yaml"
DASHBOARDS = SERVICES / "grafana" / "provisioning" / "dashboards" / "dashboards.yaml"


def _yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def _start(script: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """A service's start script under `sh`, with only `env`; what it printed, and its status."""
    return subprocess.run(
        ["sh", str(script), *args], env=env, capture_output=True, text=True, timeout=30, check=False
    )


def _task(service: str) -> dict[str, Any]:
    task: dict[str, Any] = _yaml(SERVICES / service / "task.yaml")
    return task


def test_data_sources_are_the_ones_the_dashboards_use() -> None:
    sources = {s["uid"]: s for s in _yaml(DATASOURCES)["datasources"]}
    assert set(sources) == {INFLUXDB_DATASOURCE_UID, CLOUDWATCH_DATASOURCE_UID}
    influx = sources[INFLUXDB_DATASOURCE_UID]
    assert (influx["name"], influx["type"], influx["editable"]) == (
        INFLUXDB_DATASOURCE_NAME,
        "influxdb",
        False,
    )
    used = {p.datasource_type for d in model.load() for p in d.panels}
    assert used == {s["type"] for s in sources.values()}


def test_every_variable_the_provisioning_reads_is_set_by_the_task() -> None:
    task = _task("grafana")
    # INFLUXDB_AUTHORIZATION: made by start.sh from the reader's secret (INFLUXDB_READER).
    provided = set(task["environment"]) | set(task["secrets"]) | {"INFLUXDB_AUTHORIZATION"}
    text = "\n".join(
        line for line in DATASOURCES.read_text().splitlines() if not line.lstrip().startswith("#")
    )
    referenced = set(re.findall(r"\$\{?([A-Z_][A-Z0-9_]*)", text))
    assert referenced == {
        "INFLUXDB_URL",
        "INFLUXDB_DATABASE",
        "INFLUXDB_AUTHORIZATION",
        "INFLUXDB_CA_CERTIFICATE",
        "AWS_REGION",
    }
    assert referenced <= provided
    assert "password" not in json.dumps(task["environment"]).lower(), "passwords come from secrets only"


def test_services_reach_influxdb_by_the_stack_s_url_export() -> None:
    assert _task("influxdb")["port"] == 8086
    # ${InfluxdbUrl}: the influxdb stack's Url export, the Cloud Map name or the managed store's endpoint.
    assert _task("grafana")["environment"]["INFLUXDB_URL"] == "${InfluxdbUrl}"
    assert _task("chronograf")["environment"]["INFLUXDB_URL"] == "${InfluxdbUrl}"
    for service in ("grafana", "chronograf"):  # and verify it with the CA the stack exports
        assert _task(service)["environment"]["INFLUXDB_CA_CERTIFICATE"] == "${InfluxdbCaCertificate}"
    for service in ("grafana", "chronograf"):
        secrets = _task(service)["secrets"]
        assert {v.split(":")[0] for k, v in secrets.items() if "INFLUXDB" in k} == {
            "${EnvironmentName}/influxdb/reader"
        }


def test_sub_paths_and_security() -> None:
    grafana = _task("grafana")["environment"]
    assert grafana["GF_SERVER_ROOT_URL"].endswith("/grafana/")
    assert grafana["GF_SERVER_SERVE_FROM_SUB_PATH"] == "true"
    assert grafana["GF_AUTH_ANONYMOUS_ENABLED"] == "false"
    assert "GF_SECURITY_ADMIN_PASSWORD" in _task("grafana")["secrets"]
    assert _task("chronograf")["environment"]["BASE_PATH"] == "/chronograf"
    assert _task("influxdb")["environment"]["INFLUXDB_HTTP_AUTH_ENABLED"] == "true"


@pytest.mark.processes  # runs the service's start script under sh
def test_grafana_start_writes_provisioning_and_finds_the_fetched_dashboards(tmp_path: Path) -> None:
    """Runs the container command with the variables the task sets, the dashboards as the init container leaves
    them, and a stand-in for the image's /run.sh."""
    provider = _yaml(DASHBOARDS)["providers"][0]
    run = tmp_path / "run.sh"
    run.write_text('#!/bin/sh\necho "grafana started with $*"\n')
    run.chmod(0o755)
    dashboards_dir = tmp_path / "dashboards"
    env = {
        "PATH": os.environ["PATH"],
        "GRAFANA_DATASOURCES_YAML": DATASOURCES.read_text(),
        "GRAFANA_DASHBOARDS_YAML": DASHBOARDS.read_text(),
        "INFLUXDB_READER": '{"username": "reader", "password": "p"}',
        "GF_PATHS_PROVISIONING": str(tmp_path / "provisioning"),
        "GRAFANA_DASHBOARDS_DIR": str(dashboards_dir),
        "GRAFANA_RUN": str(run),
    }
    dashboards_dir.mkdir()
    for path in sorted(build.DASHBOARDS_DIR.glob("*.json")):
        (dashboards_dir / path.name).write_text(path.read_text())
    script = SERVICES / "grafana" / "start.sh"
    result = _start(script, env, "--flag")
    assert result.returncode == 0, result.stderr
    assert "grafana started with --flag" in result.stdout
    assert (
        tmp_path / "provisioning" / "datasources" / "datasources.yaml"
    ).read_text().strip() == DATASOURCES.read_text().strip()
    assert f"{len(list(build.DASHBOARDS_DIR.glob('*.json')))} dashboards in" in result.stdout
    # The provider reads the folder the script checks by default on ECS.
    assert f"dashboards=${{GRAFANA_DASHBOARDS_DIR:-{provider['options']['path']}}}" in script.read_text()

    for path in dashboards_dir.glob("*.json"):
        path.unlink()
    refused = _start(script, env)
    assert refused.returncode == 1 and "fetch-files container copies them from S3" in refused.stderr


@pytest.mark.processes  # runs the service's start script under sh
def test_grafana_verifies_the_ecs_store_against_its_ca_and_the_managed_store_against_the_roots(
    tmp_path: Path,
) -> None:
    """With the CA (the ECS store) the data source trusts it; without (the managed store) the system's roots."""
    run = tmp_path / "run.sh"
    run.write_text("#!/bin/sh\ntrue\n")
    run.chmod(0o755)
    dashboards_dir = tmp_path / "dashboards"
    dashboards_dir.mkdir()
    (dashboards_dir / "a.json").write_text("{}")
    pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----"
    for ca, trusted in ((pem, True), ("system-roots", False), ("", False)):
        provisioning = tmp_path / f"provisioning-{trusted}-{len(ca)}"
        env = {
            "PATH": os.environ["PATH"],
            "GRAFANA_DATASOURCES_YAML": DATASOURCES.read_text(),
            "GRAFANA_DASHBOARDS_YAML": DASHBOARDS.read_text(),
            "INFLUXDB_READER": '{"username": "reader", "password": "p"}',
            "INFLUXDB_CA_CERTIFICATE": ca,
            "GF_PATHS_PROVISIONING": str(provisioning),
            "GRAFANA_DASHBOARDS_DIR": str(dashboards_dir),
            "GRAFANA_RUN": str(run),
        }
        result = _start(SERVICES / "grafana" / "start.sh", env)
        assert result.returncode == 0, result.stderr
        (influx,) = [
            d
            for d in _yaml(provisioning / "datasources" / "datasources.yaml")["datasources"]
            if d["type"] == "influxdb"
        ]
        assert influx["jsonData"]["tlsAuthWithCACert"] is trusted
        assert influx["jsonData"]["tlsSkipVerify"] is False
        assert influx["secureJsonData"]["tlsCACert"] == "$INFLUXDB_CA_CERTIFICATE"  # Grafana expands it


@pytest.mark.processes  # runs the service's start script under sh
def test_chronograf_adds_the_store_s_ca_to_go_s_roots(tmp_path: Path) -> None:
    run = tmp_path / "chronograf"
    run.write_text(
        '#!/bin/sh\necho "SSL_CERT_DIR=$SSL_CERT_DIR"\ncat "${SSL_CERT_DIR%%:*}/influxdb-ca.pem"\n'
    )
    run.chmod(0o755)
    pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----"
    env = {
        "PATH": os.environ["PATH"],
        "TMPDIR": str(tmp_path),
        "INFLUXDB_READER": '{"username": "reader", "password": "p"}',
        "INFLUXDB_CA_CERTIFICATE": pem,
        "CHRONOGRAF_RUN": str(run),
    }
    result = _start(SERVICES / "chronograf" / "start.sh", env)
    assert result.returncode == 0, result.stderr
    # The store's CA beside the system's roots (the OAuth provider's certificate is a public one).
    assert f"SSL_CERT_DIR={tmp_path}/influxdb-ca:/etc/ssl/certs" in result.stdout
    assert pem in result.stdout


# -- against the synthesized stacks ---------------------------------------------------------------------------------
def _containers(template: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        c
        for r in template["Resources"].values()
        if r["Type"] == "AWS::ECS::TaskDefinition"
        for c in r["Properties"]["ContainerDefinitions"]
        if c["Essential"]  # not an init container
    ]


def _template(templates: dict[str, Any], stack: str) -> dict[str, Any]:
    matches = [t for name, t in templates.items() if name == stack or name.endswith(f"-{stack}")]
    assert len(matches) == 1, f"no single template for stack {stack}: {sorted(templates)}"
    found: dict[str, Any] = matches[0]
    return found


@pytest.mark.parametrize("service", ["influxdb", "grafana", "chronograf"])
def test_task_definitions_set_what_the_services_need(templates: dict[str, Any], service: str) -> None:
    task = _task(service)
    (container,) = _containers(_template(templates, service))
    ports = [m["ContainerPort"] for m in container.get("PortMappings", [])]
    assert ports == [task["port"]]
    environment = {e["Name"] for e in container.get("Environment", [])}
    secrets = {s["Name"] for s in container.get("Secrets", [])}
    assert set(task["environment"]) <= environment, set(task["environment"]) - environment
    assert set(task["secrets"]) <= secrets, set(task["secrets"]) - secrets


def test_influxdb_is_named_influx_in_cloud_map(templates: dict[str, Any]) -> None:
    text = json.dumps(_template(templates, "influxdb"))
    assert '"Name": "influx"' in text and "AWS::ServiceDiscovery::Service" in text


def test_the_influxdb_task_passes_the_catalog_s_downsampling_to_the_start_up_script() -> None:
    from catalog import load_catalog
    from catalog.export import downsampled
    from infrastructure import service_files

    environment = service_files.load("influxdb").environment
    assert environment["INFLUXDB_DOWNSAMPLED"] == downsampled(load_catalog())
    assert "INFLUXDB_DOWNSAMPLED" in (SERVICES / "influxdb" / "init-influxdb.sh").read_text()
