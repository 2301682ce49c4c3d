"""The rule SQL the local rule runner plays, and what it refuses."""

from __future__ import annotations

import pytest
from ingest_to_influxdb.identity import CONNECTION_FIELD, PRINCIPAL_FIELD

from local_aws.iot.sql import RuleSqlError, parse_rule, topic_matches

READING = {"pressure": 812, "viscosity": 55, "deviceid": "Xk3a9Qz", "meta": {"site": "north"}}


def test_select_star_with_topic_passes_everything_and_adds_the_topic() -> None:
    query = parse_rule("SELECT *, topic() AS topic FROM '/pressure/data'", "r")
    assert query.topic_filter == "/pressure/data"
    assert query.apply(READING, "/pressure/data") == {**READING, "topic": "/pressure/data"}


def test_a_list_of_fields_with_as_and_nested_paths() -> None:
    query = parse_rule("SELECT pressure AS p, meta.site, topic(2) AS kind, missing FROM '+/data/#'", "r")
    assert query.apply(READING, "x/data/y") == {"p": 812, "site": "north", "kind": "data"}


@pytest.mark.parametrize(
    ("where", "matches"),
    [
        ("pressure > 800", True),
        ("pressure >= 813", False),
        ("pressure > 800 AND viscosity < 50", False),
        ("pressure > 900 OR viscosity = 55", True),
        ("NOT (pressure > 900 OR viscosity <> 55)", True),
        ("deviceid = 'Xk3a9Qz' AND topic() = '/pressure/data'", True),
        ("missing = 1", False),
        ("deviceid > 3", False),  # a string against a number is undefined, so not a match
        ("meta.site != 'south'", True),
    ],
)
def test_where_clauses(where: str, matches: bool) -> None:
    query = parse_rule(f"SELECT * FROM '/pressure/data' WHERE {where}", "r")
    assert (query.apply(READING, "/pressure/data") is not None) is matches


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("SELECT upper(deviceid) AS d FROM 't'", r"rule r1: the function upper\(\) is not supported"),
        ("SELECT pressure + 1 AS p FROM 't'", r"rule r1: unexpected character '\+'"),
        ("SELECT * FROM t", r"rule r1: FROM needs a quoted topic filter"),
        ("SELECT * FROM 't' WHERE pressure", r"rule r1: WHERE needs a comparison"),
        ("SELECT * FROM 't' GROUP BY x", r"rule r1: unsupported 'GROUP'"),
        ("SELECT 1 FROM 't'", r"rule r1: an expression other than an attribute needs AS"),
    ],
)
def test_unsupported_sql_is_refused_naming_the_rule(sql: str, message: str) -> None:
    with pytest.raises(RuleSqlError, match=message):
        parse_rule(sql, "r1")


@pytest.mark.parametrize(
    ("topic_filter", "topic", "matches"),
    [
        ("/pressure/data", "/pressure/data", True),
        ("/pressure/data", "/pressure/data/x", False),
        ("/+/data", "/shelf/data", True),
        ("/pressure/#", "/pressure/data/x", True),
        ("/pressure/+", "/pressure", False),
    ],
)
def test_topic_filters(topic_filter: str, topic: str, matches: bool) -> None:
    assert topic_matches(topic_filter, topic) is matches


def test_clientid_is_the_publishers_and_overwrites_what_the_payload_claims() -> None:
    query = parse_rule("SELECT *, clientid() AS connection_clientid FROM '/pressure/data'", "r")
    claiming = {**READING, "connection_clientid": "someone-else"}
    assert query.apply(claiming, "/pressure/data", "pressure-0001") == {
        **READING,
        "connection_clientid": "pressure-0001",
    }
    # A broker that does not say who published (mosquitto): null, still overwriting the payload's claim.
    assert query.apply(claiming, "/pressure/data")["connection_clientid"] is None  # type: ignore[index]
    where = parse_rule("SELECT * FROM '/pressure/data' WHERE clientid() = 'pressure-0001'", "r")
    assert where.apply(READING, "/pressure/data", "pressure-0001") is not None
    assert where.apply(READING, "/pressure/data", "pressure-0002") is None


def test_principal_is_the_publishers_certificate_id_and_overwrites_what_the_payload_claims() -> None:
    query = parse_rule(
        f"SELECT *, clientid() AS {CONNECTION_FIELD}, principal() AS {PRINCIPAL_FIELD} FROM '/pressure/data'",
        "r",
    )
    certificate_id = "ab" * 32
    claiming = {**READING, PRINCIPAL_FIELD: "someone-elses"}
    assert query.apply(claiming, "/pressure/data", "pressure-0001", certificate_id) == {
        **READING,
        CONNECTION_FIELD: "pressure-0001",
        PRINCIPAL_FIELD: certificate_id,
    }
    # The password listener (no certificate): null, still overwriting the payload's claim.
    assert query.apply(claiming, "/pressure/data", "pressure-0001")[PRINCIPAL_FIELD] is None  # type: ignore[index]
    where = parse_rule(f"SELECT * FROM '/pressure/data' WHERE principal() = '{certificate_id}'", "r")
    assert where.apply(READING, "/pressure/data", "pressure-0001", certificate_id) is not None
    assert where.apply(READING, "/pressure/data", "pressure-0001", "cd" * 32) is None
