"""Where the command-line tools (replay, load_metadata) find the deployment: the local sandbox or AWS."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import boto3
from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError

from infrastructure.names import stack_name
from infrastructure.stacks import ingest
from reach.endpoints import DEFAULT_PATH, Endpoints


@dataclass(frozen=True)
class Deployment:
    environment: str
    outputs: dict[str, str]  # the ingest stack's outputs (empty when not needed and not found)
    local: Endpoints | None  # the sandbox's endpoints, when the target is local


def locate(environment: str, endpoints: Path | None, use_aws: bool, need_stack: bool = True) -> Deployment:
    """The local sandbox (endpoints.json, boto3 pointed at its moto) unless --aws; the ingest stack's outputs."""
    local = None
    if not use_aws:
        path = endpoints or DEFAULT_PATH
        if not path.exists():
            raise SystemExit(
                f"{path} does not exist: start the local pipeline with 'make demo', or pass --aws"
            )
        local = Endpoints.load(path)
        os.environ.update(local.aws.env())
    stack = stack_name(environment, ingest.NAME)
    try:
        described = boto3.client("cloudformation").describe_stacks(StackName=stack)["Stacks"][0]
    except (ClientError, BotoCoreError) as error:
        if not need_stack:
            return Deployment(environment, {}, local)
        raise SystemExit(_no_stack(stack, error, local)) from None
    outputs = {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}
    return Deployment(environment, outputs, local)


def _no_stack(stack: str, error: Exception, local: Endpoints | None) -> str:
    """What to do when the ingest stack cannot be read: start the sandbox, deploy to it, or deploy to AWS."""
    if local is None:
        return f"cannot read the stack {stack} on AWS: {error}; deploy it first ('make deploy STACK=ingest')"
    if isinstance(error, EndpointConnectionError):
        return (
            f"the local sandbox is down (nothing answers at {local.aws.endpoint_url}): "
            "start it with 'python -m sandbox up' (or 'make demo'), or pass --aws"
        )
    return f"the local sandbox has no stack {stack}: deploy every stack to it with 'python -m sandbox up'"
