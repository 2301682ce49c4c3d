"""A short fault drill on the real services: the broker stopped, and the rule runner killed with a backlog,
lose nothing and duplicate nothing (`make drill` runs every fault, longer, on either path)."""

from __future__ import annotations

from rich.console import Console

from sandbox.scenarios.drill import Drill, DrillOptions
from tests.support.pipeline import Pipeline


def test_a_short_drill_loses_and_duplicates_nothing(direct_pipeline: Pipeline) -> None:
    options = DrillOptions(
        fleet={"pressure": 4, "shelf": 1}, rate=4, duration=12, outage=3, drain_timeout=180
    )
    drill = Drill(direct_pipeline.sandbox, options, direct_pipeline.templates)
    for fault in ("mosquitto", "rule_runner_killed_with_a_backlog"):
        result = drill.round(fault, Console(quiet=True))
        assert result.sent > 0, fault
        assert (result.lost, result.duplicated, result.in_flight.total) == (0, 0, 0), (fault, result)
        assert result.written == result.sent, (fault, result)
