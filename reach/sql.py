"""Queries on the local SQL sink for the tools and the tests, as the reader user, through the local RDS Data API
(the way an analyst's tool reaches Aurora through the real one: the reader's secret, the cluster's ARN).

One way in for every reader outside the functions (the demo's accounting, the local picture's hourly chart, the
tests). Times go in and come out as UTC texts "YYYY-MM-DD HH:MM:SS.fff", the Data API's TIMESTAMP form.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import boto3
from ingest_to_influxdb.sql_sink import double, moment, text

from reach.endpoints import Endpoints, SqlEndpoint


class SqlUnavailable(RuntimeError):
    """The sandbox has no SQL sink, or no deploy has made its reader yet; the message says what to run."""


def _client(endpoints: Endpoints) -> Any:
    aws = endpoints.aws
    return boto3.client(
        "rds-data",
        endpoint_url=_sql(endpoints).data_api_url,
        region_name=aws.region,
        aws_access_key_id=aws.access_key_id,
        aws_secret_access_key=aws.secret_access_key,
    )


def _sql(endpoints: Endpoints) -> SqlEndpoint:
    if endpoints.sql is None or "reader" not in endpoints.sql.secrets:
        raise SqlUnavailable(
            "the local SQL sink is not set up: run 'make demo' (or 'python -m sandbox up' and deploy)"
        )
    return endpoints.sql


def _parameter(name: str, value: datetime | float | str) -> dict[str, Any]:
    """A named parameter as the function's adapter types it (ingest_to_influxdb.sql_sink)."""
    if isinstance(value, datetime):
        return moment(name, int(value.astimezone(UTC).timestamp() * 1000))
    if isinstance(value, int | float):
        return double(name, float(value))
    return text(name, value)


def _value(field: Mapping[str, Any]) -> object:
    if field.get("isNull"):
        return None
    for key in ("stringValue", "longValue", "doubleValue", "booleanValue"):
        if key in field:
            return field[key]
    return None


def query(
    endpoints: Endpoints, sql: str, parameters: Mapping[str, datetime | float | str] | None = None
) -> list[list[object]]:
    """The rows of one statement (named `:parameters`), each a list of plain values."""
    target = _sql(endpoints)
    answer = _client(endpoints).execute_statement(
        resourceArn=target.cluster_arn,
        secretArn=target.secrets["reader"],
        database=target.database,
        sql=sql,
        parameters=[_parameter(name, value) for name, value in (parameters or {}).items()],
    )
    return [[_value(field) for field in record] for record in answer.get("records", [])]
