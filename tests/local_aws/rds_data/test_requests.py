"""The local Data API's answers without a database: each request checked against botocore's model, each error in
the status and code the Data API gives (so botocore raises ClientError with that Error.Code and the SQL sink
classifies it as on AWS), over a fake connection that stands in for MariaDB."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pymysql
import pymysql.converters
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from ingest_to_influxdb.sql_sink import DATABASE_ERROR_CODES, TRANSIENT_CODES, is_data_error
from pymysql.constants import FIELD_TYPE

from local_aws.rds_data.errors import database_error
from local_aws.rds_data.server import DataApi, DataApiServer, Pool, Secrets, field_of, text_of
from tests.support.data_api_fake import client_error

pytestmark = pytest.mark.pure

CLUSTER = "arn:aws:rds:us-east-1:123456789012:cluster:c"
SECRET = "arn:aws:secretsmanager:us-east-1:123456789012:secret:s"
Run = Callable[
    [str], tuple[list[tuple[Any, ...]] | None, int, int]
]  # rows (None: not a query), rowcount, lastrowid


@dataclass
class FakeCursor:
    connection: FakeConnection
    description: Any = None
    rowcount: int = -1
    lastrowid: int = 0
    rows: list[tuple[Any, ...]] = field(default_factory=list)

    def __enter__(self) -> FakeCursor:
        return self

    def __exit__(self, *args: object) -> None:
        pass

    def execute(self, sql: str) -> None:
        self.connection.statements.append(sql)
        rows, self.rowcount, self.lastrowid = self.connection.run(sql)
        self.description = None if rows is None else [("c", FIELD_TYPE.DOUBLE, None, 0, 0, 0, True)]
        self.rows = rows or []

    def fetchall(self) -> list[tuple[Any, ...]]:
        return self.rows


@dataclass
class FakeConnection:
    run: Run
    login: dict[str, Any]
    statements: list[str] = field(default_factory=list)
    alive: bool = True
    closed: bool = False

    def escape(self, value: Any) -> str:
        if isinstance(value, str):
            return "'" + pymysql.converters.escape_string(value) + "'"
        return str(pymysql.converters.escape_item(value, "utf8mb4"))

    def cursor(self) -> FakeCursor:
        return FakeCursor(self)

    def ping(self, reconnect: bool = False) -> None:
        if not self.alive:
            raise pymysql.err.OperationalError(2006, "MySQL server has gone away")

    def begin(self) -> None:
        self.statements.append("BEGIN")

    def commit(self) -> None:
        self.statements.append("COMMIT")

    def rollback(self) -> None:
        self.statements.append("ROLLBACK")

    def close(self) -> None:
        self.closed = True


@dataclass
class FakeSecrets:
    """Secrets Manager (the AWS service itself)."""

    values: dict[str, str]
    reads: int = 0

    def get_secret_value(self, **kwargs: Any) -> dict[str, Any]:
        self.reads += 1
        if kwargs["SecretId"] not in self.values:
            raise client_error(
                "ResourceNotFoundException", "Secrets Manager can't find the specified secret."
            )
        return {"SecretString": self.values[kwargs["SecretId"]]}


def ok(sql: str) -> tuple[list[tuple[Any, ...]] | None, int, int]:
    return ([(1.5,)], 0, 0) if sql.startswith("SELECT") else (None, 1, 7)


@dataclass
class Bench:
    api: DataApi
    secrets: FakeSecrets
    connections: list[FakeConnection]
    run: list[Run]


@pytest.fixture
def bench() -> Bench:
    connections: list[FakeConnection] = []
    run: list[Run] = [ok]
    refused: list[str] = []

    def connect(**login: Any) -> FakeConnection:
        if login["password"] in refused:
            raise pymysql.err.OperationalError(1045, f"Access denied for user '{login['user']}'@'localhost'")
        connection = FakeConnection(lambda sql: run[0](sql), login)
        connections.append(connection)
        return connection

    secrets = FakeSecrets({SECRET: json.dumps({"username": "u", "password": "p"})})
    api = DataApi(CLUSTER, Pool("127.0.0.1", 1, connect), Secrets(secrets))  # type: ignore[arg-type]
    return Bench(api, secrets, connections, run)


@pytest.fixture
def client(bench: Bench) -> Iterator[Any]:
    server = DataApiServer(bench.api).start()
    try:
        yield boto3.client(
            "rds-data",
            endpoint_url=server.url,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            config=Config(retries={"max_attempts": 1}),
        )
    finally:
        server.stop()


def error_of(call: Callable[[], Any]) -> tuple[str, str, int]:
    with pytest.raises(ClientError) as raised:
        call()
    error = raised.value.response
    return error["Error"]["Code"], error["Error"]["Message"], error["ResponseMetadata"]["HTTPStatusCode"]


def test_a_statement_answers_with_records_and_generated_fields(client: Any, bench: Bench) -> None:
    target = {"resourceArn": CLUSTER, "secretArn": SECRET, "database": "db"}
    insert = client.execute_statement(**target, sql="INSERT INTO t VALUES (:v)", parameters=[
        {"name": "v", "value": {"stringValue": "a'b"}}])  # fmt: skip
    assert (insert["numberOfRecordsUpdated"], insert["generatedFields"]) == (1, [{"longValue": 7}])
    assert bench.connections[0].statements == ["INSERT INTO t VALUES ('a\\'b')"]
    assert bench.connections[0].login["database"] == "db"
    select = client.execute_statement(**target, sql="SELECT c FROM t", includeResultMetadata=True)
    assert select["records"] == [[{"doubleValue": 1.5}]]
    assert select["columnMetadata"][0]["typeName"] == "DOUBLE"
    formatted = client.execute_statement(**target, sql="SELECT c FROM t", formatRecordsAs="JSON")
    assert json.loads(formatted["formattedRecords"]) == [{"c": 1.5}] and "records" not in formatted
    assert len(bench.connections) == 1, "the connection is reused across requests"


def test_a_batch_is_one_transaction_rolled_back_whole_on_an_error(client: Any, bench: Bench) -> None:
    def refuse_b(sql: str) -> tuple[None, int, int]:
        if "'b'" in sql:
            raise pymysql.err.DataError(1406, "Data too long for column 'v' at row 1")
        return None, 1, 1

    bench.run[0] = refuse_b
    sets = [[{"name": "v", "value": {"stringValue": v}}] for v in "ab"]
    code, message, status = error_of(
        lambda: client.batch_execute_statement(resourceArn=CLUSTER, secretArn=SECRET, sql="INSERT :v",
                                               parameterSets=sets)
    )  # fmt: skip
    assert (code, status) == ("DatabaseErrorException", 400)
    assert message == "Database error code: 1406. Message: Data too long for column 'v' at row 1"
    assert code in DATABASE_ERROR_CODES and is_data_error(message)
    assert bench.connections[0].statements == ["BEGIN", "INSERT 'a'", "INSERT 'b'", "ROLLBACK"]
    bench.run[0] = ok
    answer = client.batch_execute_statement(resourceArn=CLUSTER, secretArn=SECRET, sql="INSERT :v",
                                            parameterSets=sets[:1])  # fmt: skip
    assert answer["updateResults"] == [{"generatedFields": [{"longValue": 7}]}]
    assert bench.connections[0].statements[-1] == "COMMIT" and len(bench.connections) == 1


@pytest.mark.parametrize(
    ("request_", "code", "words"),
    [
        ({"resourceArn": CLUSTER.replace(":c", ":other"), "sql": "SELECT 1"}, "BadRequestException",
         "HttpEndpoint is not enabled for cluster other"),
        ({"secretArn": SECRET + "-gone", "sql": "SELECT 1"}, "SecretsErrorException", "can't find"),
        ({"sql": "SELECT 1", "schema": "s"}, "BadRequestException", "schema"),
        ({"sql": "SELECT :missing"}, "BadRequestException", "missing"),
        ({"sql": "x", "parameters": [{"name": "a", "value": {"arrayValue": {"longValues": [1]}}}]},
         "BadRequestException", "Array parameters are not supported"),
        ({"sql": "x", "database": "d" * 65}, "BadRequestException", "max length"),
    ],
)  # fmt: skip
def test_requests_the_api_refuses(client: Any, request_: dict[str, Any], code: str, words: str) -> None:
    found, message, status = error_of(
        lambda: client.execute_statement(**{"resourceArn": CLUSTER, "secretArn": SECRET, **request_})
    )
    assert (found, status) == (code, 400) and words in message


def test_malformed_bodies_and_unknown_paths_are_refused(bench: Bench) -> None:
    assert bench.api.answer("/Execute", b"not json")[::2] == (400, "BadRequestException")
    assert bench.api.answer("/Execute", b"[]")[::2] == (400, "BadRequestException")
    status, body, code = bench.api.answer(
        "/Execute", json.dumps({"resourceArn": CLUSTER, "sql": "x", "bogus": 1}).encode()
    )
    assert (status, code) == (400, "BadRequestException")
    assert "secretArn" in json.loads(body)["message"] and "bogus" in json.loads(body)["message"]
    assert bench.api.answer("/Nope", b"{}")[::2] == (404, "UnknownOperationException")
    huge = json.dumps({"resourceArn": CLUSTER, "secretArn": SECRET, "sql": "x" * (4 * 1024 * 1024)}).encode()
    assert bench.api.answer("/Execute", huge)[::2] == (400, "BadRequestException")


def test_a_secret_without_credentials_is_invalid(client: Any, bench: Bench) -> None:
    bench.secrets.values[SECRET] = json.dumps({"user": "u"})
    code, _, status = error_of(
        lambda: client.execute_statement(resourceArn=CLUSTER, secretArn=SECRET, sql="x")
    )
    assert (code, status) == ("InvalidSecretException", 400)


def test_a_secret_is_read_again_when_the_database_refuses_its_login(bench: Bench) -> None:
    body = {"resourceArn": CLUSTER, "secretArn": SECRET, "sql": "INSERT 1"}
    assert bench.api.answer("/Execute", json.dumps(body).encode())[0] == 200
    bench.secrets.values[SECRET] = json.dumps({"username": "u", "password": "rotated"})
    bench.api.pool.close()  # a new connection is needed: the kept password is refused
    old = bench.api.pool.connect

    def refuse_old(**login: Any) -> Any:
        if login["password"] == "p":
            raise pymysql.err.OperationalError(
                1045, "Access denied for user 'u'@'localhost' (using password: YES)"
            )
        return old(**login)

    bench.api.pool.connect = refuse_old
    assert bench.api.answer("/Execute", json.dumps(body).encode())[0] == 200
    assert bench.secrets.reads == 2


def test_a_dead_idle_connection_is_dropped_and_reopened(bench: Bench) -> None:
    body = json.dumps({"resourceArn": CLUSTER, "secretArn": SECRET, "sql": "INSERT 1"}).encode()
    assert bench.api.answer("/Execute", body)[0] == 200
    bench.connections[0].alive = False
    assert bench.api.answer("/Execute", body)[0] == 200
    assert len(bench.connections) == 2 and bench.connections[0].closed


def test_an_unreachable_database_is_unavailable_and_the_sink_tries_again(bench: Bench) -> None:
    def unreachable(**login: Any) -> Any:
        raise pymysql.err.OperationalError(2003, "Can't connect to MySQL server on '127.0.0.1' ([Errno 111])")

    bench.api.pool.connect = unreachable
    status, _, code = bench.api.answer(
        "/Execute", json.dumps({"resourceArn": CLUSTER, "secretArn": SECRET, "sql": "x"}).encode()
    )
    assert (status, code) == (504, "DatabaseUnavailableException") and code in TRANSIENT_CODES


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (pymysql.err.OperationalError(2013, "Lost connection to server during query"), "DatabaseUnavailableException"),
        (pymysql.err.InterfaceError(0, ""), "DatabaseUnavailableException"),
        (pymysql.err.OperationalError(1969, "Query execution was interrupted (max_statement_time exceeded)"),
         "StatementTimeoutException"),
        (pymysql.err.ProgrammingError(1146, "Table 'x.t' doesn't exist"), "DatabaseErrorException"),
        (pymysql.err.OperationalError(1045, "Access denied for user 'u'@'h'"), "DatabaseErrorException"),
    ],
)  # fmt: skip
def test_database_errors_map_to_the_data_apis_codes(error: pymysql.err.MySQLError, code: str) -> None:
    assert database_error(error).code == code


def test_a_table_missing_is_not_a_values_fault() -> None:
    message = database_error(pymysql.err.ProgrammingError(1146, "Table 'x.t' doesn't exist")).message
    assert message == "Database error code: 1146. Message: Table 'x.t' doesn't exist" and not is_data_error(
        message
    )


def test_transactions_begin_commit_roll_back_and_are_then_gone(client: Any, bench: Bench) -> None:
    target = {"resourceArn": CLUSTER, "secretArn": SECRET}
    transaction = client.begin_transaction(**target)["transactionId"]
    client.execute_statement(**target, sql="INSERT 1", transactionId=transaction)
    assert (
        client.commit_transaction(**target, transactionId=transaction)["transactionStatus"]
        == "Transaction Committed"
    )
    code, message, status = error_of(lambda: client.commit_transaction(**target, transactionId=transaction))
    assert (code, status) == ("TransactionNotFoundException", 404) and "committed" in message
    other = client.begin_transaction(**target)["transactionId"]
    assert (
        client.rollback_transaction(**target, transactionId=other)["transactionStatus"] == "Rollback Complete"
    )
    bench.run[0] = lambda sql: (_ for _ in ()).throw(pymysql.err.IntegrityError(1062, "Duplicate entry"))
    third = client.begin_transaction(**target)["transactionId"]
    assert error_of(lambda: client.execute_statement(**target, sql="INSERT 1", transactionId=third))[0] == (
        "DatabaseErrorException"
    )
    code, message, _ = error_of(
        lambda: client.execute_statement(**target, sql="INSERT 1", transactionId=third)
    )
    assert code == "TransactionNotFoundException" and "aborted" in message


def test_values_are_answered_as_the_data_api_writes_them() -> None:
    from datetime import date, datetime, timedelta
    from decimal import Decimal

    assert field_of(None, {}) == {"isNull": True}
    assert field_of(Decimal("1.50"), {}) == {"stringValue": "1.50"}
    assert field_of(Decimal("3"), {"decimalReturnType": "DOUBLE_OR_LONG"}) == {"longValue": 3}
    assert field_of(7, {"longReturnType": "STRING"}) == {"stringValue": "7"}
    assert field_of(b"\x00", {}) == {"blobValue": "AA=="}
    assert field_of(date(2026, 1, 2), {}) == {"stringValue": "2026-01-02"}
    assert text_of(datetime(2026, 1, 2, 3, 4, 5)) == "2026-01-02 03:04:05"
    assert text_of(datetime(2026, 1, 2, 3, 4, 5, 120000)) == "2026-01-02 03:04:05.120"
    assert text_of(datetime(2026, 1, 2, 3, 4, 5, 123456)) == "2026-01-02 03:04:05.123456"
    assert text_of(timedelta(hours=30, seconds=1)) == "30:00:01"


def test_every_parameter_set_of_a_batch_is_checked(bench: Bench) -> None:
    good = [{"name": "v", "value": {"longValue": 1}}]
    bad = [{"name": "v", "value": {"longValue": 1}, "typehint": "DATE"}]
    body = {
        "resourceArn": CLUSTER,
        "secretArn": SECRET,
        "sql": "INSERT :v",
        "parameterSets": [good, good, bad],
    }
    status, answer, code = bench.api.answer("/BatchExecute", json.dumps(body).encode())
    assert (status, code) == (400, "BadRequestException") and "typehint" in json.loads(answer)["message"]
    assert bench.connections == [], "nothing ran"


def test_a_request_refused_before_it_runs_keeps_the_connection(bench: Bench) -> None:
    body = {"resourceArn": CLUSTER, "secretArn": SECRET}
    assert bench.api.answer("/Execute", json.dumps({**body, "sql": "SELECT :gone"}).encode())[0] == 400
    assert bench.api.answer("/Execute", json.dumps({**body, "sql": "SELECT 1"}).encode())[0] == 200
    assert len(bench.connections) == 1 and not bench.connections[0].closed


def test_a_transaction_idle_too_long_expires(bench: Bench) -> None:
    bench.api.transactions.idle_seconds = 0.0
    body = {"resourceArn": CLUSTER, "secretArn": SECRET}
    status, answer, _ = bench.api.answer("/BeginTransaction", json.dumps(body).encode())
    identifier = json.loads(answer)["transactionId"]
    assert status == 200 and 0 < len(identifier) <= 192
    status, answer, code = bench.api.answer(
        "/Execute", json.dumps({**body, "sql": "INSERT 1", "transactionId": identifier}).encode()
    )
    assert (status, code) == (404, "TransactionNotFoundException") and "expired" in json.loads(answer)[
        "message"
    ]
    assert bench.connections[-1].closed
