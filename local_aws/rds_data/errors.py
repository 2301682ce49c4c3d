"""The Data API's errors as the service answers them: the HTTP status of the error's shape in botocore's service
model, the code in `x-amzn-ErrorType` and `__type`, the text in `message`, so botocore raises a ClientError with
the code as Error.Code. A MySQL error becomes what the Data API makes of it (`database_error`)."""

from __future__ import annotations

import functools
import json

import botocore.session
import pymysql

SERVICE = "rds-data"
UNKNOWN_OPERATION = "UnknownOperationException"  # a path the service does not have (not in the model)
# MySQL's client errors (CR_*, 2000 and up) are the connection's, not the statement's: the server is unreachable,
# went away or the connection broke. 0 is PyMySQL's own (a connection already closed).
CLIENT_ERRORS_FROM = 2000
STATEMENT_TIMEOUTS = frozenset({1969, 3024})  # MariaDB's max_statement_time, MySQL's max_execution_time
UNAVAILABLE = "The writer instance in the DB cluster isn't available."  # DatabaseUnavailableException's


class ApiError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code, self.message = code, message

    @property
    def status(self) -> int:
        return status_of(self.code)

    def body(self) -> bytes:
        return json.dumps({"__type": self.code, "message": self.message}).encode()


@functools.cache
def _statuses() -> dict[str, int]:
    """Each error code's HTTP status, from the service model (one place: botocore's)."""
    model = botocore.session.get_session().get_service_model(SERVICE)
    statuses: dict[str, int] = {}
    for name in model.operation_names:
        for shape in model.operation_model(name).error_shapes:
            statuses[shape.name] = int(shape.metadata["error"]["httpStatusCode"])
    return statuses


def status_of(code: str) -> int:
    if code == UNKNOWN_OPERATION:
        return 404
    return _statuses()[code]


def is_connection_error(error: pymysql.err.MySQLError) -> bool:
    number = error.args[0] if error.args and isinstance(error.args[0], int) else 0
    return isinstance(error, pymysql.err.InterfaceError) or number == 0 or number >= CLIENT_ERRORS_FROM


def database_error(error: pymysql.err.MySQLError) -> ApiError:
    """What the Data API answers for an error of the database: unreachable -> DatabaseUnavailableException, a
    statement over its time -> StatementTimeoutException, any other -> DatabaseErrorException "Database error code:
    N. Message: ..." (Aurora MySQL 3's wording)."""
    number = error.args[0] if error.args and isinstance(error.args[0], int) else 0
    text = str(error.args[1]) if len(error.args) > 1 else str(error)
    if is_connection_error(error):
        return ApiError("DatabaseUnavailableException", f"{UNAVAILABLE} ({text})")
    if number in STATEMENT_TIMEOUTS:
        return ApiError("StatementTimeoutException", f"Database error code: {number}. Message: {text}")
    return ApiError("DatabaseErrorException", f"Database error code: {number}. Message: {text}")
