"""A function of a template as the local Lambda runs it: its handler, limits, environment, retries and
on-failure destination, from `AWS::Lambda::Function` and its `AWS::Lambda::EventInvokeConfig`."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from local_aws.cloudformation.template import DeployedTemplate, ResourceRef, TemplateError
from local_aws.lambda_.workers import FunctionSpec, load_handler


@dataclass(frozen=True)
class LocalFunction:
    """The function of the template, run in local execution environments (`local_aws.lambda_.workers`)."""

    logical_id: str
    spec: FunctionSpec
    retry_attempts: int
    on_failure_queue_url: str | None
    reserved_concurrency: int

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def arn(self) -> str:
        return self.spec.arn


def function_environment(
    deployed: DeployedTemplate, logical_id: str, overrides: Mapping[str, str]
) -> dict[str, str]:
    """The function's environment variables as deployed, with `overrides` pointing it at the local services."""
    variables = deployed.resources[logical_id]["Properties"].get("Environment", {}).get("Variables", {})
    environment = {}
    for name, value in variables.items():
        if name in overrides:
            continue
        try:
            environment[name] = str(deployed.physical(deployed.resolve(value)))
        except TemplateError as error:
            raise TemplateError(f"environment variable {name} of {logical_id}: {error}") from error
    return {**environment, **overrides}


def function_from_template(
    deployed: DeployedTemplate,
    logical_id: str,
    overrides: Mapping[str, str],
    queue_url: Callable[[Any], str],
) -> LocalFunction:
    """The function as the template defines it; `queue_url` turns its on-failure destination into a URL."""
    props = deployed.resources[logical_id]["Properties"]
    invoke_config: dict[str, Any] = next(
        (
            r["Properties"]
            for r in deployed.of_type("AWS::Lambda::EventInvokeConfig").values()
            if deployed.resolve(r["Properties"].get("FunctionName")) == ResourceRef(logical_id)
        ),
        {},
    )
    destination = invoke_config.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination")
    on_failure = deployed.resolve(destination) if destination else None
    handler_path = str(deployed.resolve(props["Handler"]))
    load_handler(handler_path)  # a handler that cannot be imported stops the runner at start, clearly
    return LocalFunction(
        logical_id=logical_id,
        spec=FunctionSpec(
            name=str(deployed.physical(ResourceRef(logical_id))),
            arn=str(deployed.physical(ResourceRef(logical_id, "Arn"))),
            handler_path=handler_path,
            memory=int(deployed.resolve(props.get("MemorySize", 128))),
            timeout=int(deployed.resolve(props.get("Timeout", 3))),
            environment=function_environment(deployed, logical_id, overrides),
        ),
        retry_attempts=int(deployed.resolve(invoke_config.get("MaximumRetryAttempts", 2))),
        on_failure_queue_url=queue_url(on_failure) if on_failure else None,
        reserved_concurrency=int(deployed.resolve(props.get("ReservedConcurrentExecutions", 1000))),
    )
