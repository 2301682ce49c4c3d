"""Plays the RDS Data API (`rds-data`, REST-JSON) of one Aurora MySQL cluster on 127.0.0.1, forwarding each
statement to a real MariaDB through PyMySQL with the credentials of the secret the request names.

- Operations: POST /Execute (ExecuteStatement), /BatchExecute (BatchExecuteStatement), /BeginTransaction,
  /CommitTransaction, /RollbackTransaction, with the members of botocore's service model (a request is checked
  against it: unknown members, types, lengths -> BadRequestException).
- `resourceArn` must be the cluster's ARN the server plays; another gets BadRequestException "HttpEndpoint is not
  enabled for cluster ..." (the Data API's troubleshooting guide: the ARN does not match a cluster's).
- `secretArn` is read from Secrets Manager (moto's server): SecretsErrorException when it cannot be read,
  InvalidSecretException when it holds no `username` and `password`. Each secret's value is kept SECRET_TTL
  seconds; a login MariaDB refuses (1045) reads the secret again once (a rotated password).
- Connections are pooled per (username, password, database), IDLE_PER_LOGIN kept idle per key; an idle one is
  pinged before use and reopened when dead. Sessions are UTC with a statement time of the Data API's 45 s.
- BatchExecuteStatement runs its sets in one transaction of its own unless a transactionId is given (the API
  reference: "If a call isn't part of a transaction ..., changes that result from the call are committed
  automatically"; a set refused leaves none of the request's sets written, so a caller may split and retry).
- A transaction is a connection of its own, ended by Commit/Rollback, by an error in one of its statements (the
  Data API aborts it) or after TRANSACTION_IDLE_SECONDS without a call; then TransactionNotFoundException.
"""

from __future__ import annotations

import argparse
import base64
import json
import math
import secrets as tokens
import signal
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, Protocol, cast

import boto3
import botocore.session
import pymysql
from botocore.exceptions import BotoCoreError, ClientError
from botocore.validate import ParamValidator
from pymysql.connections import Connection
from pymysql.constants import FIELD_TYPE, FLAG
from sql_setup.constants import PASSWORD_KEY, USERNAME_KEY

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient

from local_aws.limits import (
    DATA_API_MAX_REQUEST_BYTES,
    DATA_API_MAX_RESPONSE_BYTES,
    DATA_API_STATEMENT_SECONDS,
    DATA_API_TRANSACTION_IDLE_SECONDS,
)
from local_aws.rds_data import binding
from local_aws.rds_data.errors import (
    SERVICE,
    UNKNOWN_OPERATION,
    ApiError,
    database_error,
    is_connection_error,
)
from local_aws.serving import ThreadedServer

HOST = "127.0.0.1"
REGION = "us-east-1"  # the sandbox's moto
SECRET_TTL = 5.0  # seconds a secret's value is used before it is read again
IDLE_PER_LOGIN = 4
ACCESS_DENIED = 1045
TOO_LARGE = "Request size exceeds the Data API's 4 MiB limit"
OPERATIONS = {
    "/Execute": "ExecuteStatement",
    "/BatchExecute": "BatchExecuteStatement",
    "/BeginTransaction": "BeginTransaction",
    "/CommitTransaction": "CommitTransaction",
    "/RollbackTransaction": "RollbackTransaction",
}
# JDBC's java.sql.Types for columnMetadata.type, by MySQL field type (the Data API's driver reports these).
JDBC_TYPES: dict[int, tuple[int, str]] = {
    FIELD_TYPE.TINY: (-6, "TINYINT"),
    FIELD_TYPE.SHORT: (5, "SMALLINT"),
    FIELD_TYPE.INT24: (4, "MEDIUMINT"),
    FIELD_TYPE.LONG: (4, "INT"),
    FIELD_TYPE.LONGLONG: (-5, "BIGINT"),
    FIELD_TYPE.FLOAT: (7, "FLOAT"),
    FIELD_TYPE.DOUBLE: (8, "DOUBLE"),
    FIELD_TYPE.DECIMAL: (3, "DECIMAL"),
    FIELD_TYPE.NEWDECIMAL: (3, "DECIMAL"),
    FIELD_TYPE.DATE: (91, "DATE"),
    FIELD_TYPE.TIME: (92, "TIME"),
    FIELD_TYPE.DATETIME: (93, "DATETIME"),
    FIELD_TYPE.TIMESTAMP: (93, "TIMESTAMP"),
    FIELD_TYPE.YEAR: (91, "YEAR"),
    FIELD_TYPE.BIT: (-7, "BIT"),
    FIELD_TYPE.JSON: (-1, "JSON"),
    FIELD_TYPE.VAR_STRING: (12, "VARCHAR"),
    FIELD_TYPE.VARCHAR: (12, "VARCHAR"),
    FIELD_TYPE.STRING: (1, "CHAR"),
    FIELD_TYPE.BLOB: (-4, "BLOB"),
    FIELD_TYPE.TINY_BLOB: (-3, "TINYBLOB"),
    FIELD_TYPE.MEDIUM_BLOB: (-4, "MEDIUMBLOB"),
    FIELD_TYPE.LONG_BLOB: (-4, "LONGBLOB"),
}
BINARY_CHARSET = 63


