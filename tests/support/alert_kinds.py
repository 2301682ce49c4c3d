"""A kind with an alert, for the alert rules' tests."""

from __future__ import annotations

from typing import Any


def kind(name: str, alert: dict[str, Any] | None = None, silent_after: int | None = None) -> dict[str, Any]:
    level: dict[str, Any] = {"attribute": "level", "unit": "short", "label": "Level"}
    if alert is not None:
        level["alert"] = alert
    data: dict[str, Any] = {
        "name": name,
        "description": f"{name} devices",
        "topic": f"/{name}/data",
        "measurement": name,
        "sensor_id": ["deviceid"],
        "fields": {"level": level, "other": {"attribute": "other", "unit": "short", "label": "Other"}},
    }
    if silent_after is not None:
        data["silent_after_minutes"] = silent_after
    return data
