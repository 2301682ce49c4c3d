"""The SQL sink's adapter against a fake of the AWS RDS Data API (tests/support/data_api_fake.py: it stands in for
the AWS service, not for project code). Typed parameters, requests within the Data API's limits, retries of what
is transient, refusals with the database's reason, and upserts that never add a row twice."""

from __future__ import annotations

import json
import math

import pytest
from ingest_to_influxdb import sql_schema
from ingest_to_influxdb.ports import SinkRow
from ingest_to_influxdb.sql_sink import (
    FIRST_DATETIME_MS,
    LAST_DATETIME_MS,
    MAX_REQUEST_BYTES,
    SqlSink,
    SqlUnavailable,
    is_data_error,
    requests,
    timestamp,
)

from tests.support.data_api_fake import FakeDataApi, client_error

ARN = "arn:aws:rds:eu-west-1:123456789012:cluster:demo-relational"
SECRET = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:demo/sql/writer"
T0 = 1_764_849_600_123  # 2025-12-04 12:00:00.123 UTC
ROW = SinkRow("pressure", "pump-1", T0, {"pressureValue": 1.5, "viscosity": 0.25}, {"site": "plant1"})


def sink(api: FakeDataApi, **options: object) -> tuple[SqlSink, list[float]]:
    slept: list[float] = []
    return SqlSink(api, ARN, SECRET, "telemetry", sleep=slept.append, **options), slept  # type: ignore[arg-type]


def plenty() -> float:
    return 60.0


def test_tags_then_values_with_typed_parameters() -> None:
    api = FakeDataApi()
    writer, _ = sink(api)
    assert writer.write([ROW], plenty) == {}
    tags_call, events_call = api.calls
    assert tags_call["sql"] == sql_schema.INSERT_TAG and events_call["sql"] == sql_schema.INSERT_EVENT
    assert {k: events_call[k] for k in ("resourceArn", "secretArn", "database")} == {
        "resourceArn": ARN,
        "secretArn": SECRET,
        "database": "telemetry",
    }
    first = events_call["parameterSets"][0]
    assert first == [
        {"name": "ts", "typeHint": "TIMESTAMP", "value": {"stringValue": "2025-12-04 12:00:00.123"}},
        {"name": "value", "value": {"doubleValue": 1.5}},
        {"name": "board", "value": {"stringValue": "pressure"}},
        {"name": "sensor", "value": {"stringValue": "pump-1"}},
        {"name": "field", "value": {"stringValue": "pressureValue"}},
    ]
    assert api.events == {
        ("pump-1", "pressure", "pressureValue", "2025-12-04 12:00:00.123"): 1.5,
        ("pump-1", "pressure", "viscosity", "2025-12-04 12:00:00.123"): 0.25,
    }
    assert api.tags == {("pump-1", "pressure", "2025-12-04 12:00:00.123", "site"): "plant1"}


def test_a_reading_written_again_replaces_never_adds() -> None:
    api = FakeDataApi()
    writer, _ = sink(api)
    writer.write([ROW], plenty)
    writer.write([ROW._replace(fields={"pressureValue": 2.0, "viscosity": 0.25})], plenty)
    assert len(api.events) == 2
    assert api.events[("pump-1", "pressure", "pressureValue", "2025-12-04 12:00:00.123")] == 2.0


def test_timestamps_are_utc_with_milliseconds() -> None:
    assert timestamp(0) == "1970-01-01 00:00:00.000"
    assert timestamp(T0 + 877) == "2025-12-04 12:00:01.000"
    assert timestamp(T0 - 123 + 7) == "2025-12-04 12:00:00.007"


def test_requests_stay_within_the_set_count_and_the_4_mib_limit() -> None:
    api = FakeDataApi()
    writer, _ = sink(api, max_sets=3)
    rows = [ROW._replace(sensor_id=f"pump-{i}") for i in range(5)]  # 10 values, 5 tags
    assert writer.write(rows, plenty) == {}
    sizes = [len(call["parameterSets"]) for call in api.calls]
    assert sizes == [3, 2, 3, 3, 3, 1] and len(api.events) == 10
    # Long texts: the largest a request's JSON could be stays under the limit, whatever its characters.
    long = "\U0001f600" * sql_schema.SENSOR_LENGTH
    sets = [[{"name": "sensor", "value": {"stringValue": long}}]] * 2_000
    spans = requests(sets, 1_000, MAX_REQUEST_BYTES)
    for start, end in spans:
        body = json.dumps({"sql": sql_schema.INSERT_EVENT, "parameterSets": sets[start:end]})
        assert len(body.encode()) <= MAX_REQUEST_BYTES
    assert spans[0] == (0, spans[0][1]) and spans[-1][1] == 2_000