class SecretsClient(Protocol):
    def get_secret_value(self, **kwargs: Any) -> Mapping[str, Any]: ...


Connect = Callable[..., "Connection[Any]"]


@dataclass(frozen=True)
class Login:
    user: str
    password: str
    database: str | None


class Secrets:
    """Each secret's username and password, read from Secrets Manager and kept a few seconds."""

    def __init__(self, client: SecretsClient | SecretsManagerClient, ttl: float = SECRET_TTL) -> None:
        self.client, self.ttl = client, ttl
        self._kept: dict[str, tuple[tuple[str, str], float]] = {}
        self._lock = threading.Lock()

    def credentials(self, arn: str) -> tuple[str, str]:
        with self._lock:
            kept = self._kept.get(arn)
        if kept is not None and kept[1] > time.monotonic():
            return kept[0]
        try:
            text = self.client.get_secret_value(SecretId=arn).get("SecretString")
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            if code == "ResourceNotFoundException":
                raise ApiError(
                    "SecretsErrorException", "Secrets Manager can't find the specified secret."
                ) from None
            raise ApiError("SecretsErrorException", f"Error fetching secret: {code}") from None
        except BotoCoreError as error:
            raise ApiError("SecretsErrorException", f"Error fetching secret: {error}") from None
        try:
            value = json.loads(text) if isinstance(text, str) else None
        except ValueError:
            value = None
        user = value.get(USERNAME_KEY) if isinstance(value, dict) else None
        password = value.get(PASSWORD_KEY) if isinstance(value, dict) else None
        if not isinstance(user, str) or not isinstance(password, str):
            raise ApiError(
                "InvalidSecretException",
                f"The secret must be JSON with the keys {USERNAME_KEY} and {PASSWORD_KEY}.",
            )
        with self._lock:
            self._kept[arn] = ((user, password), time.monotonic() + self.ttl)
        return user, password

    def forget(self, arn: str) -> None:
        with self._lock:
            self._kept.pop(arn, None)


