"""A rich table as an operator sees it printed, read back by row."""

from __future__ import annotations

from rich.console import Console, RenderableType


def printed_rows(table: RenderableType, width: int) -> dict[str, list[str]]:
    """Each printed row's other cells, by its first cell's text."""
    console = Console(width=width, record=True)
    console.print(table)
    return {
        line.split("│")[1].strip(): [c.strip() for c in line.split("│")[2:-1]]
        for line in console.export_text().splitlines()
        if line.startswith("│")
    }