@pytest.mark.parametrize(
    "code",
    [
        "StatementTimeoutException",
        "ServiceUnavailableError",
        "DatabaseUnavailableException",
        "InternalServerErrorException",
        "ThrottlingException",
    ],
)
def test_transient_errors_are_retried(code: str) -> None:
    api = FakeDataApi(errors=[client_error(code, "try again"), client_error(code, "try again")])
    writer, slept = sink(api)
    assert writer.write([ROW], plenty) == {}
    assert len(slept) == 2 and len(api.events) == 2


def test_a_paused_cluster_is_waited_for_while_it_resumes() -> None:
    resuming = client_error("DatabaseResumingException", "The Aurora DB instance is resuming")
    api = FakeDataApi(errors=[resuming, resuming])
    writer, slept = sink(api)
    assert writer.write([ROW], plenty) == {}
    assert slept == [2.0, 4.0]


def test_a_sink_down_too_long_raises_and_no_time_is_overspent() -> None:
    api = FakeDataApi(errors=[client_error("ServiceUnavailableError", "down")] * 10)
    writer, slept = sink(api)
    with pytest.raises(SqlUnavailable, match="ServiceUnavailableError: down"):
        writer.write([ROW], plenty)
    assert len(slept) == 5
    api = FakeDataApi(errors=[client_error("DatabaseResumingException", "resuming")] * 10)
    writer, slept = sink(api)
    with pytest.raises(SqlUnavailable, match="no time left"):
        writer.write([ROW], lambda: 6.0)
    assert slept == []
    sent = writer.send([ROW], lambda: 6.0)
    with pytest.raises(SqlUnavailable):
        sent.result()


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("AccessDeniedException", "not authorized to perform rds-data:BatchExecuteStatement"),
        ("DatabaseErrorException", "Database error code: 1142. Message: INSERT command denied to user"),
        (
            "DatabaseErrorException",
            "Database error code: 1146. Message: Table 'telemetry.events' doesn't exist",
        ),
        ("BadRequestException", "Database name 'telemetry' is invalid"),
    ],
)
def test_what_is_not_the_readings_fault_never_rejects_them(code: str, message: str) -> None:
    api = FakeDataApi(errors=[client_error(code, message)])
    writer, slept = sink(api)
    with pytest.raises(SqlUnavailable, match=code):
        writer.write([ROW], plenty)
    assert slept == [] and len(api.calls) == 1


def test_a_value_the_database_refuses_is_found_and_refused_alone() -> None:
    def refuse(row: dict[str, object]) -> str | None:
        return "Incorrect string value for column 'sensor'" if row.get("sensor") == "bad" else None

    api = FakeDataApi(refuse=refuse)
    writer, _ = sink(api)
    rows = [ROW._replace(sensor_id=name) for name in ("a", "b", "bad", "c", "d")]
    refused = writer.write(rows, plenty)
    assert list(refused) == [2]
    assert "the database refused it" in refused[2] and "Incorrect string value" in refused[2]
    assert {key[0] for key in api.events} == {"a", "b", "c", "d"}
    assert not any(key[0] == "bad" for key in api.tags)  # refused at its tags: its values are not sent


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        (ROW._replace(sensor_id="s" * (sql_schema.SENSOR_LENGTH + 1)), "the sensor id is 401 characters"),
        (ROW._replace(tags={"site": "v" * 300}), "a tag's value is 300 characters"),
        (ROW._replace(tags={"site": "\ud800"}), "not valid Unicode"),
        (ROW._replace(fields={"pressureValue": math.nan}), "finite numbers only"),
        (ROW._replace(fields={"pressureValue": math.inf}), "finite numbers only"),
        # MySQL's PAD SPACE collations would take "pump-1 " for "pump-1": the second overwrote the first's rows.
        (ROW._replace(sensor_id="pump-1 "), "ends with a space"),
        (ROW._replace(tags={"site ": "v"}), "ends with a space"),
        # A DATETIME holds years 1000 to 9999; the Data API refuses the whole request for one outside.
        (ROW._replace(time_ms=FIRST_DATETIME_MS - 1), "outside a SQL DATETIME's years"),
        (ROW._replace(time_ms=LAST_DATETIME_MS + 1), "outside a SQL DATETIME's years"),
    ],
)
def test_what_cannot_fit_is_refused_before_anything_is_sent(row: SinkRow, reason: str) -> None:
    api = FakeDataApi()
    writer, _ = sink(api)
    refused = writer.write([ROW._replace(sensor_id="ok"), row], plenty)
    assert list(refused) == [1] and reason in refused[1]
    assert all(
        p["value"].get("stringValue") != row.sensor_id or row.sensor_id == "pump-1"
        for call in api.calls
        for s in call["parameterSets"]
        for p in s
    )
    assert {key[0] for key in api.events} == {"ok"}


def test_data_errors_are_told_from_other_database_errors() -> None:
    assert is_data_error("Database error code: 1406. Message: Data too long for column 'sensor' at row 1")
    assert is_data_error("Data truncation: Out of range value for column 'value' at row 1")
    assert not is_data_error("Database error code: 1142. Message: INSERT command denied to user 'x'")
    assert not is_data_error("Communications link failure")
