"""`python -m sandbox logs [--follow] [SERVICE]`: every service's log, its last lines, new lines as they come,
and an unknown service refused in one line that lists the known ones."""

from __future__ import annotations

from pathlib import Path

import pytest

from sandbox import cli
from sandbox.manager import logs
from sandbox.manager.services import SERVICE_NAMES, Sandbox


def test_logs_shows_the_last_lines_of_every_service(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sandbox = Sandbox(tmp_path)
    sandbox.log_file("influxdb").parent.mkdir(parents=True)
    sandbox.log_file("influxdb").write_text("".join(f"line {i}\n" for i in range(30)))
    assert cli.main(["logs", "--root", str(tmp_path), "--lines", "3"]) == 0
    out = capsys.readouterr().out
    assert "== influxdb" in out and "line 27\nline 28\nline 29\n" in out and "line 26" not in out
    assert all(name in out for name in SERVICE_NAMES)  # those without a log yet say so


def test_an_unknown_service_is_one_line_naming_the_known_ones(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["logs", "--root", str(tmp_path), "nope"]) == 1
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and "'nope'" in out and all(name in out for name in SERVICE_NAMES)


def test_follow_prints_what_is_added_and_rereads_a_truncated_log(tmp_path: Path) -> None:
    sandbox = Sandbox(tmp_path)
    path = sandbox.log_file("moto")
    path.parent.mkdir(parents=True)
    path.write_text("old\n")
    written: list[str] = []
    steps = iter([("a", "new 1\nhalf"), ("a", " done\n"), ("w", "after truncation\n")])

    def keep_going() -> bool:
        step = next(steps, None)
        if step is not None:
            with path.open(step[0]) as log:
                log.write(step[1])
        return step is not None

    logs.follow(sandbox, ["moto", "influxdb"], written.append, keep_going, poll_seconds=0)
    assert written == ["moto     | new 1", "moto     | half done", "moto     | after truncation"]
