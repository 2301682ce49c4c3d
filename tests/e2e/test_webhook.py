"""Simulated device-management service -> the sandbox's webhook gateway (played from the webhook template) ->
webhook function -> ingest core -> InfluxDB: every acknowledged reading arrives once, enriched; a delivery
without the header is refused at the door."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta

from sandbox.manager.deployment import webhook_gateway_stats
from sandbox.scenarios.accounting import count_points, queue_depth
from simulator.webhook import WebhookFleet, local_target
from tests.support.pipeline import Pipeline

BUTTONS, SHELVES, DELIVERIES = 5, 2, 4


def put(url: str, body: bytes, headers: dict[str, str]) -> int:
    request = urllib.request.Request(url, data=body, method="PUT", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def test_webhook_deliveries_arrive_once_enriched_and_a_stranger_is_refused(direct_pipeline: Pipeline) -> None:
    pipeline = direct_pipeline
    queues = pipeline.endpoints.queues
    before = {name: queue_depth(queues[name]) for name in ("rejected", "dead_letter")}
    since = datetime.now(UTC) - timedelta(milliseconds=1)  # readings are timed when their delivery arrives
    fleet = WebhookFleet(local_target(pipeline.sandbox.endpoints_path), BUTTONS, SHELVES, seed=7)
    counters = fleet.run(rate=20, count=DELIVERIES)
    assert (counters.readings_sent, counters.readings_failed, counters.retries) == (
        (BUTTONS + SHELVES) * DELIVERIES, 0, 0,
    )  # fmt: skip

    until = datetime.now(UTC) + timedelta(seconds=1)
    counts = count_points(pipeline.endpoints, since, until)
    assert (counts["button"], counts["product_count"]) == (BUTTONS * DELIVERIES, SHELVES * DELIVERIES)
    series = pipeline.query(
        f"SELECT count(\"presses\") FROM button WHERE time >= '{since.isoformat()}' GROUP BY sensorID, manufacturer"
    )
    assert sorted(s["tags"]["sensorID"] for s in series) == [
        f"lwm2m/button-0{i}" for i in range(1, BUTTONS + 1)
    ]
    assert all(s["tags"]["manufacturer"] == "Izuma Demo Kits" for s in series)
    assert queue_depth(queues["rejected"]) == before["rejected"]
    assert queue_depth(queues["dead_letter"]) == before["dead_letter"]

    webhook = pipeline.endpoints.webhook
    assert webhook is not None
    body = json.dumps(fleet.delivery()[0]).encode()
    stranger = datetime.now(UTC)
    before_forged = webhook_gateway_stats(pipeline.sandbox).get("authorizer_invocations", 0)
    # As on AWS: the authorizer refuses a wrong header (403) and API Gateway a missing one (401), and the webhook
    # function runs for neither (its own 401 would count as a 401 from the function, with a log line).
    assert [put(webhook.url, body, {"Authorization": f"Bearer guess-{i}"}) for i in range(5)] == [403] * 5
    assert put(webhook.url, body, {}) == 401
    assert put(webhook.url.replace("/notifications", "/other"), body, {}) == 404
    time.sleep(0.5)
    assert count_points(pipeline.endpoints, stranger, datetime.now(UTC) + timedelta(seconds=1))["button"] == 0
    stats = webhook_gateway_stats(pipeline.sandbox)
    assert stats["statuses"]["200"] >= DELIVERIES and stats["statuses"]["401"] == 1
    assert stats["statuses"]["403"] == 5 and stats["authorizer_invocations"] == before_forged + 5
