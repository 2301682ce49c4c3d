"""The metrics documents: printed only when they say something, as few as the dimensions allow, and the bytes a
direct invocation prints for a normal reading, a rejected one and a batch."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator

import pytest
from ingest_to_influxdb import handler
from ingest_to_influxdb.emf import HOLD_VALUES, EmbeddedMetrics
from ingest_to_influxdb.ingestor import BatchResult

from tests.support.clock import Clock
from tests.support.emf import extracted

NAMESPACE = "IoTTelemetry"


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def fresh_metrics(clock: Clock, monkeypatch: pytest.MonkeyPatch) -> Iterator[EmbeddedMetrics]:
    """The handler's metrics as in a new container, on a clock the test moves."""
    metrics = EmbeddedMetrics(NAMESPACE, "ingest", clock=clock)
    monkeypatch.setattr(handler, "metrics", metrics)
    yield metrics


def normal(kind: str = "pressure") -> BatchResult:
    return BatchResult(written=Counter({kind: 1}), write_seconds=0.0012)


def rejected(reason: str = "out_of_range") -> BatchResult:
    return BatchResult(rejected=Counter({reason: 1}))


def invocation(result: BatchResult, capsys: pytest.CaptureFixture[str]) -> str:
    """What one invocation prints for `result`, as the handler publishes and flushes it."""
    handler.publish_metrics(result)
    handler.metrics.flush()
    return capsys.readouterr().out


def test_a_normal_direct_reading_prints_nothing_until_the_container_s_documents_are_due(
    fresh_metrics: EmbeddedMetrics, clock: Clock, capsys: pytest.CaptureFixture[str]
) -> None:
    printed = [invocation(normal(), capsys) for _ in range(HOLD_VALUES - 1)]
    assert printed == [""] * (HOLD_VALUES - 1), "no document for a reading that was simply written"
    last = invocation(normal(), capsys)  # the 100th latency sample: one document for the 100 invocations
    assert last.count("\n") == 1
    assert sorted(
        (m, d, v if isinstance(v, int) else len(v)) for _, m, d, v in extracted(last.splitlines())
    ) == [
        ("ReadingsWritten", {"service": "ingest", "kind": "pressure"}, HOLD_VALUES),
        ("WriteLatency", {"service": "ingest"}, HOLD_VALUES),
    ]
    per_invocation = len(last.encode()) / HOLD_VALUES
    assert per_invocation < 15, f"{per_invocation:.1f} bytes per normal direct invocation"


def test_held_counts_go_out_after_a_minute_even_when_readings_are_few(
    fresh_metrics: EmbeddedMetrics, clock: Clock, capsys: pytest.CaptureFixture[str]
) -> None:
    assert invocation(normal(), capsys) == ""
    clock.now += 61
    lines = invocation(normal("shelf"), capsys).splitlines()
    assert {(m, d.get("kind"), v if isinstance(v, int) else len(v)) for _, m, d, v in extracted(lines)} == {
        ("ReadingsWritten", "pressure", 1),
        ("ReadingsWritten", "shelf", 1),  # another value of `kind`: a second document
        ("WriteLatency", None, 2),
    }
    assert len(lines) == 2


def test_a_rejected_reading_prints_one_small_document_with_its_reason(
    fresh_metrics: EmbeddedMetrics, capsys: pytest.CaptureFixture[str]
) -> None:
    out = invocation(rejected(), capsys)
    assert extracted(out.splitlines()) == [
        (NAMESPACE, "ReadingsRejected", {"service": "ingest", "reason": "out_of_range"}, 1)
    ]
    assert len(out.encode()) < 300, out  # before: 679 bytes, its zeros and a document per dimension


def test_a_batch_prints_one_document_for_all_its_metrics_beside_extra_dimension_values(
    fresh_metrics: EmbeddedMetrics, capsys: pytest.CaptureFixture[str]
) -> None:
    result = BatchResult(
        failed=["m7"],
        written=Counter({"pressure": 90}),
        rejected=Counter({"out_of_range": 3, "not_json": 2}),
        metadata_misses=4,
        dropped_attributes=Counter({"too_long": 1}),
        write_seconds=0.02,
    )
    lines = invocation(result, capsys).splitlines()
    assert len(lines) == 2, "two values of `reason`: two documents, every other metric in the first"
    now = {(m, d.get("reason")): v for _, m, d, v in extracted(lines)}
    assert now == {
        ("ReadingsRejected", "not_json"): 2,
        ("ReadingsRejected", "out_of_range"): 3,
        ("ReadingsFailed", None): 1,
        ("MetadataMisses", None): 4,
        ("MetadataAttributesDropped", None): 1,
    }
    assert sum(len(line) + 1 for line in lines) < 800


def test_nothing_to_say_prints_nothing(
    fresh_metrics: EmbeddedMetrics, capsys: pytest.CaptureFixture[str]
) -> None:
    assert invocation(BatchResult(), capsys) == ""
    assert fresh_metrics.flush(everything=True) == []


def test_every_document_carries_the_function_s_log_level(
    fresh_metrics: EmbeddedMetrics, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_LAMBDA_LOG_LEVEL", "ERROR")
    (line,) = invocation(rejected(), capsys).splitlines()
    assert json.loads(line)["level"] == "ERROR"
    monkeypatch.delenv("AWS_LAMBDA_LOG_LEVEL")
    (line,) = invocation(rejected(), capsys).splitlines()
    assert json.loads(line)["level"] == "INFO", "Lambda's default application level"
