"""A set-up step's life as a CloudFormation custom resource: Create and Update run the step, which is
idempotent; Delete changes nothing (a stack delete must never lose readings); every request is answered,
SUCCESS or FAILED with what failed, whatever happens, so a stack never waits an hour for an answer."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Protocol

from custom_resource.cfn_response import FAILED, SUCCESS, respond

logger = logging.getLogger(__name__)
logger.setLevel(logging.INFO)


class LambdaContext(Protocol):
    def get_remaining_time_in_millis(self) -> int: ...


# Runs the step for a Create or Update; returns what it did (for the answer's reason) and the resource's data.
SetUp = Callable[[dict[str, Any], LambdaContext], tuple[str, dict[str, str]]]


def physical_id(event: dict[str, Any], first: str) -> str:
    """The same ID for the life of the resource (`first` on its Create), so an Update never replaces it."""
    existing = event.get("PhysicalResourceId")
    return str(existing) if existing else first


def handle(
    event: dict[str, Any], context: LambdaContext, step: str, kept: str, set_up: SetUp, first_id: str
) -> None:
    """Answers one request for the set-up `step` (e.g. "the store's set-up"); `kept`: what a Delete leaves."""
    request = event.get("RequestType")
    data: dict[str, str] = {}
    try:
        if request == "Delete":
            status, reason = SUCCESS, f"nothing undone: {kept} stay"
        elif request in ("Create", "Update"):
            done, data = set_up(event, context)
            status, reason = SUCCESS, done
        else:
            status, reason = FAILED, f"unknown RequestType {request!r}"
    except Exception as error:  # every failure must reach CloudFormation, never hang the stack
        logger.exception("%s failed", step)
        status, reason = FAILED, f"{step} failed: {type(error).__name__}: {error}"
    logger.info("%s %s: %s", request, status, reason)
    respond(event, status, reason, physical_id(event, first_id), data)
