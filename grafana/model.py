"""A typed, read-only view of the committed dashboard JSON: what `grafana.render` and the tests need of it.

The render reads the JSON Grafana is given, not the Python that generated it, so the picture shows exactly what
Grafana would run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grafana.build import DASHBOARDS_DIR
from grafana.display import RENAME_BY_REGEX


@dataclass(frozen=True)
class Target:
    ref_id: str
    datasource_type: str
    query: str | None  # the InfluxQL text; None for other data sources
    alias: str
    raw: dict[str, Any]


@dataclass(frozen=True)
class Panel:
    title: str
    type: str
    unit: str
    minimum: float | None
    maximum: float | None
    min_interval: str | None  # the panel's "Min interval"
    time_from: str | None  # a relative range of the panel's own ("7d"), overriding the dashboard's
    x: int
    y: int
    w: int
    h: int
    draw_style: str  # "line" or "bars" for time series
    span_nulls_ms: int | None
    thresholds: tuple[tuple[float | None, str], ...]
    targets: tuple[Target, ...]
    no_value: str | None = None  # what the panel shows when no series came back ("0")
    renames: tuple[
        tuple[str, str], ...
    ] = ()  # renameByRegex transformations: (regex, renamePattern), in order

    @property
    def datasource_type(self) -> str:
        return self.targets[0].datasource_type if self.targets else ""


@dataclass(frozen=True)
class Variable:
    name: str
    datasource_type: str
    query: str | dict[str, Any]
    all_value: str | None


@dataclass(frozen=True)
class Dashboard:
    uid: str
    title: str
    panels: tuple[Panel, ...]
    variables: tuple[Variable, ...]

    @property
    def height(self) -> int:
        return max((p.y + p.h for p in self.panels), default=0)


def _panel(raw: dict[str, Any]) -> Panel:
    defaults = raw.get("fieldConfig", {}).get("defaults", {})
    custom = defaults.get("custom", {})
    panel_ds = (raw.get("datasource") or {}).get("type", "")
    targets = tuple(
        Target(
            ref_id=t.get("refId", "A"),
            datasource_type=(t.get("datasource") or {}).get("type", panel_ds),
            query=t.get("query") if (t.get("datasource") or {}).get("type", panel_ds) == "influxdb" else None,
            alias=t.get("alias", ""),
            raw=t,
        )
        for t in raw.get("targets", [])
    )
    steps = defaults.get("thresholds", {}).get("steps", [])
    span = custom.get("spanNulls")
    pos = raw["gridPos"]
    return Panel(
        title=raw["title"],
        type=raw["type"],
        unit=defaults.get("unit", ""),
        minimum=defaults.get("min"),
        maximum=defaults.get("max"),
        min_interval=raw.get("interval"),
        time_from=raw.get("timeFrom"),
        x=pos["x"],
        y=pos["y"],
        w=pos["w"],
        h=pos["h"],
        draw_style=custom.get("drawStyle", "line"),
        span_nulls_ms=span if isinstance(span, int) and not isinstance(span, bool) else None,
        thresholds=tuple((s.get("value"), s["color"]) for s in steps),
        targets=targets,
        no_value=defaults.get("noValue"),
        renames=tuple(
            (t["options"]["regex"], t["options"].get("renamePattern", ""))
            for t in raw.get("transformations") or []
            if t.get("id") == RENAME_BY_REGEX and not t.get("disabled")
        ),
    )


def parse(model: dict[str, Any]) -> Dashboard:
    variables = tuple(
        Variable(
            name=v["name"],
            datasource_type=(v.get("datasource") or {}).get("type", ""),
            query=v.get("query", ""),
            all_value=v.get("allValue") if v.get("includeAll") else None,
        )
        for v in model.get("templating", {}).get("list", [])
    )
    return Dashboard(
        uid=model["uid"],
        title=model["title"],
        panels=tuple(_panel(p) for p in model.get("panels", []) if p.get("type") != "row"),
        variables=variables,
    )


def load(directory: Path = DASHBOARDS_DIR) -> list[Dashboard]:
    """Every committed dashboard, in file name order."""
    paths = sorted(directory.glob("*.json"))
    if not paths:
        raise FileNotFoundError(f"no dashboards in {directory}: run 'python -m grafana.build'")
    return [parse(json.loads(path.read_text())) for path in paths]
