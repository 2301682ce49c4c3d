"""What every stack module shares: its declaration, the environment parameter, exported outputs, tags."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from troposphere import AWSObject, Export, Output, Parameter, Ref, Tags, Template

from infrastructure.names import ENVIRONMENT, export_name


@dataclass(frozen=True)
class StackSpec:
    """One stack: its name, the stacks whose exports it imports, and the function that builds it."""

    name: str
    depends_on: tuple[str, ...]
    build: Callable[[], Template]
    needs_function_code: bool = False
    description: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def new_template(description: str) -> tuple[Template, Parameter]:
    template = Template(Description=description)
    environment = template.add_parameter(
        Parameter(
            ENVIRONMENT,
            Type="String",
            Default="demo",
            AllowedPattern="^[a-z][a-z0-9-]{1,20}$",
            Description="Prefixes every stack, export and named resource, so environments never collide",
        )
    )
    return template, environment


def export(template: Template, stack: str, name: str, value: Any, description: str = "") -> None:
    template.add_output(
        Output(name, Value=value, Description=description or name, Export=Export(export_name(stack, name)))
    )


def name_tags(name: str, **extra: str) -> Tags:
    from troposphere import Sub

    return Tags(Name=Sub(f"${{{ENVIRONMENT}}}-{name}"), Project="iot-telemetry", **extra)


def skip_checks(resource: AWSObject, **reasons: str) -> AWSObject:
    """Suppress checkov checks that do not apply, each with its one-line reason, in the resource's metadata."""
    metadata = dict(getattr(resource, "Metadata", {}) or {})
    skips = list(metadata.get("checkov", {}).get("skip", []))
    skips += [{"id": check, "comment": reason} for check, reason in reasons.items()]
    metadata["checkov"] = {"skip": skips}
    resource.Metadata = metadata
    return resource


def env_ref() -> Ref:
    return Ref(ENVIRONMENT)
