"""The headline figure: `lost` is defined once, never clamped, and a publish whose PUBACK the broker never sent is
neither sent nor lost: it may have arrived."""

from __future__ import annotations

from sandbox.scenarios.accounting import Accounting, lost


def test_lost_is_what_acknowledged_readings_lack_and_below_zero_a_double_count() -> None:
    assert lost(240, 230, 5, 3, 2) == 0
    assert lost(240, 229, 5, 3, 2) == 1
    assert lost(240, 231, 5, 3, 2) == -1  # one outcome more than readings: reported, not shown as 0


def test_a_reading_the_device_gave_up_on_may_arrive_without_being_a_double_count() -> None:
    arrived = Accounting(sent=240, written=241, rejected=0, dead_letters=0, unacknowledged=1)
    assert (arrived.lost, arrived.duplicated) == (0, 0)
    twice = Accounting(sent=240, written=242, rejected=0, dead_letters=0, unacknowledged=1)
    assert (twice.lost, twice.duplicated) == (-1, 1)
    missing = Accounting(sent=240, written=239, rejected=0, dead_letters=0, unacknowledged=1)
    assert (missing.lost, missing.duplicated) == (1, 0)
