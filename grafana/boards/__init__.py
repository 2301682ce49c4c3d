"""The dashboards: ingest health, and one per kind of the catalog (device-kinds/, or $DEVICE_KINDS_DIR) that has a
`dashboard` section. `dashboards()` maps each file name under grafana/dashboards/ to its builder."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from grafana_foundation_sdk.builders.dashboard import Dashboard

from catalog import Catalog, load_catalog
from grafana.boards import ingest_health, kind


def dashboards(catalog: Catalog | None = None) -> dict[str, Callable[[], Dashboard]]:
    catalog = catalog or load_catalog()
    boards: dict[str, Callable[[], Dashboard]] = {"ingest-health": ingest_health.dashboard}
    for entry in catalog:
        if entry.dashboard is not None:
            boards[entry.dashboard.uid] = partial(kind.dashboard, entry)
    return boards


__all__ = ["dashboards"]
