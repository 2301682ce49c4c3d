"""The demo's fleet and its table of where readings went cover every kind of the catalog (pure)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from catalog import load_catalog
from catalog.loader import DEFAULT_FOLDER
from sandbox.cli import devices_per_kind
from sandbox.manager.processes import SandboxError
from sandbox.scenarios.accounting import Accounting, InFlight
from sandbox.scenarios.demo import DemoOptions, summary_table, throughput_line
from tests.support.rich_table import printed_rows


def test_every_kind_that_can_be_simulated_is_in_the_fleet(tmp_path: Path) -> None:
    for path in DEFAULT_FOLDER.glob("*.yaml"):
        (tmp_path / path.name).write_text(path.read_text())
    extra = yaml.safe_load((DEFAULT_FOLDER / "pressure.yaml").read_text())
    extra.update(name="boiler", topic="/boiler", measurement="boiler")
    del extra["dashboard"]
    (tmp_path / "boiler.yaml").write_text(yaml.safe_dump(extra))
    assert DemoOptions().fleet(load_catalog(tmp_path)) == {"boiler": 20, "pressure": 20, "shelf": 5}
    assert DemoOptions({"shelf": 0}).fleet(load_catalog(tmp_path))["shelf"] == 0


def test_devices_are_given_per_kind_of_the_catalog() -> None:
    assert devices_per_kind(["pressure=3", "shelf=0"]) == {"pressure": 3, "shelf": 0}
    with pytest.raises(SandboxError, match="a kind of the catalog \\(button, pressure, shelf\\)"):
        devices_per_kind(["boiler=3"])


def test_the_table_shows_every_kind() -> None:
    table = summary_table(
        Accounting(sent=30, written=29, rejected=1, dead_letters=0),
        {"received": 30},
        sent={"pressure": 20, "shelf": 10},
        written={"pressure": 19, "shelf": 10},
    )
    rows = printed_rows(table, width=200)
    assert rows["written to InfluxDB (counted by a query)"] == ["29", "19", "10"]
    assert rows["sent (acknowledged by the broker)"] == ["30", "20", "10"]
    assert rows["lost = sent - written - rejected - dead letters"] == ["0", "", ""]


def test_the_summary_gives_readings_per_second_through_the_pipeline_and_the_lag_at_the_end() -> None:
    done = Accounting(sent=300, written=290, rejected=10, dead_letters=0)
    line = throughput_line(done, started=100.0, published=130.0, drained=132.5)
    assert line == (
        "through the pipeline: 300 readings in 32.5 s = 9 readings/s; lag at the end: 2.5 s after the last publish"
    )
    held = Accounting(sent=300, written=200, rejected=0, dead_letters=0, in_flight=InFlight(broker=100))
    assert "more than the wait (100 in flight)" in throughput_line(held, 100.0, 130.0, None)
