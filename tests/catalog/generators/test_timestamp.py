"""timestamp: the device's clock in the three formats devices use."""

from __future__ import annotations

import random

import pytest
from pydantic import ValidationError

from catalog.generators import Timestamp

NOW = 1_790_000_000.1234


@pytest.mark.parametrize(
    ("form", "expected"),
    [("iso_ms", "2026-09-21T14:13:20.123Z"), ("epoch_s", 1_790_000_000), ("epoch_ms", 1_790_000_000_123)],
)
def test_each_format(form: str, expected: object) -> None:
    stream = Timestamp.model_validate({"type": "timestamp", "format": form}).stream(
        random.Random(), lambda: NOW
    )
    assert stream() == expected


def test_it_follows_the_clock() -> None:
    now = [NOW]
    stream = Timestamp(type="timestamp", format="epoch_ms").stream(random.Random(), lambda: now[0])
    first = stream()
    now[0] += 1.5
    assert stream() - first == 1500


def test_an_unknown_format_is_refused() -> None:
    with pytest.raises(ValidationError, match="'iso_ms', 'epoch_s' or 'epoch_ms'"):
        Timestamp.model_validate({"type": "timestamp", "format": "rfc2822"})
