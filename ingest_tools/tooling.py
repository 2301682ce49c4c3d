"""Where the command-line tools (replay, load_metadata) find the deployment: the local sandbox or AWS."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from sandbox.endpoints import DEFAULT_PATH, Endpoints


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
    stack = f"{environment}-ingest"
    try:
        described = boto3.client("cloudformation").describe_stacks(StackName=stack)["Stacks"][0]
    except (ClientError, BotoCoreError) as error:
        if not need_stack:
            return Deployment(environment, {}, local)
        raise SystemExit(
            f"cannot read the stack {stack}: {error}; deploy it first ('make deploy STACK=ingest')"
        ) from None
    outputs = {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}
    return Deployment(environment, outputs, local)
