"""random_walk: small steps, never outside its bounds (a shelf's count never goes below zero)."""

from __future__ import annotations

import itertools
import random

import pytest
from pydantic import ValidationError

from catalog.generators import RandomWalk


def walk(**fields: object) -> list[float]:
    spec = RandomWalk.model_validate({"type": "random_walk", **fields})
    stream = spec.stream(random.Random(3), lambda: 0.0)
    return [stream() for _ in range(3000)]


def test_an_integer_walk_moves_by_whole_steps_within_bounds() -> None:
    values = walk(min=500, max=1500, step=15)
    assert all(isinstance(v, int) and 500 <= v <= 1500 for v in values)
    assert max(abs(a - b) for a, b in itertools.pairwise(values)) <= 15
    assert len(set(values)) > 50  # it does move


def test_a_walk_starting_at_its_floor_never_goes_below_it() -> None:
    values = walk(min=0, max=60, step=3, start=0)
    assert values[0] <= 3 and min(values) == 0  # it touches zero and stays there or above
    assert all(v >= 0 for v in values)


def test_a_float_walk_keeps_three_decimals() -> None:
    values = walk(min=0, max=1, step=0.1, integer=False)
    assert all(0 <= v <= 1 and round(v, 3) == v for v in values)
    assert max(abs(a - b) for a, b in itertools.pairwise(values)) <= 0.1 + 1e-3


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"min": 5, "max": 1, "step": 1}, "min 5.* is greater than max 1"),
        ({"min": 0, "max": 10, "step": 1, "start": 11}, r"start 11.* is outside \[0.*, 10.*\]"),
        ({"min": 0, "max": 10, "step": 0.5}, "step 0.5 is below 1"),
        ({"min": 0.2, "max": 0.8, "step": 1}, r"no whole number lies in \[0.2, 0.8\]"),
        ({"min": 0, "max": 10, "step": 0}, "greater than 0"),
    ],
)
def test_impossible_walks_are_refused(fields: dict[str, float], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        RandomWalk.model_validate({"type": "random_walk", **fields})
