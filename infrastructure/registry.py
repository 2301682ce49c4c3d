"""The stacks, their dependencies and the order to deploy them in."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from graphlib import CycleError, TopologicalSorter

from troposphere import Template

STACK_MODULES = (
    "network",
    "cluster",
    "storage",
    "edge",
    "influxdb",
    "grafana",
    "chronograf",
    "relational",
    "ingest",
    "webhook",
)


class RegistryError(ValueError):
    """The stacks' declarations do not fit together (unknown stack, cycle, import without dependency)."""


@dataclass(frozen=True)
class StackDefinition:
    name: str
    build: Callable[[], Template]
    depends_on: tuple[str, ...]
    # Why `deploy --all` leaves this stack out (it is deployed only when named); empty: deployed with the rest.
    left_out: str = ""
    # What depends on the catalog, read when asked (so a catalog chosen by $DEVICE_KINDS_DIR counts): the stacks
    # depended on as well (the relational stack, when a kind writes to SQL), and why --all leaves it out now.
    depends_when: Callable[[], tuple[str, ...]] | None = None
    left_out_when: Callable[[], str] | None = None

    def dependencies(self) -> tuple[str, ...]:
        """Every stack this one needs now: the fixed ones and those the catalog adds."""
        return (*self.depends_on, *(self.depends_when() if self.depends_when else ()))

    def left_out_now(self) -> str:
        """Why `deploy --all` leaves this stack out with the catalog as it is; empty: it is deployed."""
        return self.left_out or (self.left_out_when() if self.left_out_when else "")


def all_stacks() -> dict[str, StackDefinition]:
    stacks: dict[str, StackDefinition] = {}
    for module_name in STACK_MODULES:
        module = importlib.import_module(f"infrastructure.stacks.{module_name}")
        stack: StackDefinition = module.STACK
        stacks[stack.name] = stack
    return stacks


def deploy_order(stacks: dict[str, StackDefinition]) -> list[str]:
    """Every stack after the stacks it depends on; a cycle or an unknown dependency is an error."""
    for stack in stacks.values():
        unknown = set(stack.dependencies()) - set(stacks)
        if unknown:
            raise RegistryError(f"stack {stack.name} depends on unknown stacks: {', '.join(sorted(unknown))}")
    sorter = TopologicalSorter({name: stack.dependencies() for name, stack in stacks.items()})
    try:
        return list(sorter.static_order())
    except CycleError as error:
        raise RegistryError(
            f"the stacks depend on each other in a cycle: {' -> '.join(error.args[1])}"
        ) from error


def dependents(stacks: dict[str, StackDefinition], name: str) -> Iterable[str]:
    return [other.name for other in stacks.values() if name in other.dependencies()]
