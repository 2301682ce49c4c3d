"""The provisioned alert rules on the real local influxd: for a known sequence of readings each rule fires for
exactly the sensors it should, and stops when they recover.

The rules are generated for a kind of this test's own (its own measurement), so other tests' points never count.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from catalog import Catalog, parse_kind
from grafana import alert_check, alert_rules
from reach.endpoints import Endpoints, endpoints_file
from tests.support.alert_kinds import kind
from tests.support.readings import write_lines


def write(
    endpoints: Endpoints, measurement: str, sensor: str, readings: list[tuple[datetime, float]]
) -> None:
    tags = f"sensorID={sensor},manufacturer=Acme,component_id=c-{sensor}"
    write_lines(
        endpoints,
        (f"{measurement},{tags} level={v},other=1 {int(t.timestamp() * 1000)}" for t, v in readings),
    )


def every_30s(start: datetime, end: datetime, value: float) -> list[tuple[datetime, float]]:
    count = int((end - start).total_seconds() // 30) + 1
    return [(start + timedelta(seconds=30 * i), value) for i in range(count)]


@pytest.fixture
def rules(tmp_path: Path) -> tuple[str, Path]:
    """A kind `alert_<random>`: level above 90 or below 10 for 3 minutes; silent after 5 minutes."""
    name = f"alert_{uuid.uuid4().hex[:8]}"
    catalog = Catalog(
        Path(), (parse_kind(kind(name, {"above": 90, "below": 10, "for_minutes": 3}, 5), name),)
    )
    path = tmp_path / alert_rules.RULES_FILE
    path.write_text(yaml.safe_dump(alert_rules.rules_file(catalog)))
    return name, path


def states(instances: list[alert_check.Instance], check: str) -> dict[str, str]:
    return {i.sensor: i.state for i in instances if i.labels.get("check") == check and i.sensor}


def test_each_rule_fires_for_exactly_its_sensors_and_stops_when_they_recover(
    endpoints: Endpoints, rules: tuple[str, Path]
) -> None:
    measurement, path = rules
    reader = alert_check.reader_for(endpoints)
    now = datetime.now(UTC).replace(microsecond=0)
    # sensor, from and until (minutes before now), value: every 30 s
    runs = [
        ("hot", 8, 0, 95),
        ("cold", 8, 0, 5),
        ("fine", 8, 0, 50),
        ("warming", 8, 2, 50),  # above only for the last minute: pending, not firing
        ("warming", 1, 0, 95),
        # Hot, then nothing for 7 minutes: silent, and no threshold alert on an old reading.
        ("quiet", 30, 7, 95),
    ]
    for sensor, start, end, value in runs:
        write(
            endpoints,
            measurement,
            sensor,
            every_30s(now - timedelta(minutes=start), now - timedelta(minutes=end), value),
        )
    # Sent two days ago: not a sensor of the last day, so not "silent". "never" never sent at all.
    write(endpoints, measurement, "gone", [(now - timedelta(days=2), 50)])

    found = alert_check.evaluate_all(reader, at=now, rules_path=path)
    assert states(found, "threshold") == {
        "hot": "firing",
        "cold": "firing",
        "fine": "normal",
        "warming": "pending",
    }
    assert states(found, "silent") == {
        "hot": "normal",
        "cold": "normal",
        "fine": "normal",
        "warming": "normal",
        "quiet": "firing",
    }
    hot = next(i for i in found if i.sensor == "hot" and i.labels["check"] == "threshold")
    assert hot.value == 95 and "true at all 4 evaluations" in hot.reason
    assert (hot.labels["manufacturer"], hot.labels["component_id"], hot.labels["kind"]) == (
        "Acme",
        "c-hot",
        measurement,
    )
    assert "family" not in hot.labels, "a tag the sensor does not have is no label"

    # Recovery: hot and cold back in range, quiet sends again.
    later = now + timedelta(seconds=60)
    write(endpoints, measurement, "hot", [(now + timedelta(seconds=30), 50)])
    write(endpoints, measurement, "cold", [(now + timedelta(seconds=30), 50)])
    write(endpoints, measurement, "quiet", [(datetime.now(UTC), 50)])
    recovered = alert_check.evaluate_all(reader, at=later, rules_path=path)
    assert set(states(recovered, "threshold").values()) <= {"normal", "pending"}
    assert states(recovered, "threshold")["hot"] == "normal"
    assert states(recovered, "threshold")["cold"] == "normal"
    assert set(states(recovered, "silent").values()) == {"normal"}


def test_a_kind_without_readings_is_normal_and_a_bad_query_is_an_error(
    endpoints: Endpoints, rules: tuple[str, Path], tmp_path: Path
) -> None:
    _, path = rules
    reader = alert_check.reader_for(endpoints)
    quiet = alert_check.evaluate_all(reader, rules_path=path)
    assert {i.state for i in quiet} == {"normal"} and all(i.sensor == "" for i in quiet)
    broken = tmp_path / "broken.yaml"
    broken.write_text(path.read_text().replace("SELECT last(", "SELEKT last("))
    errors = [i for i in alert_check.evaluate_all(reader, rules_path=broken) if i.state == "error"]
    assert len(errors) == 1 and "error parsing query" in errors[0].reason


def test_the_command_prints_every_rule_against_the_sandbox(endpoints: Endpoints, tmp_path: Path) -> None:
    path = endpoints_file(tmp_path)
    endpoints.save(path)
    assert alert_check.main(["--endpoints", str(path)]) == 0
