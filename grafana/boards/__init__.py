"""The dashboards, one module each; `DASHBOARDS` maps each file name under grafana/dashboards/ to its builder."""

from __future__ import annotations

from collections.abc import Callable

from grafana_foundation_sdk.builders.dashboard import Dashboard

from grafana.boards import button, ingest_health, pressure, shelf

DASHBOARDS: dict[str, Callable[[], Dashboard]] = {
    "pressure-viscosity": pressure.dashboard,
    "ingest-health": ingest_health.dashboard,
    "shelf-activity": shelf.dashboard,
    "button-presses": button.dashboard,
}

__all__ = ["DASHBOARDS"]
