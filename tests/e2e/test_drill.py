"""A short fault drill on the real services: the broker stopped, the rule runner killed with a backlog, and the
SQL sink's MariaDB stopped lose nothing and duplicate nothing, in any sink (`make drill` runs every fault,
longer, on either path)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from ingest_to_influxdb.constants import HEALTH_MEASUREMENT
from ingest_to_influxdb.kinds import SQL_SINK
from rich.console import Console

from sandbox.scenarios.drill import Drill, DrillOptions
from tests.support.pipeline import Pipeline


def test_a_short_drill_loses_and_duplicates_nothing(direct_pipeline: Pipeline) -> None:
    options = DrillOptions(
        fleet={"pressure": 4, "shelf": 1}, rate=4, duration=12, outage=3, drain_timeout=180
    )
    # MariaDB stays down longer than the SQL sink's retries within an invocation (about 8 s), so readings miss it.
    rounds = {"mosquitto": options, "rule_runner_killed_with_a_backlog": options,
              "mariadb": replace(options, duration=24, outage=12)}  # fmt: skip
    for fault, round_options in rounds.items():
        since = datetime.now(UTC)
        drill = Drill(direct_pipeline.sandbox, round_options, direct_pipeline.templates)
        result = drill.round(fault, Console(quiet=True))
        assert result.sent > 0, fault
        assert (result.lost, result.duplicated, result.in_flight.total) == (0, 0, 0), (fault, result)
        assert result.written == result.sent, (fault, result)
        sql = next(account for account in result.sinks if account.sink == SQL_SINK)
        assert (sql.held, sql.missing, sql.lost) == (sql.expected, 0, 0), (fault, result)
        assert sql.expected == result.written_by_kind["pressure"] > 0, (fault, result)
    # The MariaDB outage left readings missing in SQL only (ingest_health's sink_missing outcome, counted by the
    # function), which the replay then wrote there.
    missed = direct_pipeline.query(
        f"SELECT sum(\"count\") FROM {HEALTH_MEASUREMENT} WHERE outcome = 'sink_missing' AND reason = '{SQL_SINK}' "
        f"AND time >= '{since.isoformat()}'"
    )
    assert missed and missed[0]["values"][0][1] > 0
