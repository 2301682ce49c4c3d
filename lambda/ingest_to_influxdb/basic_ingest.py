"""AWS IoT's Basic Ingest: devices publish to `$aws/rules/<rule name>[/<suffix>]`, the rules engine hands the
message to that one rule (its own topic filter is not applied) and no messaging is charged.

`topic()` in the rule's SQL still returns the topic as published (`$aws/rules/<rule name>/...`), so the rule's
`topic() AS topic` tells the function which rule the reading came through; the rule of kind K delivers kind K
(`ingest_to_influxdb.kinds`). `topic(n)` counts the levels after the prefix, as AWS does.
"""

from __future__ import annotations

PREFIX = "$aws/rules/"
# The function's environment: {"pressure": "demo_ingest_pressure", ...}, a kind's rule name when its stack
# parameter turns Basic Ingest on, "" when it is off.
RULES_VARIABLE = "KIND_RULES"


def rule_name(environment: str, kind: str) -> str:
    """The ingest rule of a kind (the ingest stack names its rules so; letters, digits and '_' only)."""
    return f"{environment}_ingest_{kind}"


def rule_of(topic: str) -> str | None:
    """The rule a Basic Ingest topic is addressed to; None for any other topic."""
    if not topic.startswith(PREFIX):
        return None
    name = topic[len(PREFIX) :].split("/", 1)[0]
    return name or None


def suffix(topic: str) -> str:
    """The topic after `$aws/rules/<rule name>/` (what `topic(n)` counts); other topics as they are."""
    if rule_of(topic) is None:
        return topic
    return topic[len(PREFIX) :].partition("/")[2]


def device_topic(rule: str, topic: str) -> str:
    """Where a device publishes the readings of `topic` through Basic Ingest: the rule's prefix, then the topic
    (so `/pressure/data` becomes `$aws/rules/<rule>/pressure/data`)."""
    return f"{PREFIX}{rule}/{topic.removeprefix('/')}"


def policy_topics(rule: str) -> tuple[str, str]:
    """The topics a device policy must allow iot:Publish on for Basic Ingest to `rule` (the prefix, its levels)."""
    return f"{PREFIX}{rule}", f"{PREFIX}{rule}/*"


def subscription(rule: str) -> str:
    """The filter that receives every Basic Ingest message of `rule` on an MQTT broker (`#` takes the prefix too)."""
    return f"{PREFIX}{rule}/#"
