"""`python -m grafana.render` against the real influxd: one plot per panel, in a PNG."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from catalog import load_catalog
from grafana import model, render, sql_charts
from reach.endpoints import Endpoints, endpoints_file
from tests.support import readings


@pytest.fixture(scope="module")
def start(endpoints: Endpoints) -> int:
    return readings.ensure_written(endpoints)


def test_render_draws_one_plot_per_panel(endpoints: Endpoints, start: int, tmp_path: Path) -> None:
    out = tmp_path / "dashboards.png"
    now = datetime.fromtimestamp((start + 10 * readings.MINUTE_MS) / 1000, UTC)
    data = render.render(endpoints, out, "30m", now=now)
    panels = [(d.title, p.title) for d in model.load() for p in d.panels]
    charts = sql_charts.dashboard(load_catalog())  # the SQL sink's hourly charts, last
    assert charts is not None
    panels += [(charts.title, p.title) for p in charts.panels]
    assert [(d.dashboard, d.panel.title) for d in data] == panels
    assert all(d.lines for d in data if d.panel.datasource_type == "influxdb"), "a panel drew no data"
    dead = next(d for d in data if d.panel.datasource_type == "cloudwatch")
    assert dead.lines == [] and dead.note.startswith(
        "no data locally"
    )  # no dead-letter queue in this sandbox
    import matplotlib.image  # here, not at collection: `make test-fast` collects this module too

    image = matplotlib.image.imread(out)
    assert image.shape[0] > 1000 and image.shape[1] > 1000


def test_cli_writes_the_png_and_explains_a_missing_sandbox(endpoints: Endpoints, tmp_path: Path) -> None:
    path = endpoints_file(tmp_path)
    endpoints.save(path)
    out = tmp_path / "out" / "d.png"
    assert render.main(["--endpoints", str(path), "--out", str(out), "--range", "15m"]) == 0
    assert out.stat().st_size > 0
    assert render.main(["--endpoints", str(tmp_path / "missing.json"), "--out", str(out)]) == 1
    assert render.main(["--endpoints", str(path), "--out", str(out), "--range", "an hour"]) == 1


def test_dead_letter_depth_is_read_from_the_local_queue(
    endpoints: Endpoints, aws_env: dict[str, str], moto_reset: None
) -> None:
    import boto3

    sqs = boto3.client("sqs")
    url = sqs.create_queue(QueueName="demo-ingest-dead-letters")["QueueUrl"]
    for i in range(3):
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"n": i}))
    local = endpoints.model_copy(update={"queues": {"dead_letter": url}})
    assert render.local_dead_letters(local) == (3, "now, local dead-letter queue (SQS in moto)")
    gone = endpoints.model_copy(update={"queues": {"dead_letter": url + "-missing"}})
    depth, note = render.local_dead_letters(gone)
    assert depth is None and note.startswith("no data locally")