class Pool:
    """Open connections to MariaDB per login, reused across requests; a dead one is dropped and reopened."""

    def __init__(
        self, host: str, port: int, connect: Connect = pymysql.connect, idle_per_login: int = IDLE_PER_LOGIN
    ) -> None:
        self.host, self.port, self.connect, self.idle_per_login = host, port, connect, idle_per_login
        self._idle: dict[Login, list[Connection[Any]]] = {}
        self._lock = threading.Lock()
        self.opened = 0

    def open(self, login: Login) -> Connection[Any]:
        connection = self.connect(
            host=self.host,
            port=self.port,
            user=login.user,
            password=login.password,
            database=login.database,
            charset="utf8mb4",
            autocommit=True,
            connect_timeout=5,
            init_command=f"SET time_zone = '+00:00', max_statement_time = {DATA_API_STATEMENT_SECONDS}",
        )
        self.opened += 1
        return connection

    def take(self, login: Login) -> Connection[Any]:
        while True:
            with self._lock:
                idle = self._idle.get(login)
                connection = idle.pop() if idle else None
            if connection is None:
                return self.open(login)
            try:
                connection.ping(reconnect=False)
                return connection
            except pymysql.err.MySQLError:
                _close(connection)

    def give(self, login: Login, connection: Connection[Any]) -> None:
        with self._lock:
            idle = self._idle.setdefault(login, [])
            if len(idle) < self.idle_per_login:
                idle.append(connection)
                return
        _close(connection)

    @contextmanager
    def lent(self, login: Login, connection: Connection[Any]) -> Iterator[Connection[Any]]:
        """A taken connection used for one request, given back unless it broke."""
        try:
            yield connection
        except pymysql.err.MySQLError as error:
            if is_connection_error(error):
                _close(connection)
            else:
                self.give(login, connection)
            raise
        except ApiError:  # the request's fault, found before anything ran: the connection is sound
            self.give(login, connection)
            raise
        except BaseException:
            _close(connection)
            raise
        self.give(login, connection)

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, {}
        for connections in idle.values():
            for connection in connections:
                _close(connection)


def _close(connection: Connection[Any]) -> None:
    with suppress(Exception):  # already closed or broken: nothing to give back
        connection.close()


@dataclass
class Transaction:
    id: str
    login: Login
    connection: Connection[Any]
    used: float = field(default_factory=time.monotonic)
    busy: threading.Lock = field(default_factory=threading.Lock)


class Transactions:
    def __init__(self, idle_seconds: float = DATA_API_TRANSACTION_IDLE_SECONDS) -> None:
        self.idle_seconds = idle_seconds
        self._open: dict[str, Transaction] = {}
        self._ended: dict[str, str] = {}  # id -> why it ended, for the error's message
        self._lock = threading.Lock()

    def start(self, login: Login, connection: Connection[Any]) -> str:
        identifier = tokens.token_urlsafe(96)  # the API's Id is at most 192 characters
        with self._lock:
            self._open[identifier] = Transaction(identifier, login, connection)
        return identifier

    def expire(self) -> None:
        now = time.monotonic()
        with self._lock:
            old = [t for t in self._open.values() if now - t.used > self.idle_seconds and not t.busy.locked()]
            for transaction in old:
                del self._open[transaction.id]
                self._ended[transaction.id] = "Transaction may be expired."
        for transaction in old:
            _close(transaction.connection)  # MySQL rolls back what a closed connection had not committed

    def find(self, identifier: str) -> Transaction:
        self.expire()
        with self._lock:
            transaction = self._open.get(identifier)
            why = self._ended.get(identifier, "It was not started by BeginTransaction.")
        if transaction is None:
            raise ApiError("TransactionNotFoundException", f"Transaction {identifier} isn't found. {why}")
        return transaction

    def end(self, identifier: str, why: str) -> Transaction:
        transaction = self.find(identifier)
        with self._lock:
            self._open.pop(identifier, None)
            self._ended[identifier] = why
            if len(self._ended) > 10_000:
                self._ended.clear()
        return transaction

    @contextmanager
    def using(self, identifier: str) -> Iterator[Transaction]:
        """The transaction for one call; an error of the database aborts it, as the Data API does."""
        transaction = self.find(identifier)
        if not transaction.busy.acquire(blocking=False):
            raise ApiError("DatabaseErrorException", "Transaction is still running a query")
        try:
            yield transaction
        except pymysql.err.MySQLError:
            self.end(identifier, "Transaction has been aborted due to an error from a previous call.")
            with suppress(pymysql.err.MySQLError):
                transaction.connection.rollback()
            _close(transaction.connection)
            raise
        finally:
            transaction.used = time.monotonic()
            transaction.busy.release()

    def close(self) -> None:
        with self._lock:
            open_, self._open = self._open, {}
        for transaction in open_.values():
            _close(transaction.connection)


