"""A private set of services for the process manager's tests that stop, break or watch the start of things."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox.manager.services import Sandbox


@pytest.fixture
def own_sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    """A second set of services beside the session's `sandbox`, not started: the test calls `up()` when it wants."""
    services = Sandbox(tmp_path / "sandbox")
    try:
        yield services
    finally:
        services.down()
