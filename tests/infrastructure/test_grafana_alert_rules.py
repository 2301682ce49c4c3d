"""Grafana's alerting on the synthesized grafana stack: the provisioning files the task hands over are the committed
ones, the contact point's topic is the stack's, and publishing to it is the task role's only new permission."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from grafana import alert_rules
from infrastructure.stacks import grafana as grafana_stack

ROOT = Path(__file__).resolve().parents[2]
START = ROOT / "services" / "grafana" / "start.sh"


def of_type(template: dict[str, Any], kind: str) -> dict[str, Any]:
    return {k: v["Properties"] for k, v in template["Resources"].items() if v["Type"] == kind}


def container(template: dict[str, Any]) -> dict[str, Any]:
    """The grafana container (a task may also have init containers)."""
    (definition,) = of_type(template, "AWS::ECS::TaskDefinition").values()
    (found,) = (c for c in definition["ContainerDefinitions"] if c["Name"] == "grafana")
    return dict(found)


def role_policies(template: dict[str, Any]) -> list[dict[str, Any]]:
    return list(of_type(template, "AWS::IAM::Role")["GrafanaTaskRole"]["Policies"])


def task_statements(template: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for policy in role_policies(template) for s in policy["PolicyDocument"]["Statement"]]


def test_the_alert_topic_is_encrypted_and_mailed_to_the_address_given(templates: dict[str, Any]) -> None:
    grafana = templates["grafana"]
    topic = of_type(grafana, "AWS::SNS::Topic")["AlertTopic"]
    assert topic["KmsMasterKeyId"] and topic["TopicName"] == {"Fn::Sub": "${EnvironmentName}-grafana-alerts"}
    (subscription,) = (r for r in grafana["Resources"].values() if r["Type"] == "AWS::SNS::Subscription")
    assert subscription["Condition"] == "HasAlertEmail"
    assert subscription["Properties"]["Endpoint"] == {"Ref": "AlertEmail"}
    assert grafana["Parameters"]["AlertEmail"]["Default"] == ""
    assert grafana["Outputs"]["AlertTopicArn"]["Value"] == {"Ref": "AlertTopic"}


def test_publishing_to_that_topic_is_the_task_roles_only_new_permission(
    templates: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(grafana_stack, "add_alerting", lambda template: None)
    without = json.loads(grafana_stack.build().to_json())
    before, after = task_statements(without), task_statements(templates["grafana"])
    new = [s for s in after if s not in before]
    assert len(after) == len(before) + 1 and new == [
        {"Action": ["sns:Publish"], "Effect": "Allow", "Resource": [{"Ref": "AlertTopic"}]}
    ]
    (policy,) = (p for p in role_policies(templates["grafana"]) if "sns:Publish" in str(p))
    assert policy["PolicyName"] == "publish-alerts", "a policy of its own, easy to audit"
    roles = set(of_type(templates["grafana"], "AWS::IAM::Role"))
    assert roles == set(of_type(without, "AWS::IAM::Role")), "no new role"


def test_the_task_hands_grafana_the_committed_alerting_files(templates: dict[str, Any]) -> None:
    environment = {e["Name"]: e["Value"] for e in container(templates["grafana"])["Environment"]}
    handed = {
        name.removeprefix("GRAFANA_ALERTING_").lower().replace("_", "-") + ".yaml": value
        for name, value in environment.items()
        if name.startswith("GRAFANA_ALERTING_")
    }
    committed = {p.name: p.read_text() for p in alert_rules.ALERTING_DIR.glob("*.yaml")}
    assert handed == alert_rules.generate(), "the rules of the catalog in use, generated at synth"
    assert committed == alert_rules.generate(), "run 'python -m grafana.alert_rules'"
    assert environment["ALERT_TOPIC_ARN"]["Fn::Sub"][0] == "${AlertTopic}"
    # Every variable the contact point reads is one the task sets.
    points = committed[alert_rules.CONTACT_POINTS_FILE]
    read = set(re.findall(r"\$\{?([A-Z_][A-Z0-9_]*)", points))
    assert read == {alert_rules.TOPIC_ARN_VARIABLE, alert_rules.REGION_VARIABLE} and read <= set(environment)
    # Grafana interpolates $NAME in labels: none may hold a "$" (queries and annotations are not interpolated).
    rules = yaml.safe_load(committed[alert_rules.RULES_FILE])
    assert all("$" not in str(r["labels"]) for g in rules["groups"] for r in g["rules"])


def test_start_writes_the_alerting_files_where_grafana_reads_them(tmp_path: Path) -> None:
    run = tmp_path / "run.sh"
    run.write_text("#!/bin/sh\necho started\n")
    run.chmod(0o755)
    provisioning = tmp_path / "provisioning"
    (provisioning / "alerting").mkdir(parents=True)
    (provisioning / "alerting" / "removed.yaml").write_text("apiVersion: 1\n")
    # A dashboard where Grafana's provider reads them, and in a variable: however the task delivers them.
    (tmp_path / "dashboards").mkdir()
    (tmp_path / "dashboards" / "one.json").write_text("{}")
    env = {
        "PATH": os.environ["PATH"],
        "GRAFANA_DATASOURCES_YAML": "apiVersion: 1",
        "GRAFANA_DASHBOARDS_YAML": "apiVersion: 1",
        "GRAFANA_DASHBOARD_ONE": "{}",
        "INFLUXDB_READER": '{"username": "reader", "password": "p"}',
        "GF_PATHS_PROVISIONING": str(provisioning),
        "GRAFANA_DASHBOARDS_DIR": str(tmp_path / "dashboards"),
        "GRAFANA_RUN": str(run),
    }
    for path in alert_rules.ALERTING_DIR.glob("*.yaml"):
        env[f"GRAFANA_ALERTING_{path.stem.upper().replace('-', '_')}"] = path.read_text()
    result = subprocess.run(
        ["sh", str(START)], env=env, capture_output=True, text=True, timeout=30, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "3 alerting provisioning files written" in result.stdout
    written = {p.name: p.read_text().strip() for p in (provisioning / "alerting").glob("*.yaml")}
    assert written == {p.name: p.read_text().strip() for p in alert_rules.ALERTING_DIR.glob("*.yaml")}