def text_of(moment: datetime | timedelta) -> str:
    """A DATETIME as the Data API writes it, "YYYY-MM-DD HH:MM:SS[.fff]"; a TIME "HH:MM:SS[.fff]"."""
    if isinstance(moment, datetime):
        whole, micro = moment.strftime("%Y-%m-%d %H:%M:%S"), moment.microsecond
    else:
        seconds = int(moment.total_seconds())
        sign, seconds = ("-", -seconds) if seconds < 0 else ("", seconds)
        whole, micro = (
            f"{sign}{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}",
            moment.microseconds,
        )
    if not micro:
        return whole
    digits = f"{micro:06d}".rstrip("0")
    return f"{whole}.{digits.ljust(3, '0')}"


def field_of(value: Any, options: Mapping[str, str]) -> dict[str, Any]:
    """A column's value as a `Field` union (resultSetOptions: decimalReturnType, longReturnType)."""
    if value is None:
        return {"isNull": True}
    if isinstance(value, bool):
        return {"booleanValue": value}
    if isinstance(value, int):
        if options.get("longReturnType") == "STRING":
            return {"stringValue": str(value)}
        return {"longValue": value}
    if isinstance(value, float):
        return {"doubleValue": value}
    if isinstance(value, Decimal):
        if options.get("decimalReturnType") == "DOUBLE_OR_LONG":
            exponent = value.as_tuple().exponent
            if isinstance(exponent, int) and exponent >= 0:
                return {"longValue": int(value)}
            return {"doubleValue": float(value)}
        return {"stringValue": str(value)}
    if isinstance(value, datetime | timedelta):
        return {"stringValue": text_of(value)}
    if isinstance(value, date):
        return {"stringValue": value.isoformat()}
    if isinstance(value, bytes | bytearray):
        return {"blobValue": base64.b64encode(bytes(value)).decode()}
    return {"stringValue": str(value)}


