"""The alert rules as code: generated from the catalog, committed up to date, and Grafana's expressions as Grafana
evaluates them (pure: no service needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from catalog import Catalog, load_catalog, parse_kind
from catalog.loader import PROJECT_ROOT
from grafana import alert_check, alert_rules
from grafana.names import INFLUXDB_DATASOURCE_UID
from tests.support.alert_kinds import kind

DATASOURCES = PROJECT_ROOT / "services" / "grafana" / "provisioning" / "datasources" / "datasources.yaml"


def catalog_of(*kinds: dict[str, Any]) -> Catalog:
    return Catalog(folder=Path(), kinds=tuple(parse_kind(k, k["name"]) for k in kinds))


def test_committed_files_are_up_to_date() -> None:
    assert alert_rules.stale() == [], (
        "run 'python -m grafana.alert_rules' and commit services/grafana/provisioning/alerting/"
    )


def test_check_mode_reports_a_changed_and_a_left_over_file(tmp_path: Path) -> None:
    for name, text in alert_rules.generate().items():
        (tmp_path / name).write_text(text)
    assert alert_rules.stale(tmp_path) == []
    (tmp_path / alert_rules.RULES_FILE).write_text("apiVersion: 1\n")
    (tmp_path / "old.yaml").write_text("{}\n")
    assert alert_rules.stale(tmp_path) == [alert_rules.RULES_FILE, "old.yaml"]


def test_a_threshold_rule_per_field_with_an_alert_and_a_silence_rule_per_kind() -> None:
    catalog = catalog_of(
        kind("tank", {"above": 90, "below": 10, "for_minutes": 3}, silent_after=4),
        kind("plain"),
    )
    found = {(r.kind.name, r.check, r.field) for r in alert_rules.rules(catalog)}
    assert found == {
        ("tank", "threshold", "level"),
        ("tank", "silent", "level"),
        ("plain", "silent", "level"),
    }
    groups = alert_rules.rules_file(catalog)["groups"]
    plain = next(g for g in groups if g["name"] == "plain")
    assert [r["labels"]["check"] for r in plain["rules"]] == ["silent"], "no threshold, no threshold rule"
    tank = {r["labels"]["check"]: r for r in next(g for g in groups if g["name"] == "tank")["rules"]}
    assert tank["threshold"]["for"] == "3m" and tank["silent"]["for"] == "0m"
    assert tank["threshold"]["data"][2]["model"]["conditions"][0]["evaluator"] == {
        "type": "outside_range",
        "params": [10, 90],
    }
    assert tank["threshold"]["data"][0]["relativeTimeRange"] == {"from": 240, "to": 0}
    assert "now() - 4m" in tank["silent"]["data"][0]["model"]["query"]
    plain_silent = plain["rules"][0]["data"][0]["model"]["query"]
    assert f"now() - {alert_rules.DEFAULT_SILENT_AFTER_MINUTES}m" in plain_silent


def test_each_alert_is_per_sensor_with_its_metadata_and_links_to_its_panel() -> None:
    rules = {
        r["uid"]: r
        for g in yaml.safe_load(alert_rules.generate()[alert_rules.RULES_FILE])["groups"]
        for r in g["rules"]
    }
    pressure = load_catalog().kind("pressure")
    assert pressure.fields["pressureValue"].alert is not None, "the demo needs the pressure threshold"
    rule = rules["pressure-pressurevalue-threshold"]
    query = rule["data"][0]["model"]["query"]
    for tag in ("sensorID", "manufacturer", "family", "component_id"):
        assert f'"{tag}"' in query.split("GROUP BY")[1]
    assert rule["dashboardUid"] == "pressure-viscosity" and rule["panelId"] == 1
    for item in rule["data"]:
        assert item["datasourceUid"] in {INFLUXDB_DATASOURCE_UID, alert_rules.EXPRESSION_DATASOURCE_UID}
    shelf = rules["shelf-silent"]
    assert '"product_id"' in shelf["data"][0]["model"]["query"], "a kind's own tags label its alerts too"


def test_the_data_source_the_rules_query_is_provisioned() -> None:
    uids = {s["uid"] for s in yaml.safe_load(DATASOURCES.read_text())["datasources"]}
    assert INFLUXDB_DATASOURCE_UID in uids


def test_contact_point_and_policy() -> None:
    (point,) = alert_rules.contact_points_file()["contactPoints"]
    (receiver,) = point["receivers"]
    assert receiver["type"] == "sns"
    assert receiver["settings"]["topic_arn"] == "$ALERT_TOPIC_ARN"
    assert "access_key" not in receiver["settings"]["sigv4"], "credentials come from the task role"
    (policy,) = alert_rules.policies_file()["policies"]
    assert policy["receiver"] == point["name"]


def test_long_names_give_uids_grafana_accepts() -> None:
    long = "k" * 40
    rules = alert_rules.rules(catalog_of(kind(long, {"above": 1, "for_minutes": 1})))
    assert all(len(r.uid) <= 40 for r in rules) and len({r.uid for r in rules}) == 2


# -- Grafana's expressions ------------------------------------------------------------------------------------------
def test_time_filter_is_grafanas() -> None:
    from datetime import UTC, datetime

    at = datetime(2026, 1, 1, tzinfo=UTC)
    ms = int(at.timestamp() * 1000)
    assert (
        alert_check.time_filter(at, {"from": 600, "to": 0}) == f"time >= {ms - 600_000}ms and time <= {ms}ms"
    )


@pytest.mark.parametrize(
    ("values", "reducer", "mode", "expected"),
    [
        ([1.0, None, 3.0], "last", "dropNN", 3.0),
        ([1.0, 3.0, None], "last", "dropNN", 3.0),
        ([1.0, 3.0, None], "last", "strict", None),
        ([1.0, None], "sum", "replaceNN", 1.0),
        ([2.0, 4.0], "mean", "dropNN", 3.0),
        ([2.0, 4.0], "min", "dropNN", 2.0),
        ([2.0, 4.0], "max", "dropNN", 4.0),
        ([None, None], "count", "dropNN", 0.0),
        ([None], "last", "dropNN", None),
    ],
)
def test_reduce(values: list[float | None], reducer: str, mode: str, expected: float | None) -> None:
    assert alert_check.reduce(values, reducer, {"mode": mode}) == expected


@pytest.mark.parametrize(
    ("value", "evaluator", "expected"),
    [
        (1401.0, {"type": "gt", "params": [1400]}, 1.0),
        (1400.0, {"type": "gt", "params": [1400]}, 0.0),
        (0.0, {"type": "lt", "params": [1]}, 1.0),
        (5.0, {"type": "outside_range", "params": [10, 90]}, 1.0),
        (50.0, {"type": "outside_range", "params": [10, 90]}, 0.0),
        (50.0, {"type": "within_range", "params": [10, 90]}, 1.0),
        (None, {"type": "gt", "params": [1]}, None),
    ],
)
def test_threshold(value: float | None, evaluator: dict[str, Any], expected: float | None) -> None:
    assert alert_check.threshold(value, evaluator) == expected


def test_durations_and_an_unknown_expression_are_refused_clearly() -> None:
    assert [alert_check.parse_duration(t) for t in ("5m", "60s", "1h30m", "0s", "90")] == [
        300,
        60,
        5400,
        0,
        90,
    ]
    with pytest.raises(alert_check.RuleError, match="not a duration"):
        alert_check.parse_duration("five minutes")
    with pytest.raises(alert_check.RuleError, match="not gt, lt"):
        alert_check.threshold(1.0, {"type": "eq", "params": [1]})
