"""The SQL sink: readings as rows of `events` and `event_tags` (sql_schema.py), through the RDS Data API.

The Data API (`rds-data`) takes SQL over HTTPS with the cluster's ARN and a secret's ARN: the function holds no
database connection, so Lambda's concurrency never exhausts the database's. `BatchExecuteStatement` runs one
statement over many parameter sets; each value is typed (`doubleValue`, `stringValue`, and the time a
`stringValue` with `typeHint: TIMESTAMP` in "YYYY-MM-DD HH:MM:SS.fff", UTC).

Limits (RDS Data API reference, BatchExecuteStatement): "There isn't a fixed upper limit on the number of
parameter sets. However, the maximum size of the HTTP request submitted through the Data API is 4 MiB ... This
4-MiB limit includes the size of the HTTP headers and the JSON notation", and "The response size limit is 1 MiB".
A request here holds at most MAX_PARAMETER_SETS sets and MAX_REQUEST_BYTES of them, counted as their JSON's
largest possible size (every character escaped); its answer (one `updateResults` entry of ~50 bytes per set:
the generated id) stays far below 1 MiB.

A reading's tags are written before its values (a row of `events` means its tags are there); both are upserts
on the reading's key (sql_schema.py says why), so a retried, replayed or half-written batch is written again
whole and never adds a row. Not in a transaction: a transaction would hold the batch's locks across requests,
and the upserts make one unnecessary.

Errors:
- transient (StatementTimeoutException, ServiceUnavailableError, InternalServerErrorException,
  DatabaseUnavailableException, throttling, a paused Aurora Serverless v2 cluster's DatabaseResumingException,
  "Wait a few seconds and try again", and connection errors) are retried within the invocation's time, then
  raise SqlUnavailable: the readings are missing in this sink, never dropped;
- the call or the secret refused (AccessDeniedException, InvalidSecretException, DatabaseNotFoundException, ...)
  raise SqlUnavailable at once: a configuration to fix, then `make replay`;
- a value the database refuses (DatabaseErrorException, or BadRequestException from Aurora Serverless v1, with a
  MySQL data error: too long, out of range, an incorrect value) is found by splitting the request until the one
  parameter set is left; its reading is refused with the database's reason and the others are written. Any
  other database error (a missing table or grant) is not the reading's fault: SqlUnavailable.
A reading that could never fit (a text longer than its column, a value that is not finite, text that is not
UTF-8) is refused before anything is sent, with its reason.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from ingest_to_influxdb import sql_schema
from ingest_to_influxdb.errors import TransientError
from ingest_to_influxdb.ports import RemainingTime, SinkRow

MAX_REQUEST_BYTES = (
    4 * 1024 * 1024 - 256 * 1024
)  # the Data API's 4 MiB, less room for headers and the envelope
MAX_PARAMETER_SETS = 1_000  # a request's statement time and answer stay small (45 s, 1 MiB limits)
# A set's JSON outside its texts: {"name":"sensor","value":{"stringValue":""}} and its siblings, generously.
SET_OVERHEAD_BYTES = 400
ESCAPED_CHARACTER_BYTES = 12  # the most a character takes in JSON: a surrogate pair as two \\uXXXX escapes
RETRY_DELAYS = (0.2, 0.5, 1.0, 2.0, 4.0)
RESUMING_DELAYS = (2.0, 4.0, 8.0, 8.0)  # an Aurora Serverless v2 instance resumes in about 15 seconds
SAFETY_MARGIN = 5.0  # seconds left to the invocation for putting what is missing on the dead letters

TRANSIENT_CODES = frozenset(
    {
        "StatementTimeoutException",
        "ServiceUnavailableError",
        "InternalServerErrorException",
        "DatabaseUnavailableException",
        "DatabaseResumingException",
        "ThrottlingException",
        "TooManyRequestsException",
        "Throttling",
        "RequestLimitExceeded",
    }
)
RESUMING = "DatabaseResumingException"
DATABASE_ERROR_CODES = frozenset({"DatabaseErrorException", "BadRequestException"})
# MySQL's errors about a value (server error reference): 1048 column cannot be null, 1264 out of range, 1265 data
# truncated, 1292 incorrect datetime/truncated incorrect value, 1366 incorrect string/integer value, 1406 data
# too long, 3988 conversion from a character set. The Data API says them as "Database error code: N. Message: ..."
# (Aurora Serverless v2) or JDBC's text, "Data truncation: Data too long ..." (v1).
DATA_ERROR_NUMBERS = frozenset({1048, 1264, 1265, 1292, 1366, 1406, 3988})
_ERROR_NUMBER = re.compile(r"(?:error code|errno|error)\D{0,4}(\d{4})", re.IGNORECASE)
_DATA_ERROR_WORDS = re.compile(
    r"data truncat|data too long|out of range|incorrect (?:\w+ )?value|cannot be null", re.IGNORECASE
)


class DataApiClient(Protocol):
    """What the sink uses of boto3's `rds-data` client (a local stand-in of the Data API may serve it)."""

    def batch_execute_statement(self, **kwargs: Any) -> Mapping[str, Any]: ...

    def execute_statement(self, **kwargs: Any) -> Mapping[str, Any]: ...