def plain(value: Any) -> Any:
    """A column's value in formattedRecords' JSON."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | timedelta):
        return text_of(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(bytes(value)).decode()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def column_metadata(cursor: pymysql.cursors.Cursor) -> list[dict[str, Any]]:
    fields = getattr(getattr(cursor, "_result", None), "fields", None) or []
    columns = []
    described: Sequence[Sequence[Any]] = cast(Sequence[Sequence[Any]], cursor.description or ())
    for i, (name, type_code, _, length, precision, scale, null_ok) in enumerate(described):
        found = fields[i] if i < len(fields) else None
        flags = int(getattr(found, "flags", 0))
        jdbc, type_name = JDBC_TYPES.get(int(type_code), (1111, "OTHER"))
        text = getattr(found, "charsetnr", BINARY_CHARSET) != BINARY_CHARSET
        if text and type_code in (
            FIELD_TYPE.BLOB,
            FIELD_TYPE.TINY_BLOB,
            FIELD_TYPE.MEDIUM_BLOB,
            FIELD_TYPE.LONG_BLOB,
        ):
            jdbc, type_name = -1, "TEXT"
        if type_name in {"BIGINT", "INT", "MEDIUMINT", "SMALLINT", "TINYINT"} and flags & FLAG.UNSIGNED:
            type_name += " UNSIGNED"
        columns.append(
            {
                "name": str(getattr(found, "org_name", "") or name),
                "label": str(name),
                "type": jdbc,
                "typeName": type_name,
                "schemaName": str(getattr(found, "db", "") or ""),
                "tableName": str(getattr(found, "org_table", "") or ""),
                "isAutoIncrement": bool(flags & FLAG.AUTO_INCREMENT),
                "isSigned": jdbc in {-6, 5, 4, -5, 7, 8, 3} and not flags & FLAG.UNSIGNED,
                "isCurrency": False,
                "isCaseSensitive": jdbc in {12, 1, -1} and bool(flags & FLAG.BINARY),
                "nullable": 1 if null_ok else 0,
                "precision": int(precision or length or 0),
                "scale": int(scale or 0),
                "arrayBaseColumnType": 0,
            }
        )
    return columns


def generated(cursor: pymysql.cursors.Cursor) -> list[dict[str, Any]]:
    last = cursor.lastrowid
    return [{"longValue": int(last)}] if last else []


def _statement(body: Mapping[str, Any]) -> binding.Statement:
    return binding.parse(str(body["sql"]))


def _normalized_doubles(sets: Any) -> None:
    """A non-finite double arrives as "NaN", "Infinity" or "-Infinity" (JSON has no such number): made a float
    before the request is checked, so it is refused as the database would, not as a malformed request."""
    for parameters in sets if isinstance(sets, list) else ():
        for parameter in parameters if isinstance(parameters, list) else ():
            field_ = parameter.get("value") if isinstance(parameter, dict) else None
            if isinstance(field_, dict) and field_.get("doubleValue") in binding.NON_FINITE:
                field_["doubleValue"] = binding.NON_FINITE[field_["doubleValue"]]


class DataApi:
    """The operations, each a request body (parsed JSON) to a response body."""

    def __init__(self, cluster_arn: str, pool: Pool, secrets: Secrets) -> None:
        self.cluster_arn, self.pool, self.secrets = cluster_arn, pool, secrets
        self.transactions = Transactions()
        self.model = botocore.session.get_session().get_service_model(SERVICE)
        self.validator = ParamValidator()
        self.requests = 0
        self.sets = 0

    # -- the request ----------------------------------------------------------------------------------
    def check(self, operation: str, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise ApiError("BadRequestException", "The request body must be a JSON object")
        if "parameters" in body:
            _normalized_doubles([body["parameters"]])
        if "parameterSets" in body:
            _normalized_doubles(body["parameterSets"])
        shape = self.model.operation_model(operation).input_shape
        assert shape is not None  # every operation of the service takes a body
        # The model checks the first parameter set; `binding.value` checks every set's members and types as
        # it reads them (a 1,000-set batch is checked in a tenth of the time).
        sets = body.get("parameterSets")
        report = self.validator.validate(
            {**body, "parameterSets": sets[:1]} if isinstance(sets, list) else body, shape
        )
        problems = [report.generate_report()] if report.has_errors() else []
        for name, member in shape.members.items():
            limit = member.metadata.get("max")
            if isinstance(body.get(name), str) and limit is not None and len(body[name]) > limit:
                problems.append(f"Invalid length for parameter {name}: valid max length: {limit}")
        if problems:
            raise ApiError("BadRequestException", "; ".join(problems).replace("\n", "; "))
        if body["resourceArn"] != self.cluster_arn:
            cluster = str(body["resourceArn"]).rsplit(":", 1)[-1]
            raise ApiError("BadRequestException", f"HttpEndpoint is not enabled for cluster {cluster}")
        if body.get("schema"):
            raise ApiError("BadRequestException", "The schema parameter isn't supported.")
        return body

    def login(self, body: Mapping[str, Any]) -> Login:
        user, password = self.secrets.credentials(str(body["secretArn"]))
        return Login(user, password, body.get("database") or None)

    @contextmanager
    def connection(self, body: Mapping[str, Any]) -> Iterator[Connection[Any]]:
        """The connection the call runs on: its transaction's, or the pool's for the secret's login. A login
        MariaDB refuses is tried once more with the secret read again (it may have been rotated)."""
        if body.get("transactionId"):
            with self.transactions.using(str(body["transactionId"])) as transaction:
                yield transaction.connection
            return
        login = self.login(body)
        try:
            connection = self.pool.take(login)
        except pymysql.err.OperationalError as error:
            if error.args[0] != ACCESS_DENIED:
                raise
            self.secrets.forget(str(body["secretArn"]))
            login = self.login(body)
            connection = self.pool.take(login)
        with self.pool.lent(login, connection):
            yield connection

    # -- the operations -------------------------------------------------------------------------------
    def execute_statement(self, body: dict[str, Any]) -> dict[str, Any]:
        statement = _statement(body)
        values = binding.values(body.get("parameters") or [])
        options = body.get("resultSetOptions") or {}
        with self.connection(body) as connection:
            sql = statement.bind(values, connection.escape)
            with connection.cursor() as cursor:
                cursor.execute(sql)
                rows = cursor.fetchall() if cursor.description else None
                self.sets += 1
                if rows is None:
                    return {
                        "numberOfRecordsUpdated": max(cursor.rowcount, 0),
                        "generatedFields": generated(cursor),
                    }
                answer: dict[str, Any] = {"numberOfRecordsUpdated": 0}
                if body.get("formatRecordsAs") == "JSON":
                    labels = [str(column[0]) for column in cursor.description or ()]
                    answer["formattedRecords"] = json.dumps(
                        [dict(zip(labels, map(plain, row), strict=True)) for row in rows]
                    )
                else:
                    answer["records"] = [[field_of(item, options) for item in row] for row in rows]
                if body.get("includeResultMetadata"):
                    answer["columnMetadata"] = column_metadata(cursor)
                return answer

    def batch_execute_statement(self, body: dict[str, Any]) -> dict[str, Any]:
        statement = _statement(body)
        sets = [binding.values(parameters) for parameters in body.get("parameterSets") or []]
        if not sets:
            return {"updateResults": []}
        own = not body.get("transactionId")
        results = []
        with self.connection(body) as connection:
            if own:
                connection.begin()
            try:
                with connection.cursor() as cursor:
                    for values in sets:
                        cursor.execute(statement.bind(values, connection.escape))
                        results.append({"generatedFields": generated(cursor)})
                if own:
                    connection.commit()
            except BaseException:
                if own:
                    with suppress(pymysql.err.MySQLError):
                        connection.rollback()
                raise
        self.sets += len(sets)
        return {"updateResults": results}

    def begin_transaction(self, body: dict[str, Any]) -> dict[str, Any]:
        login = self.login(body)
        connection = self.pool.open(login)
        try:
            connection.begin()
        except BaseException:
            _close(connection)
            raise
        return {"transactionId": self.transactions.start(login, connection)}

    def commit_transaction(self, body: dict[str, Any]) -> dict[str, Any]:
        return self._end_transaction(body, "It was committed.", lambda c: c.commit(), "Transaction Committed")

    def rollback_transaction(self, body: dict[str, Any]) -> dict[str, Any]:
        return self._end_transaction(body, "It was rolled back.", lambda c: c.rollback(), "Rollback Complete")

    def _end_transaction(
        self, body: dict[str, Any], why: str, finish: Callable[[Connection[Any]], None], status: str
    ) -> dict[str, Any]:
        """The transaction's end (`why`: what a later call on it is told), its connection closed either way."""
        transaction = self.transactions.end(str(body["transactionId"]), why)
        try:
            finish(transaction.connection)
        finally:
            _close(transaction.connection)
        return {"transactionStatus": status}

    def call(self, operation: str, raw: bytes) -> dict[str, Any]:
        """One request, its answer; raises ApiError."""
        try:
            body = self.check(operation, json.loads(raw or b"{}"))
        except (ValueError, UnicodeDecodeError):
            raise ApiError("BadRequestException", "The request body is not JSON") from None
        run = {
            "ExecuteStatement": self.execute_statement,
            "BatchExecuteStatement": self.batch_execute_statement,
            "BeginTransaction": self.begin_transaction,
            "CommitTransaction": self.commit_transaction,
            "RollbackTransaction": self.rollback_transaction,
        }[operation]
        self.requests += 1
        try:
            return run(body)
        except pymysql.err.MySQLError as error:
            raise database_error(error) from None

    def answer(self, path: str, raw: bytes) -> tuple[int, bytes, str | None]:
        """(status, body, error code) for a POST to `path`."""
        operation = OPERATIONS.get(path.split("?", 1)[0])
        try:
            if operation is None:
                raise ApiError(UNKNOWN_OPERATION, f"No operation at {path}")
            if len(raw) > DATA_API_MAX_REQUEST_BYTES:
                raise ApiError("BadRequestException", TOO_LARGE)
            data = json.dumps(self.call(operation, raw)).encode()
            if len(data) > DATA_API_MAX_RESPONSE_BYTES:
                raise ApiError("UnsupportedResultException", "Database response exceeded size limit")
            return 200, data, None
        except ApiError as error:
            return error.status, error.body(), error.code
        except Exception as error:  # a fault of the stand-in itself: the service's 500
            problem = ApiError("InternalServerErrorException", f"{type(error).__name__}: {error}")
            return problem.status, problem.body(), problem.code

    def close(self) -> None:
        self.transactions.close()
        self.pool.close()


