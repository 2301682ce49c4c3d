"""The SQL sink's schema as code: what both engines take, keys InnoDB can hold, numbered idempotent steps. Pure;
the statements run on the sandbox's MariaDB in the sandbox's tests."""

from __future__ import annotations

import re

from ingest_to_influxdb import sql_schema
from ingest_to_influxdb.constants import MAX_IDENTIFIER_LENGTH, MAX_TAG_KEY_LENGTH, MAX_TAG_VALUE_LENGTH

INNODB_MAX_KEY_BYTES = 3072
UTF8MB4_BYTES = 4
DATETIME3_BYTES = 7


def test_the_steps_are_numbered_from_one_and_the_version_is_the_newest() -> None:
    versions = [migration.version for migration in sql_schema.MIGRATIONS]
    assert versions == list(range(1, len(versions) + 1))
    assert versions[-1] == sql_schema.VERSION
    assert sql_schema.pending(set()) == sql_schema.MIGRATIONS
    assert sql_schema.pending(set(versions)) == ()


def test_every_create_is_idempotent_and_portable() -> None:
    statements = [sql_schema.CREATE_MIGRATIONS_TABLE] + [
        statement for migration in sql_schema.MIGRATIONS for statement in migration.statements
    ]
    for statement in statements:
        assert statement.startswith("CREATE TABLE IF NOT EXISTS ")
        assert not re.search(r"\bJSON\b|\bRETURNING\b", statement)
        assert "utf8mb4_bin" in statement  # Pump-1 and pump-1 are two sensors, as in InfluxDB


def test_writes_upsert_on_the_reading_key_and_never_ignore() -> None:
    for statement in (sql_schema.INSERT_EVENT, sql_schema.INSERT_TAG, sql_schema.RECORD_MIGRATION):
        assert "ON DUPLICATE KEY UPDATE" in statement and "IGNORE" not in statement
        assert " AS new" not in statement  # MySQL 8.0.19+ only; MariaDB does not take it
    create = sql_schema.MIGRATIONS[0].statements[0]
    assert "UNIQUE KEY events_reading (sensor, board, field, ts)" in create
    assert "KEY events_ts (ts)" in create and "KEY events_board_ts (board, ts)" in create
    assert "ts DATETIME(3) NOT NULL" in create and "value DOUBLE NOT NULL" in create


def test_the_keys_fit_innodb_and_the_columns_fit_what_validation_lets_through() -> None:
    reading_key = (
        sql_schema.SENSOR_LENGTH + sql_schema.BOARD_LENGTH + sql_schema.FIELD_LENGTH
    ) * UTF8MB4_BYTES + DATETIME3_BYTES
    tag_key = (
        sql_schema.SENSOR_LENGTH + sql_schema.BOARD_LENGTH + sql_schema.TAG_NAME_LENGTH
    ) * UTF8MB4_BYTES + DATETIME3_BYTES
    assert max(reading_key, tag_key) <= INNODB_MAX_KEY_BYTES
    assert sql_schema.SENSOR_LENGTH >= 3 * MAX_IDENTIFIER_LENGTH + 2  # deviceid-clientid and more
    assert sql_schema.TAG_NAME_LENGTH >= MAX_TAG_KEY_LENGTH
    assert sql_schema.TAG_VALUE_LENGTH >= MAX_TAG_VALUE_LENGTH


def test_each_statement_names_the_parameters_the_writers_send() -> None:
    assert set(re.findall(r":(\w+)", sql_schema.INSERT_EVENT)) == {"ts", "value", "board", "sensor", "field"}
    assert set(re.findall(r":(\w+)", sql_schema.INSERT_TAG)) == {"sensor", "board", "ts", "name", "value"}
    hourly = sql_schema.HOURLY
    assert set(re.findall(r":(\w+)", hourly)) == {"board", "field", "start", "end"}
    assert "%" not in hourly
