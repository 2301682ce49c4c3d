"""The SQL sink's set-up step, a CloudFormation custom resource (handler sql_setup.handler.handler).

Create and Update run the idempotent set-up (setup.py: the database, the pending migrations, the writer and
the reader); Delete changes nothing (the tables, their rows and the users stay: a stack delete must never lose
readings). Every request is answered, SUCCESS or FAILED with what failed, whatever happens.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

import boto3
from ingest_to_influxdb import sql_schema

from sql_setup import constants as c
from sql_setup.cfn_response import FAILED, SUCCESS, respond
from sql_setup.setup import SetupError, run_setup

logger = logging.getLogger(__name__)
logger.setLevel(logging.INFO)


class LambdaContext(Protocol):
    def get_remaining_time_in_millis(self) -> int: ...


def physical_id(event: dict[str, Any]) -> str:
    """The same ID for the life of the resource, so an Update never replaces it."""
    existing = event.get("PhysicalResourceId")
    return str(existing) if existing else f"sql-setup-{c.DATABASE}"


def properties(event: dict[str, Any]) -> dict[str, str]:
    given = dict(event.get("ResourceProperties") or {})
    missing = [name for name in c.REQUIRED if not str(given.get(name) or "").strip()]
    if missing:
        raise SetupError(f"the resource properties {', '.join(missing)} are missing or empty")
    value = {name: str(given[name]).strip() for name in c.REQUIRED}
    version = value[c.SCHEMA_VERSION]
    if not version.isdigit() or int(version) > sql_schema.VERSION:
        raise SetupError(
            f"{c.SCHEMA_VERSION} {version!r} is not a schema version this code has (1 to {sql_schema.VERSION}): "
            "deploy the function's zip of the same commit"
        )
    return value


def handler(event: dict[str, Any], context: LambdaContext) -> None:
    request = event.get("RequestType")
    resource = physical_id(event)
    data: dict[str, str] = {}
    try:
        if request == "Delete":
            status, reason = SUCCESS, "nothing undone: the tables, their rows and the users stay"
        elif request in ("Create", "Update"):
            value = properties(event)
            outcome = run_setup(
                boto3.client("rds-data"),
                boto3.client("secretsmanager"),
                value[c.RESOURCE_ARN],
                value[c.MASTER_SECRET_ARN],
                value[c.WRITER_SECRET_ARN],
                value[c.READER_SECRET_ARN],
            )
            status, reason = SUCCESS, f"SQL sink set up: {outcome.summary()}"
            data = {c.SCHEMA_VERSION: str(outcome.version)}
        else:
            status, reason = FAILED, f"unknown RequestType {request!r}"
    except Exception as error:  # every failure must reach CloudFormation, never hang the stack
        logger.exception("the SQL sink's set-up failed")
        status, reason = FAILED, f"the SQL sink's set-up failed: {type(error).__name__}: {error}"
    logger.info("%s %s: %s", request, status, reason)
    respond(event, status, reason, resource, data)