class DataApiServer(ThreadedServer):
    def __init__(self, api: DataApi, host: str = HOST, port: int = 0) -> None:
        self.api = api
        served = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive: botocore reuses its connections
            # The headers and the body go out in separate writes: with Nagle's algorithm the body waited for the
            # client's delayed ACK of the headers, 40 ms a request.
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                served.serve(self)

        super().__init__(ThreadingHTTPServer((host, port), Handler), "rds-data")

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def stop(self) -> None:
        super().stop()
        self.api.close()

    def serve(self, request: BaseHTTPRequestHandler) -> None:
        length = int(request.headers.get("content-length") or 0)
        code: str | None
        if length > 2 * DATA_API_MAX_REQUEST_BYTES:  # far over the limit: not read, the connection closes
            request.close_connection = True
            too_large = ApiError("BadRequestException", TOO_LARGE)
            status, data, code = too_large.status, too_large.body(), too_large.code
        else:
            raw = request.rfile.read(length) if length else b""
            status, data, code = self.api.answer(request.path, raw)
        request.send_response(status)
        request.send_header("content-type", "application/json")
        request.send_header("x-amzn-RequestId", str(uuid.uuid4()))
        if code is not None:
            request.send_header("x-amzn-ErrorType", code)
        request.send_header("content-length", str(len(data)))
        request.end_headers()
        request.wfile.write(data)


