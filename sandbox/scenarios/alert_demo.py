"""The demo's alerts: one device that crosses its kind's threshold and one that goes silent, through the whole
pipeline, then every provisioned rule evaluated as Grafana would (grafana/alert_check.py).

A threshold needs `for_minutes` of readings above it and a silence `silent_after_minutes` of nothing, longer than
the demo runs: so the two devices publish readings whose device time (`sensordatetime`, the point's time) lies in
the past, as a device that was offline and delivers its buffer would. They go over MQTT, the rule and the
function like every other reading; they are published after the demo's accounting, so they never enter it.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from ingest_to_influxdb.constants import METAKEY
from rich.console import Console
from rich.table import Table

from catalog import SENSOR_ID_TAG, DeviceKind, load_catalog
from grafana import alert_rules
from grafana.alert_check import FIRING, NORMAL, PENDING, Instance, evaluate_all, reader_for
from grafana.alert_rules import DEFAULT_SILENT_AFTER_MINUTES, THRESHOLD
from reach import influx
from reach.endpoints import Endpoints
from reach.mqtt import publish_all

TIME_ATTRIBUTE = "sensordatetime"  # the payload's device time (lambda/ingest_to_influxdb/validation.py)
CLIENT_ID = "alert-demo"
HOT_DEVICE = "demo-hot"
QUIET_DEVICE = "demo-quiet"
STEP = timedelta(seconds=20)


@dataclass(frozen=True)
class Scenario:
    kind: DeviceKind
    hot_sensor: str  # crosses the threshold and stays over it
    quiet_sensor: str  # sent, then nothing

    @property
    def sensors(self) -> tuple[str, str]:
        return self.hot_sensor, self.quiet_sensor


def alerting_kind() -> tuple[DeviceKind, str]:
    """The first kind of the catalog with a field that has an alert, and that field."""
    for kind in load_catalog():
        for name, point_field in kind.fields.items():
            if point_field.alert is not None:
                return kind, name
    raise LookupError("no device kind has a field with an alert: give one an 'alert' in device-kinds/")


def _normal(kind: DeviceKind, name: str) -> int:
    field_range = kind.fields[name].range
    value = (field_range.min + field_range.max) / 2 if field_range else 1.0
    return round(value)


def _over(kind: DeviceKind, name: str) -> int:
    """Whole numbers, so a count field takes them too; 5 % of the field's range beyond its threshold."""
    alert = kind.fields[name].alert
    assert alert is not None
    field_range = kind.fields[name].range
    margin = (field_range.max - field_range.min) * 0.05 if field_range else 1.0
    if alert.above is not None:
        return math.floor(alert.above) + max(math.ceil(margin), 1)
    assert alert.below is not None
    below = math.ceil(alert.below) - max(math.ceil(margin), 1)
    return max(below, 0) if alert.below > 0 else below  # a count below a positive bound: 0 is below it


def _metakey(kind: DeviceKind) -> str | None:
    spec = kind.simulator.attributes.get(METAKEY) if kind.simulator else None
    values = getattr(spec, "values", None)
    return str(values[0]) if values else None


def payload(kind: DeviceKind, device: str, when: datetime, over: str | None) -> bytes:
    """A reading of `kind` from `device` at `when`: every field normal, `over` beyond its threshold."""
    body: dict[str, object] = {a: device if i == 0 else CLIENT_ID for i, a in enumerate(kind.sensor_id)}
    for name, point_field in kind.fields.items():
        body[point_field.attribute] = _over(kind, name) if name == over else _normal(kind, name)
    for tag in kind.tags.values():
        body[tag.attribute] = "alert-demo"
    body[TIME_ATTRIBUTE] = when.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    metakey = _metakey(kind)
    if metakey is not None:
        body[METAKEY] = metakey
    return json.dumps(body).encode()


def readings(kind: DeviceKind, field: str, now: datetime) -> tuple[Scenario, list[bytes]]:
    alert = kind.fields[field].alert
    assert alert is not None
    silent_after = kind.silent_after_minutes or DEFAULT_SILENT_AFTER_MINUTES
    payloads = []
    # Over the threshold for the pending period and two minutes more, up to now.
    moment = now - timedelta(minutes=alert.for_minutes + 2)
    while moment <= now:
        payloads.append(payload(kind, HOT_DEVICE, moment, over=field))
        moment += STEP
    # Normal readings for eight minutes, the last one two minutes longer ago than the silence.
    moment = now - timedelta(minutes=silent_after + 10)
    while moment <= now - timedelta(minutes=silent_after + 2):
        payloads.append(payload(kind, QUIET_DEVICE, moment, over=None))
        moment += STEP
    return Scenario(kind, sensor_of(kind, HOT_DEVICE), sensor_of(kind, QUIET_DEVICE)), payloads


def sensor_of(kind: DeviceKind, device: str) -> str:
    """The sensorID the function makes of the payload's sensor_id attributes, joined with "-"."""
    return "-".join([device, *[CLIENT_ID] * (len(kind.sensor_id) - 1)])


