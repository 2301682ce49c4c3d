"""The authorizer's answer on Secrets Manager as moto's server plays it (the cloud itself cannot run here): the
callback's secret in both versions a rotation leaves valid, a wrong or missing header refused."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from webhook_authorizer import handler
from webhook_authorizer.secret import REFRESH_FLOOR_SECONDS, CallbackSecret

from tests.support.clock import Clock


@pytest.fixture
def secret_arn(aws_env: dict[str, str], moto_reset: None) -> str:
    arn: str = boto3.client("secretsmanager").create_secret(
        Name="test/webhook/callback", SecretString="first"
    )["ARN"]
    return arn


@pytest.fixture
def authorizer(secret_arn: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv(handler.SECRET_VARIABLE, secret_arn)
    handler.reset()
    yield
    handler.reset()


def event(authorization: str | None) -> dict[str, Any]:
    """A REQUEST authorizer's event, payload format 2.0 (the parts the authorizer reads)."""
    headers = {"content-type": "application/json"}
    if authorization is not None:
        headers["authorization"] = authorization
    return {"version": "2.0", "type": "REQUEST", "routeKey": "PUT /notifications", "headers": headers}


def test_the_current_secret_is_authorized_and_nothing_else(authorizer: None) -> None:
    assert handler.lambda_handler(event("Bearer first"), None) == {"isAuthorized": True}
    for wrong in ("Bearer wrong", "first", "bearer first", "Bearer first ", "", None):
        assert handler.lambda_handler(event(wrong), None) == {"isAuthorized": False}, wrong


def test_through_a_rotation_both_the_new_and_the_previous_secret_pass(secret_arn: str) -> None:
    client = boto3.client("secretsmanager")
    clock = Clock(1000.0)
    callback = CallbackSecret(client, secret_arn, clock)
    assert callback.matches("Bearer first")  # no AWSPREVIOUS yet: read without one
    client.put_secret_value(
        SecretId=secret_arn, SecretString="second"
    )  # AWSCURRENT second, AWSPREVIOUS first
    clock.now += REFRESH_FLOOR_SECONDS + 1
    assert callback.matches("Bearer second"), "a new secret is read at the first header that needs it"
    assert callback.matches("Bearer first"), "the service may send the previous one until it registers again"
    client.put_secret_value(SecretId=secret_arn, SecretString="third")
    clock.now += REFRESH_FLOOR_SECONDS + 1
    assert callback.matches("Bearer third") and callback.matches("Bearer second")
    assert not callback.matches("Bearer first"), "two rotations ago: no longer valid"


def test_the_webhook_function_accepts_the_same_two_versions(secret_arn: str) -> None:
    from webhook_to_influxdb.auth import MISSING, WRONG, SharedSecret

    shared = SharedSecret(boto3.client("secretsmanager"), secret_arn)
    shared.secret.clock = Clock(1000.0)
    boto3.client("secretsmanager").put_secret_value(SecretId=secret_arn, SecretString="second")
    assert shared.refusal({"Authorization": "Bearer second"}) is None
    assert shared.refusal({"authorization": "Bearer first"}) is None
    assert shared.refusal({"authorization": "Bearer zero"}) == WRONG
    assert shared.refusal({}) == MISSING
