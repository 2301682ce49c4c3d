"""Basic Ingest's topics, pure: which rule a topic names, which kind the function reads it as, which rule the
local rules engine hands it to, and what the rule's SQL sees."""

from __future__ import annotations

from pathlib import Path

import pytest
from ingest_to_influxdb import basic_ingest
from ingest_to_influxdb.errors import InvalidReading
from ingest_to_influxdb.kinds import parse_table

from local_aws.iot.sql import parse_rule, receives_basic_ingest, rule_receives, subscriptions
from simulator.api import FleetGroup
from simulator.cli import basic_ingest_group
from simulator.device_types import DeviceTypeError
from tests.support.catalog_kinds import PACKED

PRESSURE_RULE = basic_ingest.rule_name("demo", "pressure")
ON_FOR_PRESSURE = '{"pressure": "demo_ingest_pressure", "shelf": ""}'  # as the stack resolves KIND_RULES


def test_a_basic_ingest_topic_names_its_rule() -> None:
    assert PRESSURE_RULE == "demo_ingest_pressure"
    assert (
        basic_ingest.device_topic(PRESSURE_RULE, "/pressure/data")
        == "$aws/rules/demo_ingest_pressure/pressure/data"
    )
    assert (
        basic_ingest.device_topic(PRESSURE_RULE, "plant1/pressure")
        == "$aws/rules/demo_ingest_pressure/plant1/pressure"
    )
    for topic in ("$aws/rules/demo_ingest_pressure", "$aws/rules/demo_ingest_pressure/pressure/data"):
        assert basic_ingest.rule_of(topic) == PRESSURE_RULE
    for topic in (
        "/pressure/data",
        "$aws/rules/",
        "$aws/things/x/shadow/update",
        "aws/rules/demo_ingest_pressure",
    ):
        assert basic_ingest.rule_of(topic) is None
    assert basic_ingest.suffix("$aws/rules/demo_ingest_pressure/pressure/data") == "pressure/data"
    assert basic_ingest.policy_topics(PRESSURE_RULE) == (
        "$aws/rules/demo_ingest_pressure",
        "$aws/rules/demo_ingest_pressure/*",
    )


def test_the_rule_of_kind_k_delivers_kind_k_whatever_follows_its_name() -> None:
    table = parse_table(PACKED, rules_text=ON_FOR_PRESSURE)
    pressure = table.named("pressure")
    for topic in (
        "$aws/rules/demo_ingest_pressure",
        "$aws/rules/demo_ingest_pressure/pressure/data",
        "$aws/rules/demo_ingest_pressure/shelf/data",  # the suffix is the device's business, not the kind
    ):
        assert table.for_topic(topic) == pressure
    assert table.for_topic("/pressure/data") == pressure  # the broker's topics still deliver their kinds
    assert table.for_topic("/shelf/data") == table.named("shelf")
    assert table.for_topic("$aws/rules/demo_ingest_shelf/shelf/data") is None  # shelf's Basic Ingest is off
    assert table.for_topic("$aws/rules/other_rule/pressure/data") is None
    # Without KIND_RULES (Basic Ingest off for every kind) no $aws/rules topic is a kind.
    assert parse_table(PACKED).for_topic("$aws/rules/demo_ingest_pressure/pressure/data") is None
    with pytest.raises(Exception, match=r"KIND_RULES names kinds the catalog does not have: boiler"):
        parse_table(PACKED, rules_text='{"boiler": "demo_ingest_boiler"}')
    with pytest.raises(Exception, match="KIND_RULES must be a JSON object"):
        parse_table(PACKED, rules_text='["demo_ingest_pressure"]')


def test_a_reading_through_a_rule_whose_basic_ingest_is_off_is_rejected_with_what_to_do(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from ingest_to_influxdb import kinds
    from ingest_to_influxdb.validation import kind_of

    monkeypatch.setattr(kinds, "_table", parse_table(PACKED, rules_text=ON_FOR_PRESSURE))
    assert kind_of({"topic": "$aws/rules/demo_ingest_pressure/pressure/data"}).name == "pressure"
    with pytest.raises(
        InvalidReading, match=r"Basic Ingest to the rule 'demo_ingest_shelf'.*BasicIngest parameter"
    ):
        kind_of({"topic": "$aws/rules/demo_ingest_shelf/shelf/data"})


def test_the_local_rules_engine_hands_basic_ingest_to_the_named_rule_only() -> None:
    topic = "$aws/rules/demo_ingest_pressure/pressure/data"
    assert rule_receives("demo_ingest_pressure", "/pressure/data", topic)
    assert rule_receives("demo_ingest_pressure", "/elsewhere", topic)  # its own topic filter is not applied
    assert not rule_receives("demo_ingest_shelf", "/shelf/data", topic)
    assert not rule_receives("catch_all", "#", topic)  # a wildcard rule does not take another rule's messages
    assert rule_receives("demo_ingest_pressure", "/pressure/data", "/pressure/data")
    assert not rule_receives("demo_ingest_pressure", "/pressure/data", "/shelf/data")
    assert subscriptions(
        [("demo_ingest_pressure", "/pressure/data"), ("demo_ingest_shelf", "/shelf/data")]
    ) == [
        "$aws/rules/demo_ingest_pressure/#",
        "$aws/rules/demo_ingest_shelf/#",
        "/pressure/data",
        "/shelf/data",
    ]


def test_topic_is_the_topic_as_published_and_topic_n_counts_after_the_prefix() -> None:
    query = parse_rule("SELECT *, topic() AS topic, topic(1) AS first, topic(2) AS second FROM '/x'", "r")
    message = query.apply({"a": 1}, "$aws/rules/demo_ingest_pressure/pressure/data")
    assert message == {
        "a": 1,
        "topic": "$aws/rules/demo_ingest_pressure/pressure/data",
        "first": "pressure",
        "second": "data",
    }


def test_no_device_may_subscribe_to_basic_ingest_topics() -> None:
    for topic_filter in ("$aws/rules/demo_ingest_pressure/#", "$aws/rules/+/x", "$aws/#", "$aws/+/+"):
        assert receives_basic_ingest(topic_filter), topic_filter
    for topic_filter in (
        "#",
        "+/rules/x",
        "/pressure/data",
        "$aws/things/x/shadow/#",
        "$aws/rules",
        "$aws/+",
    ):
        assert not receives_basic_ingest(topic_filter), topic_filter


def test_the_simulator_publishes_a_kind_through_its_own_rule_and_refuses_a_type_without_one(
    tmp_path: Path,
) -> None:
    group = basic_ingest_group(FleetGroup("shelf", 2, topic="/plant1/shelf"), "prod")
    assert group == FleetGroup("shelf", 2, topic="$aws/rules/prod_ingest_shelf/plant1/shelf")
    type_file = tmp_path / "thermostat.yaml"
    type_file.write_text("name: thermostat\ntopic: /t\nattributes: {v: {type: constant, value: 1}}\n")
    with pytest.raises(DeviceTypeError, match="not a kind of the catalog"):
        basic_ingest_group(FleetGroup(str(type_file), 1), "demo")