def serve(
    cluster_arn: str,
    mysql_host: str,
    mysql_port: int,
    secrets_client: SecretsClient | SecretsManagerClient,
    host: str = HOST,
    port: int = 0,
) -> DataApiServer:
    """A started Data API for the cluster, forwarding to the MariaDB at mysql_host:mysql_port."""
    api = DataApi(cluster_arn, Pool(mysql_host, mysql_port), Secrets(secrets_client))
    return DataApiServer(api, host, port).start()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local_aws.rds_data", description=__doc__)
    parser.add_argument("--host", default=HOST)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--cluster-arn", required=True, help="the Aurora cluster's ARN the API answers for")
    parser.add_argument("--mysql-host", default=HOST)
    parser.add_argument("--mysql-port", type=int, required=True)
    parser.add_argument("--aws-endpoint", required=True, help="Secrets Manager's endpoint (moto's server)")
    args = parser.parse_args(argv)
    secrets_client = boto3.client(
        "secretsmanager",
        endpoint_url=args.aws_endpoint,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    try:
        server = serve(
            args.cluster_arn, args.mysql_host, args.mysql_port, secrets_client, args.host, args.port
        )
    except OSError as error:
        print(f"rds-data: cannot listen on {args.host}:{args.port}: {error}", file=sys.stderr, flush=True)
        return 2
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    print(
        f"rds-data: {server.url} -> mysql://{args.mysql_host}:{args.mysql_port} for {args.cluster_arn}",
        flush=True,
    )
    stop.wait()
    server.stop()
    print(
        f"rds-data stopped: {server.api.requests} requests, {server.api.sets} statements, "
        f"{server.api.pool.opened} connections opened",
        flush=True,
    )
    return 0
