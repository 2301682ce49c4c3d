"""The kinds of reading the function understands, as data from the catalog (device-kinds/ in the repository).

The deploy tool packs what the function needs of each kind into `device_kinds.json` inside the zip
(`catalog.export`); `DEVICE_KINDS_FILE` points elsewhere (the local sandbox, tests). Which topic delivers which
kind comes from the stack's topic parameters through `KIND_TOPICS` ({"pressure": "/plant1/pressure", ...}), so a
deployment with its own topics works; a kind it does not name listens on the catalog's default topic. A reading
that came through Basic Ingest names its rule in its topic (`$aws/rules/<rule name>/...`): `KIND_RULES` says
which kind's rule that is, for the kinds whose stack parameter turned Basic Ingest on
(`ingest_to_influxdb.basic_ingest`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from functools import cached_property
from pathlib import Path
from typing import Any

from ingest_to_influxdb import basic_ingest
from ingest_to_influxdb.constants import SENSOR_ID_TAG
from ingest_to_influxdb.errors import ConfigError

PACKAGED_NAME = "device_kinds.json"  # beside this module in the zip (the deploy tool packs it)
PACKAGED_FILE = Path(__file__).with_name(PACKAGED_NAME)
IN_ZIP = f"{__package__}/{PACKAGED_NAME}"
FILE_VARIABLE = "DEVICE_KINDS_FILE"
TOPICS_VARIABLE = "KIND_TOPICS"
# A reading without a topic comes from a rule written as plain `SELECT * FROM '/pressure/data'` (the deployment
# this one replaces): it is read as one from that topic.
TOPIC_OF_READINGS_WITHOUT_ONE = "/pressure/data"


# Where a kind's readings go: the catalog's `sinks` (catalog/schema.py, Sink, whose values these are; the function's
# zip does not carry the catalog). A packed kind without `sinks` writes to InfluxDB, as before sinks were named.
INFLUXDB_SINK = "influxdb"
SQL_SINK = "sql"
SINKS = (INFLUXDB_SINK, SQL_SINK)
DEFAULT_SINKS = (INFLUXDB_SINK,)


class FieldRule(Enum):
    """How a field's value is checked before it becomes a float field of the point."""

    FINITE_NUMBER = "a finite number"
    NON_NEGATIVE_INTEGER = "a non-negative integer"


# The catalog's `type` of a field (catalog/schema.py, FieldType) -> the function's check.
RULES = {"number": FieldRule.FINITE_NUMBER, "non_negative_integer": FieldRule.NON_NEGATIVE_INTEGER}


@dataclass(frozen=True)
class FieldSpec:
    name: str  # the field key in the point
    source: str  # the reading's attribute
    rule: FieldRule = FieldRule.FINITE_NUMBER


@dataclass(frozen=True)
class TagSpec:
    name: str  # the tag key in the point
    source: str  # the reading's attribute (a non-empty string)


@dataclass(frozen=True)
class ReadingKind:
    name: str
    topic: str
    measurement: str
    fields: tuple[FieldSpec, ...]
    tags: tuple[TagSpec, ...] = ()
    sensor_id: tuple[str, ...] = ("deviceid", "clientid")  # attributes joined with "-" into the sensorID tag
    sinks: tuple[str, ...] = DEFAULT_SINKS  # every one must hold a reading before it counts as written

    @cached_property
    def field_checks(self) -> tuple[tuple[str, str, bool], ...]:
        """(field key, attribute, whether it must be a non-negative integer) of each field, for validation."""
        return tuple((f.name, f.source, f.rule is FieldRule.NON_NEGATIVE_INTEGER) for f in self.fields)

    @cached_property
    def tag_sources(self) -> tuple[tuple[str, str], ...]:
        """(tag key, attribute) of each of the reading's own tags."""
        return tuple((t.name, t.source) for t in self.tags)

    @property
    def influxdb_only(self) -> bool:
        """Whether the kind writes to InfluxDB alone (every kind before sinks were named)."""
        return self.sinks == DEFAULT_SINKS

    @property
    def point_names(self) -> frozenset[str]:
        """Names the reading itself sets in the point: metadata may never use them."""
        return frozenset({SENSOR_ID_TAG, *(f.name for f in self.fields), *(t.name for t in self.tags)})


