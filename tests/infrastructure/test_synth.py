"""Every stack synthesizes; the registry orders them without cycle; imports match their dependencies' exports."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from catalog.loader import DEFAULT_FOLDER, FOLDER_VARIABLE, PROJECT_ROOT
from infrastructure import service_files
from infrastructure.checks import import_problems, imported_names
from infrastructure.cli import GOLDEN
from infrastructure.registry import STACK_MODULES, RegistryError, StackDefinition, deploy_order

# The reviewed templates name the stacks apart from the registry, so a stack added or dropped shows in both.
EXPECTED = {template.stem for template in GOLDEN.glob("*.json")}


def test_every_stack_synthesizes_with_environment_parameter(templates: dict[str, Any]) -> None:
    assert set(templates) == EXPECTED == set(STACK_MODULES)
    for name, template in templates.items():
        assert template["Resources"], name
        assert template["Parameters"]["EnvironmentName"]["Default"] == "demo"
        for output in template.get("Outputs", {}).values():
            assert output["Export"]["Name"]["Fn::Sub"].startswith(f"${{EnvironmentName}}-{name}-")


def test_order_puts_every_stack_after_its_dependencies(stacks: dict[str, StackDefinition]) -> None:
    order = deploy_order(stacks)
    for name, stack in stacks.items():
        assert all(order.index(dependency) < order.index(name) for dependency in stack.depends_on)


def test_a_cycle_is_refused(stacks: dict[str, StackDefinition]) -> None:
    looped = dict(stacks)
    looped["network"] = StackDefinition("network", stacks["network"].build, depends_on=("ingest",))
    with pytest.raises(RegistryError, match="cycle"):
        deploy_order(looped)


def test_every_import_is_an_export_of_a_declared_dependency(
    stacks: dict[str, StackDefinition], templates: dict[str, Any]
) -> None:
    assert sum(len(imported_names(t)) for t in templates.values()) > 30
    assert import_problems(stacks, templates) == []


def test_the_import_check_finds_a_drifted_name_and_an_undeclared_dependency(
    stacks: dict[str, StackDefinition], templates: dict[str, Any]
) -> None:
    broken = copy.deepcopy(templates)
    text = json.dumps(broken["storage"]).replace(
        "${EnvironmentName}-network-VpcId", "${EnvironmentName}-network-Vpc"
    )
    broken["storage"] = json.loads(text)
    undeclared = dict(stacks)
    undeclared["chronograf"] = StackDefinition(
        "chronograf", stacks["chronograf"].build, depends_on=("network",)
    )
    problems = import_problems(undeclared, broken)
    assert "storage: imports ${EnvironmentName}-network-Vpc, which network does not export" in problems
    assert any(p.startswith("chronograf: imports ${EnvironmentName}-influxdb-") for p in problems)


def test_service_files_flow_into_the_task_definitions(templates: dict[str, Any]) -> None:
    """The files under services/ and grafana/dashboards/ are embedded as they are at synth time."""
    root = PROJECT_ROOT
    grafana = container(templates["grafana"])
    env = {item["Name"]: item["Value"] for item in grafana["Environment"]}
    provisioning = root / "services" / "grafana" / "provisioning" / "datasources" / "datasources.yaml"
    assert env["GRAFANA_DATASOURCES_YAML"] == provisioning.read_text()
    assert grafana["Command"] == ["sh", "-c", (root / "services" / "grafana" / "start.sh").read_text()]
    assert not [name for name in env if name.startswith("GRAFANA_DASHBOARD_")]  # they come from S3
    influx = {item["Name"]: item["Value"] for item in container(templates["influxdb"])["Environment"]}
    assert influx["INIT_INFLUXDB_SH"] == (root / "services" / "influxdb" / "init-influxdb.sh").read_text()


def test_a_new_kind_s_dashboard_is_among_the_files_the_deploy_stores(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for path in DEFAULT_FOLDER.glob("*.yaml"):
        shutil.copy(path, tmp_path)
    kind = yaml.safe_load((DEFAULT_FOLDER / "pressure.yaml").read_text())
    kind.update(name="boiler", topic="/boiler/data", measurement="boiler")
    kind["dashboard"].update(uid="boiler", title="Boiler")
    (tmp_path / "boiler.yaml").write_text(yaml.safe_dump(kind))
    monkeypatch.setenv(FOLDER_VARIABLE, str(tmp_path))
    files = service_files.dashboard_files()
    assert set(files) == {
        "boiler.json",
        "button-presses.json",
        "ingest-health.json",
        "pressure-viscosity.json",
        "shelf-activity.json",
    }
    assert json.loads(files["boiler.json"])["title"] == "Boiler"


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(service_files.ServiceFilesError, match="cannot read"):
        service_files.embed("<text of services/nothing/here.sh>", tmp_path)


def container(template: dict[str, Any]) -> dict[str, Any]:
    """The service's own container (not the init container that fetches files)."""
    (definition,) = [r for r in template["Resources"].values() if r["Type"] == "AWS::ECS::TaskDefinition"]
    (found,) = [c for c in definition["Properties"]["ContainerDefinitions"] if c["Essential"]]
    return found  # type: ignore[no-any-return]


def test_grafana_copies_its_dashboards_from_s3_before_it_starts(templates: dict[str, Any]) -> None:
    (definition,) = [
        r["Properties"]
        for r in templates["grafana"]["Resources"].values()
        if r["Type"] == "AWS::ECS::TaskDefinition"
    ]
    grafana, fetch = definition["ContainerDefinitions"]
    assert (fetch["Name"], fetch["Essential"]) == ("fetch-files", False)
    assert fetch["Image"].startswith("public.ecr.aws/aws-cli/aws-cli:")
    assert fetch["Command"][:2] == ["s3", "cp"] and "--recursive" in fetch["Command"]
    assert grafana["DependsOn"] == [{"ContainerName": "fetch-files", "Condition": "SUCCESS"}]
    mounts = {m["SourceVolume"]: m for m in grafana["MountPoints"]}
    assert mounts["fetched"] == {
        "SourceVolume": "fetched",
        "ContainerPath": "/var/lib/grafana/dashboards/iot-telemetry",
        "ReadOnly": True,
    }
    provider = yaml.safe_load(
        (PROJECT_ROOT / "services/grafana/provisioning/dashboards/dashboards.yaml").read_text()
    )
    assert provider["providers"][0]["options"]["path"] == mounts["fetched"]["ContainerPath"]
    assert {"Name": "fetched"} in definition["Volumes"]
    assert set(templates["grafana"]["Parameters"]) >= {"ProvisioningBucket", "DashboardsPrefix"}


def test_every_task_definition_stays_well_under_ecs_s_limit(templates: dict[str, Any]) -> None:
    """ECS refuses a task definition above 64 KiB; 48 KiB leaves room to grow."""
    sizes = {
        f"{stack}.{logical}": len(json.dumps(resource["Properties"]).encode())
        for stack, template in templates.items()
        for logical, resource in template["Resources"].items()
        if resource["Type"] == "AWS::ECS::TaskDefinition"
    }
    assert len(sizes) == 3
    assert {name: size for name, size in sizes.items() if size >= 48 * 1024} == {}
