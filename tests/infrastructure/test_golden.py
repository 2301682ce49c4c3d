"""The reviewed templates (infrastructure/golden/) are the templates the stacks make now: a change to a stack
shows in review as a diff of CloudFormation, updated with `make golden`."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from infrastructure import cli
from infrastructure.deploy import synth


def test_the_templates_are_the_reviewed_ones(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DEVICE_KINDS_DIR", raising=False)  # the reviewed copies are of the default catalog
    written = synth(tmp_path)
    assert cli.golden_differences(written) == [], "run 'make golden', review 'git diff', commit the copies"


def test_the_check_fails_on_a_changed_template_and_a_missing_one(tmp_path: Path) -> None:
    golden = tmp_path / "golden"
    shutil.copytree(cli.GOLDEN, golden)
    written = {path.stem: path for path in golden.glob("*.json")}
    assert cli.golden_differences(written, golden) == []
    changed = tmp_path / "ingest.json"
    changed.write_text(written["ingest"].read_text().replace('"Timeout"', '"TimeOut"', 1))
    (golden / "edge.json").unlink()
    differing = cli.golden_differences({**written, "ingest": changed}, golden)
    assert set(differing) == {"ingest", "edge"}
