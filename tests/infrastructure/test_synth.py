"""Every stack synthesizes; the registry orders them without cycle; imports match their dependencies' exports."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from infrastructure import service_files
from infrastructure.checks import import_problems, imported_names
from infrastructure.registry import STACK_MODULES, RegistryError, StackDefinition, deploy_order

EXPECTED = {"network", "cluster", "storage", "edge", "influxdb", "grafana", "chronograf", "ingest", "webhook"}


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
    root = service_files.PROJECT_ROOT
    grafana = container(templates["grafana"])
    env = {item["Name"]: item["Value"] for item in grafana["Environment"]}
    provisioning = root / "services" / "grafana" / "provisioning" / "datasources" / "datasources.yaml"
    assert env["GRAFANA_DATASOURCES_YAML"] == provisioning.read_text()
    assert grafana["Command"] == ["sh", "-c", (root / "services" / "grafana" / "start.sh").read_text()]
    for path in (root / "grafana" / "dashboards").glob("*.json"):
        name = "GRAFANA_DASHBOARD_" + path.stem.upper().replace("-", "_")
        assert json.loads(env[name]) == json.loads(path.read_text())
    influx = {item["Name"]: item["Value"] for item in container(templates["influxdb"])["Environment"]}
    assert influx["INIT_INFLUXDB_SH"] == (root / "services" / "influxdb" / "init-influxdb.sh").read_text()


def test_a_new_dashboard_file_is_embedded(tmp_path: Path) -> None:
    (tmp_path / "grafana" / "dashboards").mkdir(parents=True)
    (tmp_path / "grafana" / "dashboards" / "new-board.json").write_text(
        '{"title": "New board",  "panels": []}'
    )
    assert service_files.dashboard_variables(tmp_path) == {
        "GRAFANA_DASHBOARD_NEW_BOARD": '{"title":"New board","panels":[]}'
    }


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(service_files.ServiceFilesError, match="cannot read"):
        service_files.embed("<text of services/nothing/here.sh>", tmp_path)


def container(template: dict[str, Any]) -> dict[str, Any]:
    (definition,) = [r for r in template["Resources"].values() if r["Type"] == "AWS::ECS::TaskDefinition"]
    (found,) = definition["Properties"]["ContainerDefinitions"]
    return found  # type: ignore[no-any-return]
