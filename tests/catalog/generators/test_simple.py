"""constant, boolean and counter."""

from __future__ import annotations

import random

from catalog.generators import Boolean, Constant, Counter


def test_constant_is_its_value_whatever_its_type() -> None:
    for value in ("x", 3, 2.5, None, {"nested": [1]}):
        stream = Constant(type="constant", value=value).stream(random.Random(), lambda: 0.0)
        assert stream() == value and stream() == value


def test_boolean_follows_its_probability() -> None:
    always = Boolean(type="boolean", probability=1).stream(random.Random(1), lambda: 0.0)
    never = Boolean(type="boolean", probability=0).stream(random.Random(1), lambda: 0.0)
    assert all(always() is True and never() is False for _ in range(100))
    mostly = Boolean(type="boolean", probability=0.9).stream(random.Random(1), lambda: 0.0)
    assert 800 < sum(mostly() for _ in range(1000)) < 1000


def test_counter_counts_from_start_by_step_per_device() -> None:
    spec = Counter(type="counter", start=5, step=2)
    one, two = spec.stream(random.Random(), lambda: 0.0), spec.stream(random.Random(), lambda: 0.0)
    assert [one() for _ in range(3)] == [5, 7, 9]
    assert two() == 5
