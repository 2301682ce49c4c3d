"""The webhook API's Lambda authorizer (REQUEST type, payload format 2.0, simple responses).

API Gateway calls it only for a request that has the identity source, the Authorization header (without it, API
Gateway answers 401 itself), and caches its answer per header value for the authorizer's TTL: a delivery with
the right header is let through without calling it again, and the webhook function never runs for one without.
It runs outside the VPC and needs nothing but Secrets Manager.
"""

from __future__ import annotations

import json
import os
from typing import Any

import boto3
from ingest_to_influxdb import environment

from webhook_authorizer.secret import CallbackSecret, SecretUnreadable, header_value

SECRET_VARIABLE = environment.WEBHOOK_SECRET_ARN
REFUSED = "refused a delivery whose authorization header is not the callback's secret"
_secret: CallbackSecret | None = None


def secret() -> CallbackSecret:
    global _secret
    if _secret is None:
        arn = os.environ.get(SECRET_VARIABLE, "").strip()
        if not arn:
            raise RuntimeError(
                f"the environment variable {SECRET_VARIABLE} is not set: the webhook stack sets it"
            )
        _secret = CallbackSecret(boto3.client("secretsmanager"), arn)
    return _secret


def reset() -> None:
    """Forget the container's state, as a new container would (tests)."""
    global _secret
    _secret = None


def decide(callback: CallbackSecret, event: dict[str, Any]) -> dict[str, bool]:
    given = header_value(event.get("headers"))
    allowed = bool(given) and callback.matches(str(given))
    if not allowed:
        # One line, without the header's value; API Gateway's 4xx metric and its alarm count the refusals.
        print(json.dumps({"level": "WARN", "message": REFUSED, "route": event.get("routeKey")}))
    return {"isAuthorized": allowed}


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, bool]:
    try:
        return decide(secret(), event)
    except SecretUnreadable as error:
        # Not an answer API Gateway caches: the delivery gets 500 and the service sends it again.
        print(json.dumps({"level": "ERROR", "message": str(error)}))
        raise
