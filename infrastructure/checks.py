"""Checks on the synthesized templates that no single stack can make: every import is a dependency's export."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from infrastructure.names import ENVIRONMENT_PARAMETER
from infrastructure.registry import StackDefinition


def _walk(node: Any) -> Iterator[Any]:
    yield node
    if isinstance(node, dict):
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for item in node:
            yield from _walk(item)


def imported_names(template: Mapping[str, Any]) -> list[str]:
    """Every `Fn::ImportValue` name, as its `Fn::Sub` text (e.g. `${EnvironmentName}-network-VpcId`)."""
    names = []
    for node in _walk(template):
        if isinstance(node, dict) and "Fn::ImportValue" in node:
            value = node["Fn::ImportValue"]
            names.append(value["Fn::Sub"] if isinstance(value, dict) and "Fn::Sub" in value else repr(value))
    return names


def exported_names(template: Mapping[str, Any]) -> set[str]:
    names = set()
    for output in template.get("Outputs", {}).values():
        name = output.get("Export", {}).get("Name")
        if isinstance(name, dict) and "Fn::Sub" in name:
            names.add(name["Fn::Sub"])
        elif name is not None:
            names.add(repr(name))
    return names


def import_problems(
    stacks: Mapping[str, StackDefinition], templates: Mapping[str, Mapping[str, Any]]
) -> list[str]:
    """What is wrong with the stacks' imports: each import must be an export of a declared dependency."""
    problems = []
    prefix = f"${{{ENVIRONMENT_PARAMETER}}}-"
    for name, template in templates.items():
        for imported in imported_names(template):
            if not imported.startswith(prefix):
                problems.append(f"{name}: import {imported} is not named <EnvironmentName>-<stack>-<Output>")
                continue
            source = imported.removeprefix(prefix).split("-", 1)[0]
            if source not in stacks[name].dependencies():
                problems.append(
                    f"{name}: imports {imported} from {source}, which it does not declare as a dependency"
                )
            elif imported not in exported_names(templates[source]):
                problems.append(f"{name}: imports {imported}, which {source} does not export")
    return problems
