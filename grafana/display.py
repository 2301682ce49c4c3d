"""A sensor's display name on the dashboards and in the picture: where it is (line · machine · position, from its
metadata item's tags) when its item says so, its raw sensor id otherwise.

Grafana does it with its own features: each per-sensor query groups by the sensor id and the three tags, its alias
joins them with "|" ("<id>|<line>|<machine>|<position>"; InfluxDB gives an absent tag as ""), and "Rename by regex"
transformations (`renameByRegex`, applied in order) turn that into the name. `grafana.render` reads the same
transformations from the dashboard JSON and applies them, so the picture and Grafana agree.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from grafana.names import DISPLAY_NAME_SEPARATOR, DISPLAY_NAME_TAGS, SENSOR_ID_TAG

RENAME_BY_REGEX = "renameByRegex"  # Grafana's transformation id
_PART = "|"
# The alias of a per-sensor series: the id and the three tags, in order.
ALIAS = _PART.join(f"$tag_{tag}" for tag in (SENSOR_ID_TAG, *DISPLAY_NAME_TAGS))
# GROUP BY keys of a per-sensor query: the id first, then the tags the name is made of.
GROUP_KEYS = ", ".join(f'"{tag}"' for tag in (SENSOR_ID_TAG, *DISPLAY_NAME_TAGS))

_ANY, _SOME = "([^|]*)", "([^|]+)"
_SEP = DISPLAY_NAME_SEPARATOR


@dataclass(frozen=True)
class Rename:
    """One renameByRegex step: a regular expression valid in JavaScript and Python, Grafana's `$n` pattern."""

    regex: str
    pattern: str

    def transformation(self) -> dict[str, Any]:
        return {"id": RENAME_BY_REGEX, "options": {"regex": f"/{self.regex}/", "renamePattern": self.pattern}}


# Line, machine and position; line and machine; else the raw id. Each regex matches the whole alias, so a name
# made by an earlier step (it holds no "|") is left alone by the later ones.
RENAMES = (
    Rename(rf"^{_ANY}\|{_SOME}\|{_SOME}\|{_SOME}$", f"$2{_SEP}$3{_SEP}$4"),
    Rename(rf"^{_ANY}\|{_SOME}\|{_SOME}\|$", f"$2{_SEP}$3"),
    Rename(rf"^{_ANY}\|.*$", "$1"),
)


def transformations() -> list[dict[str, Any]]:
    return [rename.transformation() for rename in RENAMES]


def _python_regex(text: str) -> tuple[str, int]:
    """Grafana's "/body/flags" (stringToJsRegex) as a Python pattern and flags; a bare text is anchored."""
    match = re.fullmatch(r"/(.*)/([gimsuy]*)", text, re.DOTALL)
    if match is None:
        return f"^{text}$", 0
    flags = re.IGNORECASE if "i" in match.group(2) else 0
    flags |= re.MULTILINE if "m" in match.group(2) else 0
    flags |= re.DOTALL if "s" in match.group(2) else 0
    return match.group(1), flags


def apply_renames(name: str, renames: Iterable[tuple[str, str]]) -> str:
    """`name` after each (regex, renamePattern) in turn, as Grafana's renameByRegex does: only a name the regex
    matches is renamed (its first match replaced), `$1` standing for the first group."""
    for regex, pattern in renames:
        body, flags = _python_regex(regex)
        compiled = re.compile(body, flags)
        if compiled.search(name) is None:
            continue
        replacement = re.sub(r"\$(\d+)", r"\\g<\1>", pattern.replace("\\", "\\\\"))
        name = compiled.sub(replacement, name, count=1)
    return name
