"""int_range and float_range: independent draws that stay inside the range and reach both ends."""

from __future__ import annotations

import random

import pytest
from pydantic import ValidationError

from catalog.generators import FloatRange, IntRange


def test_int_range_is_inclusive_at_both_ends() -> None:
    stream = IntRange(type="int_range", min=1, max=3).stream(random.Random(1), lambda: 0.0)
    assert {stream() for _ in range(200)} == {1, 2, 3}


def test_float_range_rounds_to_its_decimals() -> None:
    stream = FloatRange(type="float_range", min=0, max=1, decimals=1).stream(random.Random(1), lambda: 0.0)
    values = [stream() for _ in range(200)]
    assert all(0 <= v <= 1 and round(v, 1) == v for v in values)
    assert len(set(values)) > 5


def test_a_reversed_range_is_refused() -> None:
    with pytest.raises(ValidationError, match="min 5 is greater than max 1"):
        IntRange.model_validate({"type": "int_range", "min": 5, "max": 1})
    with pytest.raises(ValidationError, match=r"min 5\.0 is greater than max 1\.0"):
        FloatRange.model_validate({"type": "float_range", "min": 5, "max": 1})
