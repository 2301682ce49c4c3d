"""A fake of the AWS RDS Data API (`rds-data`) for pure tests: it stands in for the AWS service itself (the cloud
is what tests may mock), never for the project's own code. It records every call and answers as the Data API
reference says: `batch_execute_statement` -> {"updateResults": [{"generatedFields": [...]}, ...]} (one entry per
parameter set), `execute_statement` -> {"numberOfRecordsUpdated": n, "records": [[{"longValue": ...}], ...]} for a
SELECT, and errors as botocore's ClientError with the service's codes ("DatabaseErrorException" with "Database
error code: N. Message: ..." for a value MySQL refuses). The function's two upserts are applied to dictionaries
keyed by their unique keys, so a test sees what a table would hold; the sandbox's tests run the same statements
on a real MariaDB.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError
from ingest_to_influxdb import sql_schema

Answer = Callable[[str, list[list[dict[str, Any]]]], None]  # may raise, to answer with an error


def client_error(code: str, message: str, operation: str = "BatchExecuteStatement") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, operation)


def values(parameters: list[dict[str, Any]]) -> dict[str, Any]:
    """A parameter set's values by name, as the database would bind them."""
    return {p["name"]: next(iter(p["value"].values())) for p in parameters}


@dataclass
class FakeDataApi:
    """The Data API over in-memory tables; `errors` are raised first, one per call, in order."""

    errors: list[ClientError] = field(default_factory=list)
    refuse: Callable[[dict[str, Any]], str | None] = lambda _: None  # a set's MySQL data error, if any
    calls: list[dict[str, Any]] = field(default_factory=list)
    statements: list[str] = field(default_factory=list)  # execute_statement's SQL, in order
    events: dict[tuple[str, str, str, str], float] = field(default_factory=dict)
    tags: dict[tuple[str, str, str, str], str] = field(default_factory=dict)
    migrations: dict[int, str] = field(default_factory=dict)
    next_id: int = 1

    def batch_execute_statement(self, **kwargs: Any) -> Mapping[str, Any]:
        self.calls.append(kwargs)
        if self.errors:
            raise self.errors.pop(0)
        sets = kwargs["parameterSets"]
        for parameters in sets:  # MySQL checks every row before the batch is taken (one statement)
            problem = self.refuse(values(parameters))
            if problem is not None:
                raise client_error("DatabaseErrorException", f"Database error code: 1366. Message: {problem}")
        results = []
        for parameters in sets:
            row = values(parameters)
            if kwargs["sql"] == sql_schema.INSERT_EVENT:
                self.events[(row["sensor"], row["board"], row["field"], row["ts"])] = row["value"]
            elif kwargs["sql"] == sql_schema.INSERT_TAG:
                self.tags[(row["sensor"], row["board"], row["ts"], row["name"])] = row["value"]
            elif kwargs["sql"] == sql_schema.RECORD_MIGRATION:
                self.migrations[int(row["version"])] = row["description"]
            results.append({"generatedFields": [{"longValue": self.next_id}]})
            self.next_id += 1
        return {"updateResults": results}

    def execute_statement(self, **kwargs: Any) -> Mapping[str, Any]:
        self.calls.append(kwargs)
        if self.errors:
            raise self.errors.pop(0)
        sql = kwargs["sql"]
        self.statements.append(sql)
        if sql == sql_schema.APPLIED_VERSIONS:
            return {"records": [[{"longValue": version}] for version in sorted(self.migrations)]}
        if sql == sql_schema.RECORD_MIGRATION:
            row = values(kwargs.get("parameters", []))
            self.migrations[int(row["version"])] = row["description"]
        return {"numberOfRecordsUpdated": 0, "generatedFields": []}
