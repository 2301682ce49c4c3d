"""Lambda's own log lines per successful invocation, in bytes, for a log format and system log level, from the
cited sample lines in benchmarks/lambda_log_lines.yaml."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml

LINES = Path(__file__).with_name("lambda_log_lines.yaml")


@cache
def _data() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(LINES.read_text())
    return data


def sent_lines(log_format: str, system_level: str) -> list[str]:
    """The platform lines a successful warm invocation sends: all of them in plain text; in JSON those whose
    level is at or above the configured one in severity (WARN sends none of INFO's)."""
    data = _data()
    levels: list[str] = data["levels"]  # most detail first
    lines = data["formats"][log_format.lower()]
    if log_format.lower() == "text":
        return [line["line"] for line in lines]
    threshold = levels.index(system_level.upper())
    return [line["line"] for line in lines if levels.index(line["level"]) >= threshold]


def bytes_per_invocation(log_format: str, system_level: str) -> int:
    """Each line's UTF-8 bytes and its newline."""
    return sum(len(line.encode()) + 1 for line in sent_lines(log_format, system_level))
