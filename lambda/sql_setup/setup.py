"""The SQL sink's set-up, idempotent: the database, the schema's pending migrations (ingest_to_influxdb.sql_schema)
and the two users, all through the RDS Data API with the cluster's master secret.

- the database `telemetry` (CREATE DATABASE IF NOT EXISTS: the cluster may have made it already);
- `schema_migrations`, then each step it does not record yet, in order, recorded once its statements ran (each
  statement is idempotent, so a step stopped half-way runs again whole);
- the writer (the functions: SELECT, INSERT, UPDATE on the sink's tables: UPDATE is what an upsert that meets
  the reading's key does) and the reader (analysts, BI tools: SELECT), each with the username and password of its
  secret: CREATE USER IF NOT EXISTS, then ALTER USER ... IDENTIFIED BY, so a re-run (a rotated secret) sets the
  password again, and GRANT, which adds only what is missing.

A user's name and password go into the statement's text (MySQL takes no parameter there): a name must be a plain
identifier and a password must hold none of ' " \\ ` or spaces (the relational stack generates it excluding them),
so nothing can break out of its quotes; otherwise the set-up stops with a one-line SetupError.

`run_setup` is the plain entry point (the custom resource's handler calls it; the sandbox calls it with a local
stand-in of the Data API).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError
from ingest_to_influxdb import sql_schema
from ingest_to_influxdb.sql_sink import (
    RESUMING_DELAYS,
    RETRY_DELAYS,
    TRANSIENT_CODES,
    DataApiClient,
    Pauses,
    error_code,
    error_message,
)

from sql_setup import constants as c

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient

WRITER_PRIVILEGES = "SELECT, INSERT, UPDATE"
READER_PRIVILEGES = "SELECT"
WRITTEN_TABLES = (sql_schema.EVENTS, sql_schema.EVENT_TAGS)  # what the writer writes and the reader reads
USER_HOST = "%"  # the Data API connects from within the cluster's network, not from a fixed address
_IDENTIFIER = re.compile(r"[A-Za-z0-9_]{1,32}")  # MySQL's user names are at most 32 characters
_PASSWORD = re.compile(
    r"[!#$%&()*+,\-./0-9:;<=>?@A-Z\[\]^_a-z{|}~]{8,128}"
)  # printable ASCII but ' " \ ` space


class SetupError(Exception):
    """The set-up cannot go on; the message says what is wrong in one line."""


class SecretsClient(Protocol):
    """What the set-up uses of Secrets Manager (boto3's client, or a test's fake of the service)."""

    def get_secret_value(self, **kwargs: Any) -> Mapping[str, Any]: ...


@dataclass(frozen=True)
class User:
    role: str  # writer | reader
    name: str
    password: str
    privileges: str


@dataclass
class Outcome:
    applied: list[int] = field(default_factory=list)  # migration versions this run applied
    users: list[str] = field(default_factory=list)
    version: int = 0  # the schema's version after the run

    def summary(self) -> str:
        steps = ", ".join(map(str, self.applied)) if self.applied else "none pending"
        return f"schema version {self.version} (applied: {steps}); users {', '.join(self.users)} set"


def read_user(secrets: SecretsManagerClient | SecretsClient, arn: str, role: str, privileges: str) -> User:
    try:
        value = json.loads(secrets.get_secret_value(SecretId=arn)["SecretString"])
    except (ClientError, BotoCoreError, KeyError, ValueError, TypeError) as error:
        raise SetupError(f"the {role}'s secret {arn} cannot be read: {error}") from None
    name = value.get(c.USERNAME_KEY) if isinstance(value, dict) else None
    password = value.get(c.PASSWORD_KEY) if isinstance(value, dict) else None
    if not isinstance(name, str) or not _IDENTIFIER.fullmatch(name):
        raise SetupError(
            f"the {role}'s secret needs a {c.USERNAME_KEY!r} of 1 to 32 letters, digits or _ (e.g. {c.ROLES[role]})"
        )
    if not isinstance(password, str) or not _PASSWORD.fullmatch(password):
        raise SetupError(
            f"the {role}'s secret needs a {c.PASSWORD_KEY!r} of 8 to 128 printable ASCII characters without "
            "' \" \\ ` or spaces (generate it excluding them)"
        )
    return User(role, name, password, privileges)


class SqlSetup:
    def __init__(
        self,
        data_api: DataApiClient,
        resource_arn: str,
        master_secret_arn: str,
        database: str = c.DATABASE,
        sleep: Callable[[float], None] = time.sleep,
        retry_delays: Sequence[float] = RETRY_DELAYS,
        resuming_delays: Sequence[float] = RESUMING_DELAYS,
    ) -> None:
        self.data_api, self.database, self.sleep = data_api, database, sleep
        self.target = {"resourceArn": resource_arn, "secretArn": master_secret_arn}
        self.retry_delays, self.resuming_delays = retry_delays, resuming_delays

    def run(self, users: Sequence[User]) -> Outcome:
        outcome = Outcome()
        self.execute(
            f"CREATE DATABASE IF NOT EXISTS {self.database} CHARACTER SET utf8mb4", in_database=False
        )
        self.execute(sql_schema.CREATE_MIGRATIONS_TABLE)
        answer = self.execute(sql_schema.APPLIED_VERSIONS)
        applied = {int(next(iter(row[0].values()))) for row in answer.get("records", [])}
        for migration in sql_schema.pending(applied):
            for statement in migration.statements:
                self.execute(statement)
            self.execute(
                sql_schema.RECORD_MIGRATION,
                [
                    {"name": "version", "value": {"longValue": migration.version}},
                    {"name": "description", "value": {"stringValue": migration.description}},
                ],
            )
            outcome.applied.append(migration.version)
        outcome.version = max(applied | set(outcome.applied), default=0)
        for user in users:
            account = f"'{user.name}'@'{USER_HOST}'"
            self.execute(
                f"CREATE USER IF NOT EXISTS {account} IDENTIFIED BY '{user.password}'", in_database=False
            )
            self.execute(f"ALTER USER {account} IDENTIFIED BY '{user.password}'", in_database=False)
            for table in WRITTEN_TABLES:
                self.execute(
                    f"GRANT {user.privileges} ON {self.database}.{table} TO {account}", in_database=False
                )
            outcome.users.append(user.name)
        return outcome

    def execute(
        self, sql: str, parameters: list[dict[str, Any]] | None = None, in_database: bool = True
    ) -> Mapping[str, Any]:
        """One statement with the master secret; what is transient (a resuming cluster) is tried again."""
        request: dict[str, Any] = {**self.target, "sql": sql}
        if in_database:
            request["database"] = self.database
        if parameters:
            request["parameters"] = parameters
        pauses = Pauses(self.retry_delays, self.resuming_delays)
        while True:
            try:
                return self.data_api.execute_statement(**request)
            except ClientError as error:
                code, message = error_code(error), error_message(error)
                if code not in TRANSIENT_CODES:
                    raise SetupError(f"{_first_words(sql)} failed: {code}: {message}") from None
            except BotoCoreError as error:
                code, message = "", f"{type(error).__name__}: {error}"
            pause = pauses.next(code)
            if pause is None:
                raise SetupError(f"{_first_words(sql)} failed: {code or 'unreachable'}: {message}")
            self.sleep(pause)


def _first_words(sql: str) -> str:
    """What a failed statement was, never its password: its start, up to IDENTIFIED BY."""
    return " ".join(sql.split(" IDENTIFIED BY ")[0].split()[:7])


def run_setup(
    data_api_client: DataApiClient,
    secrets_client: SecretsManagerClient | SecretsClient,
    resource_arn: str,
    master_secret_arn: str,
    writer_secret_arn: str,
    reader_secret_arn: str,
    database: str = c.DATABASE,
    sleep: Callable[[float], None] = time.sleep,
) -> Outcome:
    """The whole set-up: the database, the pending migrations, the writer and the reader; idempotent."""
    users = [
        read_user(secrets_client, writer_secret_arn, "writer", WRITER_PRIVILEGES),
        read_user(secrets_client, reader_secret_arn, "reader", READER_PRIVILEGES),
    ]
    return SqlSetup(data_api_client, resource_arn, master_secret_arn, database, sleep).run(users)
