"""Pure: the packed kinds' sinks, the SQL sink's variables, and the dead letter that names the sinks a reading
misses (what replay reads back)."""

from __future__ import annotations

import json

import pytest
from ingest_to_influxdb.config import sql_config
from ingest_to_influxdb.dead_letters import MISSING_SINKS, dead_letter_body
from ingest_to_influxdb.errors import ConfigError
from ingest_to_influxdb.events import record_from_dead_letter
from ingest_to_influxdb.kinds import DEFAULT_SINKS, parse_table

from tests.support.catalog_kinds import PACKED

SQL = {"SQL_RESOURCE_ARN": "arn:cluster", "SQL_SECRET_ARN": "arn:secret", "SQL_DATABASE": "telemetry"}


def packed_with(sinks: object) -> str:
    document = json.loads(PACKED)
    document["kinds"][0]["sinks"] = sinks
    return json.dumps(document)


def test_a_packed_kind_without_sinks_writes_to_influxdb() -> None:
    document = json.loads(PACKED)
    for kind in document["kinds"]:
        del kind["sinks"]
    table = parse_table(json.dumps(document))
    assert all(kind.sinks is DEFAULT_SINKS for kind in table.kinds) and table.sinks == {"influxdb"}
    # the fast path's one object, for every kind that names InfluxDB alone (the catalog's shelf)
    named = [kind for kind in parse_table(PACKED).kinds if kind.sinks == DEFAULT_SINKS]
    assert named and all(kind.sinks is DEFAULT_SINKS for kind in named)


@pytest.mark.parametrize("sinks", [["sql", "sql"], ["postgres"], [], "influxdb"])
def test_packed_sinks_are_checked(sinks: object) -> None:
    with pytest.raises(ConfigError, match="sinks must name each of influxdb, sql at most once"):
        parse_table(packed_with(sinks))


def test_the_sql_variables_go_together_and_are_required_when_a_kind_writes_to_sql() -> None:
    assert sql_config({}) is None
    config = sql_config(SQL, {"influxdb", "sql"})
    assert config is not None and (config.resource_arn, config.database) == ("arn:cluster", "telemetry")
    with pytest.raises(
        ConfigError, match="writes to the sql sink but SQL_RESOURCE_ARN, SQL_SECRET_ARN, SQL_DATABASE"
    ):
        sql_config({}, {"sql"})
    with pytest.raises(ConfigError, match="go together: SQL_DATABASE missing"):
        sql_config({**SQL, "SQL_DATABASE": " "})


def test_a_dead_letter_names_the_missing_sinks_and_replay_reads_them_back() -> None:
    reading = {"pressure": 1, "deviceid": "d", "clientid": "c", "sensordatetime": 1_700_000_000_000}
    body = dead_letter_body(reading, "/pressure/data", "pressure", ["sql"], "SQL: down")
    document = json.loads(body)
    assert document[MISSING_SINKS] == ["sql"] and document["kind"] == "pressure"
    record = record_from_dead_letter("m1", body)
    assert record.sinks == ("sql",) and record.topic == "/pressure/data"
    assert record.payload == {**reading, "topic": "/pressure/data"}
    raw = dead_letter_body(b'{"pressure": 1}', None, "pressure", [], "x")
    assert record_from_dead_letter("m2", raw).sinks is None  # names none: every sink of the kind
