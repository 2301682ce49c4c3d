"""choice: per message, fixed per device at random, or the device's own value by its number."""

from __future__ import annotations

import random

import pytest
from pydantic import ValidationError

from catalog.generators import Choice

VALUES = ["a", "b", "c"]


def test_per_message_it_uses_every_value() -> None:
    stream = Choice(type="choice", values=VALUES).stream(random.Random(1), lambda: 0.0)
    assert {stream() for _ in range(100)} == set(VALUES)


def test_static_is_one_value_per_device() -> None:
    spec = Choice(type="choice", values=VALUES, static=True)
    per_device = []
    for device in range(30):
        stream = spec.stream(random.Random(device), lambda: 0.0, device)
        per_device.append({stream() for _ in range(20)})
    assert all(len(values) == 1 for values in per_device)
    assert set().union(*per_device) == set(VALUES)  # devices differ


def test_by_device_gives_device_n_the_nth_value() -> None:
    spec = Choice(type="choice", values=VALUES, by_device=True)
    assert [spec.stream(random.Random(), lambda: 0.0, n)() for n in range(5)] == ["a", "b", "c", "a", "b"]


def test_empty_or_contradictory_choices_are_refused() -> None:
    with pytest.raises(ValidationError, match="at least 1 item"):
        Choice.model_validate({"type": "choice", "values": []})
    with pytest.raises(ValidationError, match="static and by_device exclude each other"):
        Choice.model_validate({"type": "choice", "values": VALUES, "static": True, "by_device": True})