def publish(endpoints: Endpoints, topic: str, payloads: list[bytes]) -> None:
    """QoS 1 to the local broker, waiting for every PUBACK."""
    publish_all(endpoints, topic, payloads, client_id=f"{CLIENT_ID}-{time.time_ns()}")


def written(endpoints: Endpoints, scenario: Scenario, field: str) -> int:
    sensors = " OR ".join(f"\"{SENSOR_ID_TAG}\" = '{s}'" for s in scenario.sensors)
    series = influx.query(
        endpoints,
        f'SELECT count("{field}") FROM "{scenario.kind.measurement}" WHERE ({sensors}) AND time > now() - 1d',
    )
    return int(series[0]["values"][0][1]) if series else 0


def run_scenario(endpoints: Endpoints, timeout: float = 60.0) -> Scenario:
    """Publish the two devices' readings and wait until the pipeline has written them all."""
    kind, field = alerting_kind()
    now = datetime.now(UTC)
    scenario, payloads = readings(kind, field, now)
    before = written(endpoints, scenario, field)
    publish(endpoints, kind.topic, payloads)
    deadline = time.monotonic() + timeout
    while written(endpoints, scenario, field) < before + len(payloads):
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"the alert demo's {len(payloads)} readings were not all written within {timeout:.0f} s: "
                "see .sandbox/logs/"
            )
        time.sleep(0.5)
    return scenario


def summary(scenario: Scenario, instances: list[Instance], fleet: set[str]) -> tuple[Table, bool]:
    """The two devices' alerts, and how this run's other sensors stand; True if exactly as expected."""
    table = Table(title="Alerts (every provisioned rule, evaluated as Grafana would)")
    for column in ("sensors", "rule", "state", "why"):
        table.add_column(column)
    style = {FIRING: "bold red", NORMAL: "green"}
    expected = {scenario.hot_sensor: THRESHOLD, scenario.quiet_sensor: "silent"}
    ok = True
    for sensor, check in expected.items():
        found = [i for i in instances if i.sensor == sensor and i.labels.get("check") == check]
        state = found[0].state if found else "absent"
        ok = ok and state == FIRING
        why = found[0].reason if found else "no alert instance for the sensor"
        table.add_row(
            sensor, found[0].rule_title if found else check, f"[{style.get(state, 'bold')}]{state}[/]", why
        )
    # Each other sensor of the run by its worst state over every rule.
    worst: dict[str, str] = {}
    rank = {FIRING: 3, PENDING: 2, NORMAL: 1}
    for instance in instances:
        if instance.sensor in fleet - set(expected):
            current = worst.get(instance.sensor, NORMAL)
            worst[instance.sensor] = max(current, instance.state, key=lambda state: rank.get(state, 3))
    counts = {state: sum(s == state for s in worst.values()) for state in (NORMAL, PENDING, FIRING)}
    ok = ok and counts[FIRING] == 0 and len(worst) == len(fleet - set(expected))
    described = ", ".join(f"{n} {state}" for state, n in counts.items() if n) or "none"
    table.add_row(
        f"this run's other {len(worst)} sensors",
        "every rule",
        described,
        "pending: over a threshold now, not yet for its pending period" if counts[PENDING] else "",
    )
    earlier = [
        i for i in instances if i.sensor and i.sensor not in fleet | set(expected) and i.state == FIRING
    ]
    if earlier:
        table.add_row(
            f"{len({i.sensor for i in earlier})} sensors of earlier runs",
            ", ".join(sorted({i.rule_title for i in earlier})),
            FIRING,
            "they sent within the last day and no longer do",
        )
    return table, ok


def fleet_sensors(endpoints: Endpoints, since: datetime) -> set[str]:
    """Every sensor with a reading since `since`, of every kind."""
    found: set[str] = set()
    for kind in load_catalog():
        first = next(iter(kind.fields))
        for series in influx.query(
            endpoints,
            f'SELECT count("{first}") FROM "{kind.measurement}" WHERE time >= {int(since.timestamp() * 1000)}ms '
            f'GROUP BY "{SENSOR_ID_TAG}"',
        ):
            found.add(series["tags"][SENSOR_ID_TAG])
    return found


def show_alerts(endpoints: Endpoints, since: datetime, console: Console) -> bool:
    """The demo's alert step: publish, evaluate, print; True if both devices fire and no other sensor of the run."""
    fleet = fleet_sensors(endpoints, since)
    with console.status(
        "publishing a device over its threshold and one gone silent, then evaluating the alerts"
    ):
        scenario = run_scenario(endpoints)
        instances = evaluate_all(reader_for(endpoints))
    table, ok = summary(scenario, instances, fleet)
    console.print(table)
    console.print("every rule and sensor: python -m grafana.alert_check")
    behind = alert_rules.stale()
    if behind:  # a kind added or changed since the rules were generated: its sensors have no rule yet
        console.print(
            f"[bold]the alert rules ({', '.join(behind)}) do not follow device-kinds/ any more: run "
            "python -m grafana.alert_rules (and python -m grafana.build for the dashboards), as docs/add-a-device.md says[/]"
        )
    return ok
