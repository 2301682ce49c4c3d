"""The SQL sink's set-up step, a CloudFormation custom resource (handler sql_setup.handler.handler).

Create and Update run the idempotent set-up (setup.py: the database, the pending migrations, the writer and
the reader); Delete changes nothing (the tables, their rows and the users stay: a stack delete must never lose
readings). Every request is answered, SUCCESS or FAILED with what failed, whatever happens.
"""

from __future__ import annotations

from typing import Any

import boto3
from custom_resource import lifecycle
from custom_resource.lifecycle import LambdaContext
from ingest_to_influxdb import sql_schema

from sql_setup import constants as c
from sql_setup.setup import SetupError, run_setup


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


def set_up(event: dict[str, Any], context: LambdaContext) -> tuple[str, dict[str, str]]:
    value = properties(event)
    outcome = run_setup(
        boto3.client("rds-data"),
        boto3.client("secretsmanager"),
        value[c.RESOURCE_ARN],
        value[c.MASTER_SECRET_ARN],
        value[c.WRITER_SECRET_ARN],
        value[c.READER_SECRET_ARN],
    )
    return f"SQL sink set up: {outcome.summary()}", {c.SCHEMA_VERSION: str(outcome.version)}


def handler(event: dict[str, Any], context: LambdaContext) -> None:
    lifecycle.handle(
        event,
        context,
        "the SQL sink's set-up",
        "the tables, their rows and the users",
        set_up,
        lifecycle.physical_id(event, f"sql-setup-{c.DATABASE}"),
    )