class SqlUnavailable(TransientError):
    """The SQL sink did not take the readings (unreachable, paused too long, throttled, misconfigured)."""


class _Refused(Exception):
    """The database refused the statement over these parameter sets."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


Parameter = dict[str, Any]
ParameterSet = list[Parameter]


def timestamp(time_ms: int) -> str:
    """A time in milliseconds since the epoch as the Data API's TIMESTAMP text, UTC: 2026-12-04 12:00:00.123."""
    seconds, milliseconds = divmod(time_ms, 1000)
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(seconds)) + f".{milliseconds:03d}"


def text(name: str, value: str) -> Parameter:
    return {"name": name, "value": {"stringValue": value}}


def double(name: str, value: float) -> Parameter:
    return {"name": name, "value": {"doubleValue": value}}


def moment(name: str, time_ms: int) -> Parameter:
    return {"name": name, "typeHint": "TIMESTAMP", "value": {"stringValue": timestamp(time_ms)}}


def error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def error_message(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Message", "") or error)


def is_data_error(message: str) -> bool:
    """Whether the database's message is about a value (the reading's fault), not the statement or the grants."""
    number = _ERROR_NUMBER.search(message)
    if number is not None:
        return int(number.group(1)) in DATA_ERROR_NUMBERS
    return _DATA_ERROR_WORDS.search(message) is not None


# A DATETIME's range (MySQL 8 and MariaDB: '1000-01-01 00:00:00' to '9999-12-31 23:59:59'), in ms since 1970.
FIRST_DATETIME_MS = -30_610_224_000_000
LAST_DATETIME_MS = 253_402_300_799_999


def misfit(row: SinkRow) -> str | None:
    """Why the row cannot be written as it is, without asking the database; None when it fits."""
    texts = (
        ("the kind", row.kind, sql_schema.BOARD_LENGTH),
        ("the sensor id", row.sensor_id, sql_schema.SENSOR_LENGTH),
        *(("a field's name", name, sql_schema.FIELD_LENGTH) for name in row.fields),
        *(("a tag's name", name, sql_schema.TAG_NAME_LENGTH) for name in row.tags),
        *(("a tag's value", value, sql_schema.TAG_VALUE_LENGTH) for value in row.tags.values()),
    )
    for what, value, limit in texts:
        if not value or len(value) > limit:
            return f"{what} is {len(value)} characters long; its SQL column holds 1 to {limit}"
        try:
            value.encode()
        except UnicodeEncodeError:
            return f"{what} is not valid Unicode text (a lone surrogate): SQL cannot store it"
    for what, value in (("the sensor id", row.sensor_id), *(("a tag's name", name) for name in row.tags)):
        if value[-1] == " ":  # (the keys' texts: a value's trailing spaces are kept, not compared)
            return (
                f"{what} {value!r} ends with a space: MySQL compares keys without trailing spaces (PAD SPACE), "
                "so SQL would take it for the one without them"
            )
    if not FIRST_DATETIME_MS <= row.time_ms <= LAST_DATETIME_MS:
        return (
            f"the reading's time ({row.time_ms} ms since 1970) is outside a SQL DATETIME's years 1000 to 9999"
        )
    for name, number in row.fields.items():
        if not isinstance(number, int | float) or isinstance(number, bool) or not math.isfinite(number):
            return f"the field {name} is {number!r}: a SQL DOUBLE holds finite numbers only"
    return None


def tag_sets(row: SinkRow) -> list[ParameterSet]:
    """INSERT_TAG's parameters for each of the row's tags."""
    return [
        [
            text("sensor", row.sensor_id),
            text("board", row.kind),
            moment("ts", row.time_ms),
            text("name", name),
            text("value", value),
        ]
        for name, value in row.tags.items()
    ]


def event_sets(row: SinkRow) -> list[ParameterSet]:
    """INSERT_EVENT's parameters for each of the row's fields."""
    return [
        [
            moment("ts", row.time_ms),
            double("value", float(number)),
            text("board", row.kind),
            text("sensor", row.sensor_id),
            text("field", name),
        ]
        for name, number in row.fields.items()
    ]


def _size(parameters: ParameterSet) -> int:
    """The most JSON bytes the set can take in the request (each character escaped at worst)."""
    characters = sum(
        len(value)
        for parameter in parameters
        for value in parameter["value"].values()
        if isinstance(value, str)
    )
    return SET_OVERHEAD_BYTES + ESCAPED_CHARACTER_BYTES * characters


def requests(sets: Sequence[ParameterSet], max_sets: int, max_bytes: int) -> list[tuple[int, int]]:
    """(start, end) of the sets of each request, in order, within the limits (a set alone always goes)."""
    spans: list[tuple[int, int]] = []
    start, size = 0, 0
    for i, parameters in enumerate(sets):
        length = _size(parameters)
        if i > start and (i - start == max_sets or size + length > max_bytes):
            spans.append((start, i))
            start, size = i, 0
        size += length
    if start < len(sets):
        spans.append((start, len(sets)))
    return spans


@dataclass
class SentRows:
    """Rows written by `SqlSink.send`: the Data API answers synchronously, so the answer is here already."""

    refused: dict[int, str] | None = None
    error: TransientError | None = None

    def result(self) -> dict[int, str]:
        if self.error is not None:
            raise self.error
        return self.refused or {}


class Pauses:
    """The waits before each try again of a Data API call that failed transiently: a paused cluster resuming
    has its own, longer ones. `next` is None when the tries are used up."""

    def __init__(self, retry_delays: Sequence[float], resuming_delays: Sequence[float]) -> None:
        self._waits = {False: list(retry_delays), True: list(resuming_delays)}

    def next(self, code: str) -> float | None:
        waits = self._waits[code == RESUMING]
        return waits.pop(0) if waits else None


class SqlSink:
    """The RowWriter of the SQL sink: one Data API client per container, the writer's secret."""

    def __init__(
        self,
        client: DataApiClient,
        resource_arn: str,
        secret_arn: str,
        database: str,
        retry_delays: Sequence[float] = RETRY_DELAYS,
        resuming_delays: Sequence[float] = RESUMING_DELAYS,
        sleep: Callable[[float], None] = time.sleep,
        max_sets: int = MAX_PARAMETER_SETS,
        max_bytes: int = MAX_REQUEST_BYTES,
    ) -> None:
        self.client = client
        self.target = {"resourceArn": resource_arn, "secretArn": secret_arn, "database": database}
        self.retry_delays, self.resuming_delays, self.sleep = retry_delays, resuming_delays, sleep
        self.max_sets, self.max_bytes = max_sets, max_bytes

    def send(self, lines: Sequence[SinkRow], remaining: RemainingTime) -> SentRows:
        try:
            return SentRows(refused=self.write(lines, remaining))
        except TransientError as error:
            return SentRows(error=error)

    def write(self, lines: Sequence[SinkRow], remaining: RemainingTime) -> dict[int, str]:
        """The rows' tags, then their values; returns the rows refused for good (index -> reason); raises
        SqlUnavailable when the sink did not take them all (what it took is written again by a retry: upserts)."""
        refused = {i: problem for i, row in enumerate(lines) if (problem := misfit(row)) is not None}
        self._insert(sql_schema.INSERT_TAG, tag_sets, lines, refused, remaining)
        self._insert(sql_schema.INSERT_EVENT, event_sets, lines, refused, remaining)
        return refused

    def _insert(
        self,
        sql: str,
        sets_of: Callable[[SinkRow], list[ParameterSet]],
        lines: Sequence[SinkRow],
        refused: dict[int, str],
        remaining: RemainingTime,
    ) -> None:
        """One statement over the sets of the rows not refused yet; a row one of whose sets the database refuses is
        refused (added to `refused`)."""
        owners: list[int] = []
        sets: list[ParameterSet] = []
        for i, row in enumerate(lines):
            if i not in refused:
                row_sets = sets_of(row)
                owners += [i] * len(row_sets)
                sets += row_sets
        for index, reason in self._execute(sql, sets, remaining).items():
            refused.setdefault(owners[index], reason)

    def _execute(self, sql: str, sets: Sequence[ParameterSet], remaining: RemainingTime) -> dict[int, str]:
        """Run the statement over the sets, request by request; the sets refused for good, with the reason."""
        refused: dict[int, str] = {}
        for start, end in requests(sets, self.max_sets, self.max_bytes):
            refused.update({start + i: r for i, r in self._refusals(sql, sets[start:end], remaining).items()})
        return refused

    def _refusals(self, sql: str, sets: Sequence[ParameterSet], remaining: RemainingTime) -> dict[int, str]:
        """One request; when the database refuses a value, the sets are split until the refused ones are found."""
        try:
            self._call(sql, sets, remaining)
        except _Refused as refused:
            if len(sets) == 1:
                return {0: f"the database refused it: {refused.reason}"}
            middle = len(sets) // 2
            found = self._refusals(sql, sets[:middle], remaining)
            found.update({middle + i: r for i, r in self._refusals(sql, sets[middle:], remaining).items()})
            return found
        return {}

    def _call(self, sql: str, sets: Sequence[ParameterSet], remaining: RemainingTime) -> None:
        pauses = Pauses(self.retry_delays, self.resuming_delays)
        while True:
            try:
                self.client.batch_execute_statement(**self.target, sql=sql, parameterSets=list(sets))
                return
            except ClientError as error:
                code, message = error_code(error), error_message(error)
                if code in DATABASE_ERROR_CODES and is_data_error(message):
                    raise _Refused(message) from None
                problem = f"the Data API answered {code or 'an error'}: {message}"
                if code not in TRANSIENT_CODES:
                    raise SqlUnavailable(problem) from None
            except BotoCoreError as error:
                problem = f"the Data API is unreachable: {type(error).__name__}: {error}"
                code = ""
            pause = pauses.next(code)
            if pause is None:
                raise SqlUnavailable(problem)
            if remaining() < pause + SAFETY_MARGIN:
                raise SqlUnavailable(f"{problem} (no time left to try again)")
            self.sleep(pause)