@dataclass(frozen=True)
class KindTable:
    kinds: tuple[ReadingKind, ...]
    rules: tuple[tuple[str, str], ...] = ()  # (rule name, kind name) of the kinds that take Basic Ingest
    _by_topic: dict[str, ReadingKind] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        topics = [kind.topic for kind in self.kinds]
        if len(set(topics)) != len(topics):
            raise ConfigError(
                f"two reading kinds listen on the same topic: {sorted(topics)}; give each its own"
            )
        object.__setattr__(self, "_by_topic", {kind.topic: kind for kind in self.kinds})

    def for_topic(self, topic: str | None) -> ReadingKind | None:
        """The kind whose rule delivers `topic`; None for an unknown topic. A Basic Ingest topic is the kind of
        the rule it names, whatever follows the rule's name (the rule's own topic filter does not apply)."""
        wanted = TOPIC_OF_READINGS_WITHOUT_ONE if topic is None else topic
        rule = basic_ingest.rule_of(wanted)
        if rule is not None:
            name = dict(self.rules).get(rule)
            return None if name is None else self.named(name)
        return self._by_topic.get(wanted)

    def named(self, name: str) -> ReadingKind:
        return next(kind for kind in self.kinds if kind.name == name)

    @property
    def sinks(self) -> frozenset[str]:
        """Every sink some kind writes to: the function makes a client for each, and only for those."""
        return frozenset(sink for kind in self.kinds for sink in kind.sinks)


def _kind(entry: Mapping[str, Any], topics: Mapping[str, str]) -> ReadingKind:
    return ReadingKind(
        name=entry["name"],
        topic=topics.get(entry["name"], entry["topic"]),
        measurement=entry["measurement"],
        fields=tuple(
            FieldSpec(name, f["attribute"], RULES[f["type"]]) for name, f in entry["fields"].items()
        ),
        tags=tuple(TagSpec(name, t["attribute"]) for name, t in entry["tags"].items()),
        sensor_id=tuple(entry["sensor_id"]),
        sinks=_sinks(entry),
    )


def _sinks(entry: Mapping[str, Any]) -> tuple[str, ...]:
    sinks = tuple(entry.get("sinks", DEFAULT_SINKS))
    unknown = sorted(str(sink) for sink in set(sinks) - set(SINKS))
    if unknown or not sinks or len(set(sinks)) != len(sinks):
        raise ConfigError(
            f"kind {entry['name']}: sinks must name each of {', '.join(SINKS)} at most once, not {list(sinks)}"
        )
    return (
        DEFAULT_SINKS if sinks == DEFAULT_SINKS else sinks
    )  # the one object: the ingestor's fast path checks it


def _rules(rules_text: str, names: set[str]) -> tuple[tuple[str, str], ...]:
    """(rule name, kind) of each kind whose Basic Ingest is on (a rule name, not "")."""
    rules = json.loads(rules_text) if rules_text.strip() else {}
    variable = basic_ingest.RULES_VARIABLE
    if not isinstance(rules, dict) or not all(isinstance(v, str) for v in rules.values()):
        raise ConfigError(
            f'{variable} must be a JSON object of kind -> rule name (or ""), not {rules_text!r}'
        )
    unknown = sorted(set(rules) - names)
    if unknown:
        raise ConfigError(f"{variable} names kinds the catalog does not have: {', '.join(unknown)}")
    return tuple(sorted((rule, kind) for kind, rule in rules.items() if rule))


def parse_table(
    text: str, topics_text: str = "", source: str = "device_kinds.json", rules_text: str = ""
) -> KindTable:
    """The table from the packed catalog, the stack's topics and its Basic Ingest rules (all JSON); a broken
    file fails clearly."""
    try:
        entries = json.loads(text)["kinds"]
        topics = json.loads(topics_text) if topics_text.strip() else {}
        if not isinstance(topics, dict) or not all(isinstance(v, str) and v for v in topics.values()):
            raise ConfigError(
                f"{TOPICS_VARIABLE} must be a JSON object of kind -> topic, not {topics_text!r}"
            )
        unknown = sorted(set(topics) - {entry["name"] for entry in entries})
        if unknown:
            raise ConfigError(
                f"{TOPICS_VARIABLE} names kinds that {source} does not have: {', '.join(unknown)}"
            )
        rules = _rules(rules_text, {entry["name"] for entry in entries})
        return KindTable(tuple(_kind(entry, topics) for entry in entries), rules)
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        if isinstance(error, ConfigError):
            raise
        raise ConfigError(f"{source} or {TOPICS_VARIABLE} cannot be read: {error!r}") from None


def load_table(env: Mapping[str, str] | None = None) -> KindTable:
    env = os.environ if env is None else env
    path = Path(env.get(FILE_VARIABLE) or PACKAGED_FILE)
    try:
        text = path.read_text()
    except OSError as error:
        raise ConfigError(
            f"{path}: cannot read the reading kinds ({error.strerror}): the deploy tool packs them into the "
            f"function's zip; set {FILE_VARIABLE} to run the function elsewhere"
        ) from None
    return parse_table(
        text, env.get(TOPICS_VARIABLE, ""), str(path), env.get(basic_ingest.RULES_VARIABLE, "")
    )


_table: KindTable | None = None


def table() -> KindTable:
    """The kinds of this container, read once."""
    global _table
    if _table is None:
        _table = load_table()
    return _table


def reset() -> None:
    """Read the kinds again at the next use (after the environment changed: the sandbox and tests)."""
    global _table
    _table = None


def kind_for_topic(topic: str | None) -> ReadingKind | None:
    """The kind whose rule delivers `topic`; None for an unknown topic."""
    return table().for_topic(topic)
