"""The webhook function in this process, with the ingest function's surroundings (real influxd, moto's server).

Deliveries are the API Gateway events (payload format 2.0) of tests/events/, carrying the fixtures' bodies.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from webhook_to_influxdb import handler

from catalog import load_catalog
from catalog.lwm2m import webhook_mapping_json
from tests.support.function_env import Context, FunctionEnv, function

__all__ = ["function"]

EVENTS = Path(__file__).resolve().parents[1] / "events"  # tests/events
CALLBACK_SECRET = "s3cr3t-callback-value-from-secrets-manager"


def event_file(name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((EVENTS / name).read_text())
    return document


@dataclass
class Webhook:
    function: FunctionEnv

    def put(
        self, body: object, authorization: str | None = f"Bearer {CALLBACK_SECRET}"
    ) -> tuple[int, dict[str, Any]]:
        event = event_file("webhook_api_gateway_event.json")
        headers = {k: v for k, v in event["headers"].items() if k != "authorization"}
        if authorization is not None:
            headers["authorization"] = authorization
        event = {**event, "headers": headers, "body": body if isinstance(body, str) else json.dumps(body)}
        response = handler.lambda_handler(event, Context())
        return int(response["statusCode"]), json.loads(response["body"])


@pytest.fixture
def webhook(function: FunctionEnv, monkeypatch: pytest.MonkeyPatch) -> Iterator[Webhook]:
    secret_arn = boto3.client("secretsmanager").create_secret(
        Name="test/webhook/callback", SecretString=CALLBACK_SECRET
    )["ARN"]
    monkeypatch.setenv("WEBHOOK_SECRET_ARN", secret_arn)
    monkeypatch.setenv("DEAD_LETTER_QUEUE_URL", function.dead_letter_url)
    monkeypatch.setenv("LWM2M_MAPPING", webhook_mapping_json(load_catalog()))
    handler.reset()
    try:
        yield Webhook(function)
    finally:
        handler.reset()
