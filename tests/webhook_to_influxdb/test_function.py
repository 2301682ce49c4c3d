"""The webhook function against the real influxd and moto's server: deliveries land as enriched points, a
delivery without the header writes nothing, bad notifications are kept with their reason, and a delivery during
an InfluxDB outage is acknowledged only once it is on the dead letters, from which replay restores it once."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from webhook_to_influxdb import handler

from sandbox.manager.services import Sandbox
from tests.support.function_env import replay
from tests.support.webhook_env import Webhook, event_file


def since(started_ms: int) -> str:
    return f"time >= {started_ms}ms"


def now_ms() -> int:
    time.sleep(0.002)  # the readings of a delivery are timed when it arrives: keep the window strict
    return int(datetime.now(UTC).timestamp() * 1000)


def presses(webhook: Webhook, started_ms: int) -> list[dict[str, Any]]:
    return webhook.function.rows(f'SELECT * FROM button WHERE {since(started_ms)} GROUP BY "sensorID"')


def test_a_delivery_lands_as_enriched_points_of_its_kinds(webhook: Webhook) -> None:
    started = now_ms()
    status, summary = webhook.put(event_file("webhook_delivery.json"))
    assert status == 200
    assert summary == {
        "notifications": 6, "readings": 4, "written": 4, "rejected": 0, "dead_letters": 0, "unknown_resources": 1,
        "other": {"registrations": 1, "reg-updates": 1, "de-registrations": 1, "registrations-expired": 1,
                  "async-responses": 1},
    }  # fmt: skip
    rows = presses(webhook, started)
    assert sorted((r["sensorID"], r["presses"]) for r in rows) == [
        ("lwm2m/button-01", 12),  # an endpoint's sensor id is namespaced: it is never a thing name
        ("lwm2m/button-01", 13),
        ("lwm2m/button-02", 3),
    ]
    first = next(r for r in rows if r["presses"] == 12)
    assert (first["manufacturer"], first["family"], first["store"]) == (
        "Izuma Demo Kits",
        "buttons",
        "store-1",
    )
    [shelf] = webhook.function.rows(
        f"SELECT * FROM product_count WHERE {since(started)} AND \"sensorID\" = 'lwm2m/lwm2m-shelf-01'"
    )
    assert (shelf["count"], shelf["product_id"], shelf["store"]) == (17, "sku-tea-100g", "store-1")
    assert webhook.function.drain(webhook.function.rejected_url) == []


@pytest.mark.parametrize(
    "authorization", [None, "Bearer wrong", "Bearer ", "s3cr3t-callback-value-from-secrets-manager"]
)
def test_a_delivery_without_the_header_gets_401_and_writes_nothing(
    webhook: Webhook, authorization: str | None
) -> None:
    started = now_ms()
    status, body = webhook.put(event_file("webhook_delivery.json"), authorization=authorization)
    assert status == 401 and "authorization header" in body["error"]
    assert presses(webhook, started) == []
    assert webhook.function.drain(webhook.function.rejected_url) == []


def test_bad_notifications_are_kept_with_their_reason_and_unknown_paths_ignored(webhook: Webhook) -> None:
    started = now_ms()
    status, summary = webhook.put(event_file("webhook_bad_notifications.json"))
    assert status == 200
    assert (summary["written"], summary["rejected"], summary["unknown_resources"]) == (1, 5, 1)
    assert [(r["sensorID"], r["presses"]) for r in presses(webhook, started)] == [("lwm2m/button-04", 5)]
    kept = {body["code"]: body for body in webhook.function.drain(webhook.function.rejected_url)}
    assert set(kept) == {"bad_payload", "bad_value", "bad_identifier", "bad_field", "missing_field"}
    assert (
        "not base64" in kept["bad_payload"]["reason"] and kept["bad_payload"]["reading"]["ep"] == "button-01"
    )
    assert "'twelve' is not an integer" in kept["bad_value"]["reason"]
    assert kept["bad_field"]["reading"]["endpoint"] == "button-03"  # -4 presses: the core refuses the count
    assert (
        kept["missing_field"]["reason"] == "product_id is missing"
        and kept["missing_field"]["kind"] == "shelf"
    )


def test_the_services_check_and_a_body_that_is_no_delivery(webhook: Webhook) -> None:
    status, summary = webhook.put("")  # what the service sends when the callback is registered
    assert status == 200 and (summary["notifications"], summary["written"]) == (0, 0)
    status, body = webhook.put("{this is not json")
    assert status == 400 and "not JSON" in body["error"]
    [kept] = webhook.function.drain(webhook.function.rejected_url)
    assert kept["code"] == "not_json" and kept["reading"] == "{this is not json"


def test_an_outage_is_acknowledged_only_once_kept_and_replay_restores_it_once(
    webhook: Webhook, sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started = now_ms()
    sqs = boto3.client("sqs")
    sandbox.stop_service("influxdb")
    try:
        # Neither InfluxDB nor the dead-letter queue: 503, so the service sends the delivery again.
        gone = sqs.create_queue(QueueName="test-gone")["QueueUrl"]
        sqs.delete_queue(QueueUrl=gone)
        monkeypatch.setenv("DEAD_LETTER_QUEUE_URL", gone)
        handler.reset()
        status, body = webhook.put(event_file("webhook_delivery.json"))
        assert status == 503 and "send it again" in body["error"]
        # The service's retry, with the dead-letter queue back: kept, then acknowledged.
        monkeypatch.setenv("DEAD_LETTER_QUEUE_URL", webhook.function.dead_letter_url)
        handler.reset()
        status, summary = webhook.put(event_file("webhook_delivery.json"))
        assert status == 200 and (summary["written"], summary["dead_letters"]) == (0, 4)
    finally:
        sandbox.start_service("influxdb")
    assert presses(webhook, started) == []
    result = replay(webhook.function, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    rows = presses(webhook, started)
    assert sorted((r["sensorID"], r["presses"], r["manufacturer"]) for r in rows) == [
        ("lwm2m/button-01", 12, "Izuma Demo Kits"), ("lwm2m/button-01", 13, "Izuma Demo Kits"),
        ("lwm2m/button-02", 3, "Izuma Demo Kits"),
    ]  # fmt: skip
    assert replay(webhook.function, tmp_path).returncode == 0 and len(presses(webhook, started)) == 3
    assert webhook.function.drain(webhook.function.rejected_url) == []
