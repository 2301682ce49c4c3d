"""The SQL sink's set-up step against a fake of the AWS RDS Data API and of Secrets Manager (they stand in for
the AWS services, tests/support/data_api_fake.py), answering a local ResponseURL as CloudFormation's. The same
`run_setup` runs on the sandbox's MariaDB through the local Data API stand-in in the sandbox's tests."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest
from ingest_to_influxdb import sql_schema
from sql_setup import constants as c
from sql_setup import handler as setup_handler
from sql_setup.setup import SetupError, run_setup

from tests.support.data_api_fake import FakeDataApi, client_error
from tests.support.response_url import ResponseUrl

CLUSTER = "arn:aws:rds:eu-west-1:123456789012:cluster:demo-relational"
MASTER, WRITER, READER = (
    f"arn:aws:secretsmanager:eu-west-1:123456789012:secret:demo/sql/{r}" for r in c.ROLES
)


@dataclass
class FakeSecrets:
    """Secrets Manager's GetSecretValue (the AWS service), over a dictionary of ARN -> secret."""

    values: dict[str, dict[str, str]] = field(
        default_factory=lambda: {
            WRITER: {c.USERNAME_KEY: c.ROLES["writer"], c.PASSWORD_KEY: "Writer-pass-123"},
            READER: {c.USERNAME_KEY: c.ROLES["reader"], c.PASSWORD_KEY: "Reader-pass-456"},
        }
    )

    def get_secret_value(self, **kwargs: Any) -> Mapping[str, Any]:
        return {"ARN": kwargs["SecretId"], "SecretString": json.dumps(self.values[kwargs["SecretId"]])}


def setup(api: FakeDataApi, secrets: FakeSecrets | None = None) -> str:
    return run_setup(api, secrets or FakeSecrets(), CLUSTER, MASTER, WRITER, READER).summary()


def test_a_first_run_creates_the_schema_and_the_users_with_the_master_secret() -> None:
    api = FakeDataApi()
    assert (
        setup(api) == f"schema version {sql_schema.VERSION} (applied: 1); users sink_writer, sink_reader set"
    )
    assert all(call["secretArn"] == MASTER and call["resourceArn"] == CLUSTER for call in api.calls)
    statements = api.statements
    assert statements[0].startswith("CREATE DATABASE IF NOT EXISTS telemetry")
    assert statements[1] == sql_schema.CREATE_MIGRATIONS_TABLE
    assert statements[2] == sql_schema.APPLIED_VERSIONS
    assert statements[3:5] == list(sql_schema.MIGRATIONS[0].statements)
    assert api.migrations == {1: sql_schema.MIGRATIONS[0].description}
    users = statements[6:]
    assert users[:2] == [
        "CREATE USER IF NOT EXISTS 'sink_writer'@'%' IDENTIFIED BY 'Writer-pass-123'",
        "ALTER USER 'sink_writer'@'%' IDENTIFIED BY 'Writer-pass-123'",
    ]
    assert "GRANT SELECT, INSERT, UPDATE ON telemetry.events TO 'sink_writer'@'%'" in users
    assert "GRANT SELECT, INSERT, UPDATE ON telemetry.event_tags TO 'sink_writer'@'%'" in users
    assert "GRANT SELECT ON telemetry.events TO 'sink_reader'@'%'" in users
    assert not any("sink_reader" in s and "INSERT" in s for s in users)
    in_database = [call for call in api.calls if call.get("database") == c.DATABASE]
    assert [call["sql"] for call in in_database][:2] == statements[1:3]


def test_a_second_run_applies_nothing_again_and_sets_the_passwords_again() -> None:
    api = FakeDataApi()
    setup(api)
    first = len(api.statements)
    secrets = FakeSecrets()
    secrets.values[WRITER][c.PASSWORD_KEY] = "Rotated-pass-789"
    assert "(applied: none pending)" in setup(api, secrets)
    again = api.statements[first:]
    assert not any(s in again for s in sql_schema.MIGRATIONS[0].statements)
    assert "ALTER USER 'sink_writer'@'%' IDENTIFIED BY 'Rotated-pass-789'" in again


