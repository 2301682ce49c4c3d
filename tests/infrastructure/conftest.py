"""The synthesized templates, built once per session (no AWS needed)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from infrastructure.deploy import synth
from infrastructure.registry import StackDefinition, all_stacks


@pytest.fixture(scope="session")
def stacks() -> dict[str, StackDefinition]:
    return all_stacks()


@pytest.fixture(scope="session")
def templates(stacks: dict[str, StackDefinition], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out: Path = tmp_path_factory.mktemp("templates")
    return {name: json.loads(path.read_text()) for name, path in synth(out, stacks).items()}
