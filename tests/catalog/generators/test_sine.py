"""sine: follows the clock around its mean, within amplitude plus noise."""

from __future__ import annotations

import math
import random

from catalog.generators import Sine


def test_without_noise_it_is_a_sine_of_the_clock() -> None:
    now = [0.0]
    stream = Sine(type="sine", mean=10, amplitude=2, period_seconds=60).stream(
        random.Random(1), lambda: now[0]
    )
    values = []
    for second in range(0, 60, 15):
        now[0] = float(second)
        values.append(stream())
    # A quarter period apart: opposite points of the circle sum to twice the mean.
    assert math.isclose(values[0] + values[2], 20, abs_tol=0.002)
    assert math.isclose(values[1] + values[3], 20, abs_tol=0.002)
    assert math.isclose((values[0] - 10) ** 2 + (values[1] - 10) ** 2, 4, abs_tol=0.02)


def test_noise_stays_within_its_bound() -> None:
    now = [0.0]
    spec = Sine(type="sine", mean=10, amplitude=2, period_seconds=60, noise=0.5)
    stream = spec.stream(random.Random(1), lambda: now[0])
    for tick in range(500):
        now[0] = tick * 0.7
        assert 7.5 <= stream() <= 12.5
