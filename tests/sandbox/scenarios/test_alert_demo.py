"""The demo's two alert devices, as readings the function accepts (pure: no service)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from ingest_to_influxdb.validation import kind_of, validate

from grafana.alert_rules import DEFAULT_SILENT_AFTER_MINUTES
from sandbox.scenarios import alert_demo


def test_one_device_over_its_threshold_for_longer_than_its_pending_period_and_one_silent() -> None:
    kind, field = alert_demo.alerting_kind()
    alert = kind.fields[field].alert
    assert alert is not None and alert.above is not None
    now = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
    scenario, payloads = alert_demo.readings(kind, field, now)
    readings = [json.loads(p) for p in payloads]
    attribute = kind.fields[field].attribute
    hot = [r for r in readings if r["deviceid"] == alert_demo.HOT_DEVICE]
    quiet = [r for r in readings if r["deviceid"] == alert_demo.QUIET_DEVICE]
    assert all(r[attribute] > alert.above for r in hot)
    assert all(r[attribute] < alert.above for r in quiet)

    def times(rs: list[dict[str, object]]) -> list[datetime]:
        return [datetime.fromisoformat(str(r["sensordatetime"])) for r in rs]

    assert min(times(hot)) <= now - timedelta(minutes=alert.for_minutes + 1) and max(times(hot)) == now
    silent_after = kind.silent_after_minutes or DEFAULT_SILENT_AFTER_MINUTES
    assert max(times(quiet)) < now - timedelta(minutes=silent_after)
    for body in (hot[0], quiet[0]):
        reading = validate(body, kind_of(body, kind.topic), now_ms=int(now.timestamp() * 1000))
        assert reading.sensor_id in scenario.sensors
