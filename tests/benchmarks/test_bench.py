"""`make bench`'s output: the JSON's shape from a real `--quick` run (no speed asserted), and the end-to-end
arithmetic (latency off the cumulative curves, sustained or not) on curves made by hand."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import compiled_share, end_to_end
from benchmarks.end_to_end import Curves, Step, _window_rates

ROOT = Path(__file__).resolve().parent.parent.parent
SPEED = {"median", "min", "max"}
CASE_KEYS = {
    "name", "path", "per_request", "readings_per_run", "runs", "readings_per_second", "latency_ms",
    "cpu_seconds_per_1000", "seconds_per_invocation", "log_bytes_per_invocation", "function_log_bytes",
    "lambda_log_bytes", "ceiling", "vs_baseline", "vs_ceiling",
}  # fmt: skip


@pytest.mark.services  # the benchmark starts its own influxd and moto
def test_quick_run_writes_every_handler_case_with_its_ratios(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--no-end-to-end", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    results = json.loads(out.read_text())
    assert {"cores", "python", "influxd", "mosquitto"} <= set(results["machine"])
    assert results["machine"]["cores"] >= 1 and results["machine"]["influxd"]
    cases = {case["name"]: case for case in results["cases"]}
    assert [c["path"] for c in results["cases"]].count("queued") == 3
    for case in results["cases"]:
        assert set(case) == CASE_KEYS
        assert set(case["readings_per_second"]) == SPEED
        assert case["runs"] >= 3
        speed = case["readings_per_second"]
        assert 0 < speed["min"] <= speed["median"] <= speed["max"]
        assert case["cpu_seconds_per_1000"] >= 0
        if case["path"] in ("direct", "queued"):
            assert case["vs_baseline"] > 0 and case["vs_ceiling"] > 0
            assert case["ceiling"] in cases
    assert {t["target"] for t in results["targets"]} >= {"direct / single-point ceiling"}
    assert results["end_to_end"] == []
    store = results["store_ceiling"]  # the ECS store's ceiling per core of influxd CPU
    assert store["points_per_request"] == 5_000 and store["runs"] >= 3 and store["fields_per_point"] >= 1
    assert store["points_per_core_second"] > 0 and store["influxd_cpu_seconds_per_1000"] > 0
    assert store["single_point_per_core_second"] > 0
    compiled = results["compiled_checks"]  # the demo's valid readings the compiled checks decided alone
    assert 0 < compiled["compiled"] <= compiled["valid"] <= compiled["readings"]
    share = next(t for t in results["targets"] if t["target"] == compiled["name"])
    assert share["measured"] == compiled["share"] and share["wanted"] == 0.99
    assert results["cold_start"]["handler_import_ms"]["median"] > 0


def test_latency_is_the_distance_between_the_sent_and_written_curves() -> None:
    curves = Curves()
    for second in range(11):  # 100 readings a second for 10 s, each written 2 s after it was sent
        curves.sent.append((float(second), min(second, 10) * 100))
        curves.written.append((float(second), max(0, second - 2) * 100))
    curves.written += [(11.0, 900), (12.0, 1000)]
    latency = curves.latency_ms(1000)
    assert latency is not None
    assert latency["p50"] == pytest.approx(2000.0) and latency["p99"] == pytest.approx(2000.0)
    assert _window_rates(curves, 10.0, 2) == [60.0, 100.0]  # written per second in 0-5 s and 5-10 s


def test_a_step_is_sustained_only_with_nothing_lost_and_a_short_lag() -> None:
    ok = Step(offered=100, seconds=10, acknowledged=1000, written=990, rejected=10, lag_at_end_seconds=1.0)
    assert ok.lost == 0 and ok.sustained
    assert set(ok.as_dict()["readings_per_second"]) == SPEED
    assert not Step(offered=100, seconds=10, acknowledged=1000, written=999, lag_at_end_seconds=1.0).sustained
    assert not Step(
        offered=100, seconds=10, acknowledged=1000, written=1000, lag_at_end_seconds=30.0
    ).sustained
    assert not Step(
        offered=100, seconds=10, acknowledged=1000, written=1000, lag_at_end_seconds=None
    ).sustained


@pytest.mark.services  # deploys the local pipeline and drives it with the simulator
def test_an_end_to_end_step_accounts_for_every_reading_and_the_cpu_of_each_part(tmp_path: Path) -> None:
    result = end_to_end.run_path(
        tmp_path, "queued", end_to_end.Plan(rates=(40,), seconds=3.0), say=lambda _: None
    )
    (step,) = result["steps"]
    assert step["acknowledged"] > 0 and step["written"] == step["acknowledged"] and step["lost"] == 0
    parts = step["cpu_by_part_per_1000"]
    assert {end_to_end.SIMULATOR, "rule runner", end_to_end.FUNCTION, "InfluxDB", "broker"} <= set(parts)
    assert all(seconds >= 0 for seconds in parts.values())
    assert step["cpu_seconds_per_1000"] == pytest.approx(
        parts["rule runner"] + parts[end_to_end.FUNCTION], abs=0.002
    )


def test_the_compiled_checks_decide_the_demo_s_readings_alone() -> None:
    """Issue 25: at least 99 % of the demo's valid readings (MQTT devices as SQS bodies and as direct events,
    the webhook's readings) are decided by the compiled checks without the Python checks."""
    measured = compiled_share.measure()
    assert measured["valid"] == measured["readings"] > 1_000  # the simulator's readings are all valid
    assert measured["share"] >= 0.99, measured
