"""A synthesized template's resources of one type."""

from __future__ import annotations

from typing import Any


def of_type(template: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    return {k: r for k, r in template["Resources"].items() if r["Type"] == resource_type}


def one(template: dict[str, Any], resource_type: str) -> dict[str, Any]:
    (resource,) = of_type(template, resource_type).values()
    return resource["Properties"]  # type: ignore[no-any-return]
