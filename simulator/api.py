"""The simulator as a library: run a fleet of one or more device types and get its summary."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from local_aws.iot.subscriptions import unread_topics
from reach.endpoints import DEFAULT_PATH, Endpoints, mqtt_login
from simulator.device_types import resolve_type
from simulator.fleet import Counters, Fleet, FleetSummary, Target


@dataclass(frozen=True)
class FleetGroup:
    type_name: str  # a kind of the catalog (pressure, shelf, ...) or a type file
    devices: int
    topic: str | None = None  # instead of the type's own topic


def local_target(endpoints_path: Path = DEFAULT_PATH) -> Target:
    """The local broker named in the sandbox's endpoints.json (plain TCP, with the user and password it names)."""
    endpoints = Endpoints.load(endpoints_path)
    username, password = mqtt_login(endpoints)
    return Target(host=endpoints.mqtt.host, port=endpoints.mqtt.port, username=username, password=password)


def run_groups(
    endpoints_path: Path | None,
    groups: list[FleetGroup],
    rate: float = 1.0,
    duration: float | None = None,
    count: int | None = None,
    seed: int | None = None,
    metakey: str | None = None,
    target: Target | None = None,
    on_tick: Callable[[Counters], None] | None = None,
    stop: threading.Event | None = None,
) -> FleetSummary:
    """Connect every device, publish, wait for every acknowledgement, disconnect."""
    chosen = target or local_target(endpoints_path or DEFAULT_PATH)
    fleet = Fleet(
        [(resolve_type(g.type_name, g.topic), g.devices) for g in groups], chosen, seed=seed, metakey=metakey
    )
    fleet.connect()
    try:
        return fleet.run(rate, count=count, duration=duration, on_tick=on_tick, stop=stop)
    finally:
        fleet.disconnect()


@dataclass(frozen=True)
class ToNoRule:
    """Readings of a type acknowledged on a topic no deployed rule reads."""

    type_name: str
    topic: str
    readings: int


def readings_to_no_rule(
    endpoints_path: Path, groups: list[FleetGroup], summary: FleetSummary
) -> list[ToNoRule]:
    """The acknowledged readings that went to a topic no deployed rule reads, by the local rule runner's
    subscriptions (`local_aws.iot.subscriptions`): the broker took them and dropped them, as IoT Core drops a message
    no rule selects. Empty when every topic is read, or nothing is known (no runner has subscribed there)."""
    types = [resolve_type(g.type_name, g.topic) for g in groups]
    unread = set(unread_topics(endpoints_path.parent, [t.topic for t in types]) or ())
    return [
        ToNoRule(t.name, t.topic, summary.by_type[t.name])
        for t in types
        if t.topic in unread and summary.by_type.get(t.name)
    ]


def no_rule_warning(to_no_rule: list[ToNoRule]) -> str:
    """One line on readings that went where no deployed rule reads."""
    where = ", ".join(f"{t.readings} {t.type_name} to {t.topic}" for t in to_no_rule)
    return (
        f"{sum(t.readings for t in to_no_rule)} readings went to topics no deployed rule reads ({where}): the "
        "broker acknowledged and dropped them (publish to the topic the stack was deployed with, or deploy it "
        "with this one)"
    )