@pytest.mark.parametrize(
    ("secret", "expected"),
    [
        (
            {c.USERNAME_KEY: "x'; DROP TABLE events; --", c.PASSWORD_KEY: "Good-pass-123"},
            "'username' of 1 to 32",
        ),
        ({c.USERNAME_KEY: "sink_writer", c.PASSWORD_KEY: "it's-a-pass"}, "without ' \" \\ ` or spaces"),
        ({c.USERNAME_KEY: "sink_writer"}, "needs a 'password'"),
    ],
)
def test_a_secret_that_could_break_out_of_its_quotes_stops_the_set_up(
    secret: dict[str, str], expected: str
) -> None:
    api = FakeDataApi()
    secrets = FakeSecrets()
    secrets.values[WRITER] = secret
    with pytest.raises(SetupError, match="the writer's secret") as raised:
        setup(api, secrets)
    assert expected in str(raised.value) and "\n" not in str(raised.value)
    assert api.calls == []  # nothing done before the secrets are known good


def test_a_paused_cluster_is_waited_for_and_other_errors_say_which_statement() -> None:
    resuming = client_error("DatabaseResumingException", "resuming", "ExecuteStatement")
    api = FakeDataApi(errors=[resuming, resuming])
    slept: list[float] = []
    outcome = run_setup(api, FakeSecrets(), CLUSTER, MASTER, WRITER, READER, sleep=slept.append)
    assert outcome.applied == [1] and slept == [2.0, 4.0]
    denied = client_error("DatabaseErrorException", "Database error code: 1044. Message: Access denied")
    with pytest.raises(
        SetupError, match=r"CREATE DATABASE IF NOT EXISTS telemetry .*failed: DatabaseErrorException"
    ):
        setup(FakeDataApi(errors=[denied]))


def test_a_failed_user_statement_never_shows_the_password() -> None:
    api = FakeDataApi()
    original = api.execute_statement

    def execute(**kwargs: Any) -> Mapping[str, Any]:
        if "USER" in kwargs["sql"]:
            raise client_error("DatabaseErrorException", "Database error code: 1396. Message: failed")
        return original(**kwargs)

    api.execute_statement = execute  # type: ignore[method-assign]
    with pytest.raises(SetupError) as raised:
        setup(api)
    assert "Writer-pass-123" not in str(raised.value)
    assert "CREATE USER IF NOT EXISTS 'sink_writer'@'%' failed" in str(raised.value)


@dataclass
class Context:
    def get_remaining_time_in_millis(self) -> int:
        return 120_000


@pytest.fixture
def answers(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[ResponseUrl, FakeDataApi]]:
    api = FakeDataApi()
    clients = {"rds-data": api, "secretsmanager": FakeSecrets()}
    monkeypatch.setattr("sql_setup.handler.boto3.client", lambda name, **_: clients[name])
    with ResponseUrl() as responses:
        yield responses, api


def event(responses: ResponseUrl, request: str, **changes: str) -> dict[str, Any]:
    properties = {
        c.RESOURCE_ARN: CLUSTER,
        c.MASTER_SECRET_ARN: MASTER,
        c.WRITER_SECRET_ARN: WRITER,
        c.READER_SECRET_ARN: READER,
        c.SCHEMA_VERSION: str(sql_schema.VERSION),
        **changes,
    }
    return {
        "RequestType": request,
        "ResponseURL": responses.url,
        "StackId": "arn:aws:cloudformation:eu-west-1:123456789012:stack/demo-relational/1",
        "RequestId": f"request-{len(responses.responses)}",
        "LogicalResourceId": "SqlSetup",
        "ResourceType": "Custom::SqlSetup",
        "ResourceProperties": {"ServiceToken": "arn:aws:lambda:::function:sql-setup", **properties},
    }


def test_the_custom_resource_answers_every_request(answers: tuple[ResponseUrl, FakeDataApi]) -> None:
    responses, _ = answers
    setup_handler.handler(event(responses, "Create"), Context())
    created = responses.responses[-1]
    assert created["Status"] == "SUCCESS", created["Reason"]
    assert created["PhysicalResourceId"] == "sql-setup-telemetry"
    assert created["Data"] == {c.SCHEMA_VERSION: str(sql_schema.VERSION)}
    setup_handler.handler(
        {**event(responses, "Delete"), "PhysicalResourceId": "sql-setup-telemetry"}, Context()
    )
    assert responses.responses[-1]["Status"] == "SUCCESS" and "stay" in responses.responses[-1]["Reason"]
    setup_handler.handler(event(responses, "Update", **{c.SCHEMA_VERSION: "99"}), Context())
    assert responses.responses[-1]["Status"] == "FAILED"
    assert "SchemaVersion '99' is not a schema version" in responses.responses[-1]["Reason"]
    setup_handler.handler(event(responses, "Create", **{c.WRITER_SECRET_ARN: ""}), Context())
    assert "WriterSecretArn are missing" in responses.responses[-1]["Reason"]
