"""The AWS event fixtures of tests/events/ (taken from AWS's documentation), and a check that an envelope we
build has their shape: the same keys at every level, values of the same JSON type."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

EVENTS = Path(__file__).resolve().parents[1] / "events"


def fixture(name: str) -> Any:
    return json.loads((EVENTS / name).read_text())


def shape_differences(
    ours: Any, theirs: Any, absent_here: frozenset[str] = frozenset(), at: str = ""
) -> list[str]:
    """Where `ours` differs in shape from AWS's `theirs`; `absent_here` names the keys (dotted paths) AWS sends
    that the local stand-in does not have, each for a reason the test gives."""
    if isinstance(theirs, dict):
        if not isinstance(ours, dict):
            return [f"{at or 'the event'}: an object in AWS's, {type(ours).__name__} here"]
        found = []
        for key in sorted(set(theirs) | set(ours)):
            path = f"{at}.{key}" if at else key
            if key not in ours and path not in absent_here:
                found.append(f"{path}: missing")
            elif key not in theirs:
                found.append(f"{path}: not in AWS's event")
            elif key in ours:
                found += shape_differences(ours[key], theirs[key], absent_here, path)
        return found
    if isinstance(theirs, list):
        if not isinstance(ours, list):
            return [f"{at}: a list in AWS's, {type(ours).__name__} here"]
        return shape_differences(ours[0], theirs[0], absent_here, f"{at}[]") if ours and theirs else []
    if type(ours) is not type(theirs) and not (ours is None or theirs is None):
        return [f"{at}: {type(theirs).__name__} in AWS's, {type(ours).__name__} here"]
    return []
