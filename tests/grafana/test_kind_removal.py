"""A kind removed from the catalog loses its dashboard and alert rules on the next deploy (its data stays).

Grafana keeps a provisioned alert rule that leaves the file and deletes only the uids listed under `deleteRules`
(grafana/grafana#67036); it deletes a provisioned dashboard whose file is gone only with `disableDeletion: false`.
No Grafana runs here: these tests hold the files Grafana is given to that behaviour.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from catalog import load_catalog
from catalog.loader import DEFAULT_FOLDER, PROJECT_ROOT
from grafana import alert_rules, build
from infrastructure import service_files
from tests.support.kind_files import catalog_copy

PROVIDER = PROJECT_ROOT / "services" / "grafana" / "provisioning" / "dashboards" / "dashboards.yaml"


@pytest.fixture
def without_shelf(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """device-kinds/ with the shelf kind removed, as the catalog in use."""
    folder = catalog_copy(tmp_path, monkeypatch)
    (folder / "shelf.yaml").unlink()
    return folder


def uids(document: dict[str, object], key: str) -> set[str]:
    if key == "deleteRules":
        return {str(entry["uid"]) for entry in document.get("deleteRules") or []}  # type: ignore[attr-defined]
    return {str(r["uid"]) for g in document["groups"] for r in g["rules"]}  # type: ignore[attr-defined]


def test_a_removed_kinds_rules_are_deleted_and_a_returning_kinds_are_not(
    without_shelf: Path, tmp_path: Path
) -> None:
    committed = alert_rules.ALERTING_DIR / alert_rules.RULES_FILE
    shelf_rules = {r.uid for r in alert_rules.rules(load_catalog(DEFAULT_FOLDER)) if r.kind.name == "shelf"}
    assert shelf_rules, "the shelf kind has a silence rule at least"

    after = yaml.safe_load(alert_rules.generate(previous=committed)[alert_rules.RULES_FILE])
    assert uids(after, "deleteRules") == shelf_rules
    assert not uids(after, "groups") & shelf_rules
    assert [entry["orgId"] for entry in after["deleteRules"]] == [1] * len(shelf_rules)

    # Regenerated from that file, the deletions stay listed (deleting a rule that is gone changes nothing) ...
    removed = tmp_path / "after.yaml"
    removed.write_text(alert_rules.generate(previous=committed)[alert_rules.RULES_FILE])
    again = yaml.safe_load(alert_rules.generate(previous=removed)[alert_rules.RULES_FILE])
    assert uids(again, "deleteRules") == shelf_rules
    # ... until the kind comes back: its rules are provisioned, not deleted.
    back = yaml.safe_load(
        alert_rules.generate(load_catalog(DEFAULT_FOLDER), previous=removed)[alert_rules.RULES_FILE]
    )
    assert "deleteRules" not in back and shelf_rules <= uids(back, "groups")


def test_the_deploy_hands_grafana_the_rules_of_the_catalog_in_use(without_shelf: Path) -> None:
    spec = service_files.load("grafana")
    handed = yaml.safe_load(spec.environment["GRAFANA_ALERTING_ALERT_RULES"])
    assert "shelf" not in {g["name"] for g in handed["groups"]}
    assert uids(handed, "deleteRules"), "the shelf kind's rules are deleted on this deploy"


def test_a_removed_kinds_dashboard_is_not_deployed_and_grafana_deletes_it(
    without_shelf: Path, tmp_path: Path
) -> None:
    assert "shelf-activity.json" not in service_files.dashboard_files()
    provider = yaml.safe_load(PROVIDER.read_text())["providers"][0]
    assert provider["disableDeletion"] is False, "with true Grafana keeps a dashboard whose file is gone"
    # The review copy: `python -m grafana.build` removes the file no kind makes any more.
    for path in build.DASHBOARDS_DIR.glob("*.json"):
        shutil.copy(path, tmp_path / path.name)
    written, removed = build.write(tmp_path)
    assert [p.name for p in removed] == ["shelf-activity.json"]
    assert sorted(p.name for p in tmp_path.glob("*.json")) == sorted(p.name for p in written)
