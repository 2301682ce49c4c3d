"""The local webhook gateway plays API Gateway's HTTP API: the route and the throttling the template gives, the
payload format 2.0 event, the function's answer, 429 beyond the rate, 500 when the function raises, 404 else.
The function here is a recording stand-in, so each behaviour of the gateway itself can be seen."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from local_aws.apigateway.http_api import Authorizer, Route, TokenBucket, WebhookGateway
from local_aws.lambda_.workers import FunctionSpec


def put(url: str, body: bytes) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, method="PUT", headers={"Authorization": "Bearer x"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status), response.read()
    except urllib.error.HTTPError as error:
        return int(error.code), error.read()


@pytest.fixture
def gateway() -> Iterator[tuple[WebhookGateway, list[dict[str, Any]]]]:
    events: list[dict[str, Any]] = []

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        events.append(event)
        if event["body"] == "boom":
            raise RuntimeError("the function failed")
        assert context.get_remaining_time_in_millis() > 0
        return {"statusCode": 202, "headers": {"x-seen": "yes"}, "body": json.dumps({"ok": True})}

    function = FunctionSpec("test-webhook", "arn:x", "tests.handler", 128, 10)
    served = WebhookGateway(Route("PUT", "/notifications", function, handler, rate=0.001, burst=3)).start()
    try:
        yield served, events
    finally:
        served.stop()


def test_the_route_gets_api_gateways_event_and_the_functions_answer(
    gateway: tuple[WebhookGateway, list[dict[str, Any]]],
) -> None:
    served, events = gateway
    assert put(served.url, b'{"notifications": []}') == (202, b'{"ok": true}')
    [event] = events
    assert (event["version"], event["routeKey"], event["rawPath"]) == (
        "2.0",
        "PUT /notifications",
        "/notifications",
    )
    assert event["headers"]["authorization"] == "Bearer x" and event["isBase64Encoded"] is False
    assert event["requestContext"]["http"]["method"] == "PUT"
    assert put(served.url, b"\xff\xfe")[0] == 202  # not UTF-8: base64, as API Gateway sends binary
    assert events[1]["isBase64Encoded"] is True and base64.b64decode(events[1]["body"]) == b"\xff\xfe"
    assert put(served.url, b"boom")[0] == 500  # a function error: API Gateway's 500
    assert put(served.url, b"{}")[0] == 429  # the burst of 3 is spent and the rate refills almost nothing
    assert put(served.url.replace("notifications", "elsewhere"), b"{}")[0] == 404
    assert served.stats.snapshot()["statuses"] == {"202": 2, "500": 1, "429": 1, "404": 1}


def test_the_bucket_refills_at_its_rate() -> None:
    bucket = TokenBucket(rate=1000.0, burst=1)
    assert bucket.take()
    bucket.tokens = 0.0
    bucket.updated -= 0.01  # 10 ms later: 10 tokens' worth, capped at the burst
    assert bucket.take() and not bucket.take()


def test_a_body_over_the_limits_is_refused_with_413_before_the_function(
    gateway: tuple[WebhookGateway, list[dict[str, Any]]],
) -> None:
    served, events = gateway
    assert put(served.url, b"x" * (10 * 1024 * 1024 + 1))[0] == 413  # over an HTTP API's 10 MB
    assert put(served.url, b"\\" * (4 * 1024 * 1024))[0] == 413  # 4 MB that the event escapes to 8 MB
    assert put(served.url, b"[" * 5000 + b"]" * 5000)[0] == 202  # any depth: the body reaches it as text
    assert len(events) == 1 and served.stats.snapshot()["statuses"] == {"413": 2, "202": 1}


def test_the_authorizer_refuses_before_the_function_runs_and_caches_its_answer() -> None:
    """A flood of forged headers: 401 without the header, 403 with a wrong one, the function never invoked; the
    authorizer runs once per distinct header within its TTL, as API Gateway's cache does."""
    calls: list[dict[str, Any]] = []
    decided: list[str] = []

    def function(event: dict[str, Any], context: Any) -> dict[str, Any]:
        calls.append(event)
        return {"statusCode": 202, "body": "{}"}

    def authorize(event: dict[str, Any], context: Any) -> dict[str, Any]:
        assert event["type"] == "REQUEST" and event["routeKey"] == "PUT /notifications"
        decided.append(event["identitySource"][0])
        return {"isAuthorized": event["identitySource"][0] == "Bearer right"}

    spec = FunctionSpec("test-webhook", "arn:x", "tests.handler", 128, 10)
    authorizer = Authorizer(spec, authorize, "authorization", ttl_seconds=300)
    route = Route("PUT", "/notifications", spec, function, rate=1000, burst=1000, authorizer=authorizer)
    served = WebhookGateway(route).start()
    try:

        def send(header: str | None) -> int:
            headers = {"Authorization": header} if header else {}
            request = urllib.request.Request(served.url, data=b"{}", method="PUT", headers=headers)
            try:
                with urllib.request.urlopen(request, timeout=10) as response:
                    return int(response.status)
            except urllib.error.HTTPError as error:
                return int(error.code)

        assert send(None) == 401
        assert [send(f"Bearer forged-{i % 5}") for i in range(20)] == [403] * 20
        assert calls == [] and len(decided) == 5  # five distinct forged headers, each decided once
        assert send("Bearer right") == 202 and send("Bearer right") == 202
        assert len(calls) == 2 and decided.count("Bearer right") == 1
    finally:
        served.stop()
