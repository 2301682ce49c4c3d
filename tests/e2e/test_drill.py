"""A short fault drill on the real services: the broker stopped, the rule runner killed with a backlog, and the
SQL sink's MariaDB stopped lose nothing and duplicate nothing, in any sink (`make drill` runs every fault,
longer, on either path)."""

from __future__ import annotations

from ingest_to_influxdb.kinds import SQL_SINK
from rich.console import Console

from sandbox.scenarios.drill import Drill, DrillOptions
from tests.support.pipeline import Pipeline


def test_a_short_drill_loses_and_duplicates_nothing(direct_pipeline: Pipeline) -> None:
    options = DrillOptions(
        fleet={"pressure": 4, "shelf": 1}, rate=4, duration=12, outage=3, drain_timeout=180
    )
    drill = Drill(direct_pipeline.sandbox, options, direct_pipeline.templates)
    for fault in ("mosquitto", "rule_runner_killed_with_a_backlog", "mariadb"):
        result = drill.round(fault, Console(quiet=True))
        assert result.sent > 0, fault
        assert (result.lost, result.duplicated, result.in_flight.total) == (0, 0, 0), (fault, result)
        assert result.written == result.sent, (fault, result)
        sql = next(account for account in result.sinks if account.sink == SQL_SINK)
        assert (sql.held, sql.missing, sql.lost) == (sql.expected, 0, 0), (fault, result)
        assert sql.expected == result.written_by_kind["pressure"] > 0, (fault, result)
