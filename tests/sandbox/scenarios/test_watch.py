"""`python -m sandbox watch`: one frame of the live view on a running sandbox with a written, a rejected and two
dead-lettered readings; the one line when the sandbox is down."""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest
from rich.console import Console

from catalog import load_catalog
from reach.influx import InfluxReader
from sandbox import cli
from sandbox.manager.services import Sandbox
from sandbox.scenarios.watch import DOWN_STATUS, render, run_watch, take
from tests.support.function_env import FunctionEnv
from tests.support.queue_letters import REJECTED_DEVICE, fill_queues, waiting


def test_a_frame_shows_arrivals_the_latest_sensors_and_the_rejections(function: FunctionEnv) -> None:
    endpoints = fill_queues(function)
    before = {name: waiting(url) for name, url in endpoints.queues.items()}
    catalog = load_catalog()
    snapshot = take(endpoints, catalog, boto3.client("sqs"), InfluxReader.of(endpoints))
    assert snapshot.written["pressure"] >= 1 and snapshot.rejected["pressure"] >= 1
    assert snapshot.reasons["bad_field"] >= 1
    assert snapshot.waiting == {"rejected": 1, "dead_letter": 2}
    console = Console(record=True, width=200)
    console.print(render(snapshot, catalog))
    frame = console.export_text()
    # The sample metadata's item for metakey 123456789 names where the sensor is: its display name, not its id.
    assert "Line 1 · Mixer 1 · inlet" in frame and "hPa" in frame
    assert REJECTED_DEVICE in frame and "bad_field" in frame and "pressure" in frame
    assert "dead letter: 2 waiting" in frame and "rejected: 1 waiting" in frame
    assert {name: waiting(url) for name, url in endpoints.queues.items()} == before  # peeked, not consumed


def test_once_on_the_running_sandbox_prints_a_frame(
    sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    code = cli.main(["watch", "--once", "--root", str(sandbox.root)])
    out = capsys.readouterr().out
    if code == 0:
        assert "Arriving" in out and "Latest value per sensor" in out
        live = Console(record=True, width=160)
        assert run_watch(sandbox, live, interval=0.01, keep_going=iter([True, True, False]).__next__) == 0
        assert live.export_text().count("Arriving") >= 1  # the live loop renders, then ends when told
    else:  # a service another test of the session stopped: said in one line
        assert code == DOWN_STATUS and out.count("\n") == 1 and "the sandbox is down" in out


def test_watch_on_a_stopped_sandbox_says_so_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["watch", "--root", str(tmp_path)]) == DOWN_STATUS
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and "the sandbox is down" in out and "python -m sandbox up" in out
