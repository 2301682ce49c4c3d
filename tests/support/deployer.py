"""The deploy tool as the tests drive it: against moto's server, asking nothing, printing to nowhere."""

from __future__ import annotations

import io
from collections.abc import Iterable
from typing import Any

from rich.console import Console

from infrastructure.deploy import Deployer


def deployer(endpoint: str, environment: str) -> Deployer:
    return Deployer(
        environment=environment, endpoint_url=endpoint, assume_yes=True, console=Console(file=io.StringIO())
    )


def created_stacks(cloudformation: Any, names: Iterable[str]) -> dict[str, dict[str, Any]]:
    """The `demo` environment's stacks by name, after asserting that each of `names` was created."""
    stacks = {s["StackName"]: s for s in cloudformation.describe_stacks()["Stacks"]}
    assert {name: stacks[f"demo-{name}"]["StackStatus"] for name in names} == dict.fromkeys(
        names, "CREATE_COMPLETE"
    )
    return stacks


def assert_destroyed(cloudformation: Any, names: Iterable[str]) -> None:
    """None of the `demo` environment's `names` is left once destroy --all returned."""
    left = {
        s["StackName"]
        for s in cloudformation.describe_stacks()["Stacks"]
        if s["StackStatus"] != "DELETE_COMPLETE"
    }
    assert not left & {f"demo-{name}" for name in names}
