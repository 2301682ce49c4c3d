"""What a panel of the local picture draws: its lines, from whichever store answered its query."""

from __future__ import annotations

from dataclasses import dataclass

from grafana import model


@dataclass(frozen=True)
class Line:
    label: str
    times_ms: list[int]
    values: list[float | None]

    @property
    def last(self) -> float | None:
        return next((v for v in reversed(self.values) if v is not None), None)


@dataclass(frozen=True)
class PanelData:
    dashboard: str
    panel: model.Panel
    lines: list[Line]
    interval_ms: int
    start_ms: int
    end_ms: int
    note: str = ""  # why there is nothing to draw, said on the plot
