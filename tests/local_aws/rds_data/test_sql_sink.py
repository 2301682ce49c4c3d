"""The SQL sink's own code through the local Data API on a real MariaDB: the set-up step (`run_setup`), the
function's `SqlSink`, hostile values, a value the database refuses, the hourly query, an unreachable database."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from botocore.exceptions import ClientError
from ingest_to_influxdb import sql_schema
from ingest_to_influxdb.ports import SinkRow
from ingest_to_influxdb.sql_sink import SqlSink, SqlUnavailable, moment, text
from sql_setup.setup import run_setup

from local_aws.rds_data.server import serve
from tests.support.mariadb import CLUSTER_ARN, MariaDb, Schema, aws_client

T0 = 1_796_385_600_000  # 2026-12-04 12:00:00 UTC


def forever() -> float:
    return 900.0


def sink(rds_data: Any, schema: Schema, **options: Any) -> SqlSink:
    return SqlSink(rds_data, CLUSTER_ARN, schema.writer, schema.database, sleep=lambda _: None, **options)


def rows(mariadb: MariaDb, schema: Schema, sql: str) -> list[tuple[Any, ...]]:
    with mariadb.admin(schema.database) as admin, admin.cursor() as cursor:
        cursor.execute(sql)
        return list(cursor.fetchall())


def test_the_set_up_runs_twice_and_gives_the_writer_and_the_reader_their_rights(
    rds_data: Any, secretsmanager: Any, schema: Schema
) -> None:
    assert schema.outcome.applied == [sql_schema.VERSION] and schema.outcome.version == sql_schema.VERSION
    again = run_setup(
        rds_data,
        secretsmanager,
        CLUSTER_ARN,
        schema.master,
        schema.writer,
        schema.reader,
        database=schema.database,
    )
    assert (again.applied, again.version) == ([], sql_schema.VERSION)
    insert = [moment("ts", T0), {"name": "value", "value": {"doubleValue": 1.0}}, text("board", "b"),
              text("sensor", "s"), text("field", "f")]  # fmt: skip
    target = {"resourceArn": CLUSTER_ARN, "database": schema.database, "sql": sql_schema.INSERT_EVENT}
    rds_data.execute_statement(**target, secretArn=schema.writer, parameters=insert)
    with pytest.raises(ClientError) as refused:
        rds_data.execute_statement(**target, secretArn=schema.reader, parameters=insert)
    assert refused.value.response["Error"]["Code"] == "DatabaseErrorException"
    assert (
        "Database error code: 1142. Message: INSERT, UPDATE command denied"
        in refused.value.response["Error"]["Message"]
    )
    read = rds_data.execute_statement(
        resourceArn=CLUSTER_ARN,
        database=schema.database,
        secretArn=schema.reader,
        sql="SELECT COUNT(*) FROM events",
    )
    assert read["records"] == [[{"longValue": 1}]]


def test_the_sink_writes_rows_once_however_often_they_are_sent(
    rds_data: Any, schema: Schema, mariadb: MariaDb
) -> None:
    readings = [
        SinkRow("pressure", f"pump-{i % 3}", T0 + i * 1000, {"pressureValue": i + 0.5, "viscosity": 0.25},
                {"site": "plant1", "product_id": f"p{i}"})
        for i in range(20)
    ]  # fmt: skip
    writer = sink(rds_data, schema)
    assert writer.write(readings, forever) == {}
    assert writer.write(readings, forever) == {}
    assert rows(mariadb, schema, "SELECT COUNT(*) FROM events") == [(40,)]
    assert rows(mariadb, schema, "SELECT COUNT(*) FROM event_tags") == [(40,)]
    assert rows(mariadb, schema, "SELECT value FROM events WHERE sensor = 'pump-1' AND field = 'pressureValue' "
                "ORDER BY ts LIMIT 1") == [(1.5,)]  # fmt: skip


HOSTILE_IDS = [
    "x'); DROP TABLE events; --",
    "quote\" back\\slash \\' and \\0",
    ":sensor :board /* :ts */ -- :field",
    "nul\x00byte",
    "emoji 😀🚰 and ümlaut",
    "%s %(name)s {} ?",
    "s" * sql_schema.SENSOR_LENGTH,
]


def test_hostile_values_land_as_they_were_sent(rds_data: Any, schema: Schema, mariadb: MariaDb) -> None:
    readings = [
        SinkRow(
            "pressure", sensor, T0 + i, {"pressureValue": float(i)}, {"site": sensor[:256], "note": "a'b\\c"}
        )
        for i, sensor in enumerate(HOSTILE_IDS)
    ]
    assert sink(rds_data, schema).write(readings, forever) == {}
    stored = rows(mariadb, schema, "SELECT sensor, value FROM events ORDER BY value")
    assert stored == [(sensor, float(i)) for i, sensor in enumerate(HOSTILE_IDS)]
    tags = rows(mariadb, schema, "SELECT sensor, value FROM event_tags WHERE name = 'site' ORDER BY ts")
    assert tags == [(sensor, sensor[:256]) for sensor in HOSTILE_IDS]
    assert set(rows(mariadb, schema, "SELECT value FROM event_tags WHERE name = 'note'")) == {("a'b\\c",)}
    answer = rds_data.execute_statement(
        resourceArn=CLUSTER_ARN, secretArn=schema.reader, database=schema.database,
        sql="SELECT sensor FROM events WHERE sensor = :s", parameters=[text("s", HOSTILE_IDS[3])],
    )  # fmt: skip
    assert answer["records"] == [[{"stringValue": "nul\x00byte"}]]


def test_what_the_database_refuses_is_refused_with_its_reason(rds_data: Any, schema: Schema) -> None:
    target = {"resourceArn": CLUSTER_ARN, "secretArn": schema.writer, "database": schema.database}
    cases = [
        ([moment("ts", T0), text("value", "12 apples"), text("board", "b"), text("sensor", "s"), text("field", "f")],
         "1265"),
        ([moment("ts", T0), {"name": "value", "value": {"doubleValue": float("nan")}}, text("board", "b"),
          text("sensor", "s"), text("field", "f")], "1264"),
        ([moment("ts", T0), {"name": "value", "value": {"doubleValue": 1.0}}, text("board", "b"),
          text("sensor", "s" * (sql_schema.SENSOR_LENGTH + 1)), text("field", "f")], "1406"),
    ]  # fmt: skip
    for parameters, number in cases:
        with pytest.raises(ClientError) as refused:
            rds_data.execute_statement(**target, sql=sql_schema.INSERT_EVENT, parameters=parameters)
        error = refused.value.response["Error"]
        assert error["Code"] == "DatabaseErrorException"
        assert error["Message"].startswith(f"Database error code: {number}. Message: "), error["Message"]


def test_a_reading_the_database_refuses_is_refused_alone(
    rds_data: Any, schema: Schema, mariadb: MariaDb
) -> None:
    with mariadb.admin(schema.database) as admin, admin.cursor() as cursor:  # the database's own rule
        cursor.execute(
            "CREATE TRIGGER refuse_negative BEFORE INSERT ON events FOR EACH ROW IF NEW.value < -1000 THEN "
            "SIGNAL SQLSTATE '22003' SET MYSQL_ERRNO = 1264, MESSAGE_TEXT = 'Out of range value for column value'; "
            "END IF"
        )
    readings = [SinkRow("pressure", f"pump-{i}", T0, {"pressureValue": -5000.0 if i == 3 else 1.0}, {})
                for i in range(8)]  # fmt: skip
    refused = sink(rds_data, schema).write(readings, forever)
    assert refused == {
        3: "the database refused it: Database error code: 1264. Message: Out of range value for column value"
    }
    assert rows(mariadb, schema, "SELECT COUNT(*) FROM events") == [(7,)]


def test_the_hourly_query_counts_each_sensors_readings_per_hour(rds_data: Any, schema: Schema) -> None:
    hour = 3_600_000
    readings = [SinkRow("pressure", sensor, T0 + offset, {"pressureValue": 2.0}, {})
                for sensor, offsets in {"a": (0, 1, hour - 1, hour), "b": (5, 2 * hour + 7)}.items()
                for offset in offsets]  # fmt: skip
    assert sink(rds_data, schema).write(readings, forever) == {}
    answer = rds_data.execute_statement(
        resourceArn=CLUSTER_ARN, secretArn=schema.reader, database=schema.database, sql=sql_schema.HOURLY,
        parameters=[text("board", "pressure"), text("field", "pressureValue"), moment("start", T0),
                    moment("end", T0 + 3 * hour)],
    )  # fmt: skip
    assert [[next(iter(f.values())) for f in record] for record in answer["records"]] == [
        ["2026-12-04 12:00:00", "a", 3, 2.0],
        ["2026-12-04 12:00:00", "b", 1, 2.0],
        ["2026-12-04 13:00:00", "a", 1, 2.0],
        ["2026-12-04 14:00:00", "b", 1, 2.0],
    ]


def test_a_batch_of_a_thousand_sets_is_fast(rds_data: Any, schema: Schema, mariadb: MariaDb) -> None:
    sets = [[moment("ts", T0 + i), {"name": "value", "value": {"doubleValue": float(i)}}, text("board", "b"),
             text("sensor", "speed"), text("field", "f")] for i in range(1000)]  # fmt: skip
    target = {"resourceArn": CLUSTER_ARN, "secretArn": schema.writer, "database": schema.database}
    best = 0.0
    for round_ in range(3):
        started = time.perf_counter()
        answer = rds_data.batch_execute_statement(**target, sql=sql_schema.INSERT_EVENT, parameterSets=sets)
        best = max(best, len(sets) / (time.perf_counter() - started))
        assert len(answer["updateResults"]) == 1000
        if round_ == 0:
            assert answer["updateResults"][0]["generatedFields"][0]["longValue"] > 0
    print(f"\n1,000-set BatchExecuteStatement through the local Data API: {best:,.0f} rows/s")
    assert rows(mariadb, schema, "SELECT COUNT(*) FROM events") == [(1000,)]
    assert best > 1000


def test_a_transaction_commits_or_rolls_back(rds_data: Any, schema: Schema, mariadb: MariaDb) -> None:
    target = {"resourceArn": CLUSTER_ARN, "secretArn": schema.writer, "database": schema.database}
    insert = sql_schema.INSERT_TAG

    def tag(name: str) -> list[dict[str, Any]]:
        return [
            text("sensor", "s"),
            text("board", "b"),
            moment("ts", T0),
            text("name", name),
            text("value", "v"),
        ]

    kept = rds_data.begin_transaction(**target)["transactionId"]
    rds_data.batch_execute_statement(
        **target, sql=insert, parameterSets=[tag("a"), tag("b")], transactionId=kept
    )
    assert rows(mariadb, schema, "SELECT COUNT(*) FROM event_tags") == [(0,)]  # not yet committed
    rds_data.commit_transaction(resourceArn=CLUSTER_ARN, secretArn=schema.writer, transactionId=kept)
    dropped = rds_data.begin_transaction(**target)["transactionId"]
    rds_data.execute_statement(**target, sql=insert, parameters=tag("c"), transactionId=dropped)
    rds_data.rollback_transaction(resourceArn=CLUSTER_ARN, secretArn=schema.writer, transactionId=dropped)
    assert rows(mariadb, schema, "SELECT name FROM event_tags ORDER BY name") == [("a",), ("b",)]


def test_a_stopped_database_leaves_the_readings_unwritten(
    endpoints: Any, secretsmanager: Any, schema: Schema, stopped_port: int
) -> None:
    server = serve(CLUSTER_ARN, "127.0.0.1", stopped_port, secretsmanager)
    try:
        client = aws_client(endpoints, "rds-data", server.url)
        writer = SqlSink(client, CLUSTER_ARN, schema.writer, schema.database, retry_delays=(0.0, 0.0),
                         sleep=lambda _: None)  # fmt: skip
        with pytest.raises(SqlUnavailable) as unavailable:
            writer.write([SinkRow("pressure", "p", T0, {"pressureValue": 1.0}, {"site": "x"})], forever)
        assert "DatabaseUnavailableException" in str(unavailable.value)
    finally:
        server.stop()


def test_concurrent_writers_share_the_pool(rds_data: Any, schema: Schema, mariadb: MariaDb) -> None:
    """Lambda's concurrency: several containers write at once through the one Data API."""

    def write(worker: int) -> dict[int, str]:
        readings = [SinkRow("pressure", f"w{worker}", T0 + i, {"pressureValue": float(i)}, {"site": "s"})
                    for i in range(50)]  # fmt: skip
        return sink(rds_data, schema).write(readings, forever)

    with ThreadPoolExecutor(8) as pool:
        assert list(pool.map(write, range(8))) == [{}] * 8
    assert rows(mariadb, schema, "SELECT COUNT(*), COUNT(DISTINCT sensor) FROM events") == [(400, 8)]
