"""A flood of distinct forged headers: every one refused, Secrets Manager read a bounded number of times, and
what it costs per million, from benchmarks/prices.yaml. Only the authorizer runs for them: the webhook
function's route carries the authorizer (tests/infrastructure/test_webhook_authorizer.py), so API Gateway never
invokes the function for a refused call, and its reserved concurrency stays for the service's deliveries."""

from __future__ import annotations

import math
import time
from typing import Any

from webhook_authorizer import handler
from webhook_authorizer.secret import REFRESH_FLOOR_SECONDS, CallbackSecret

from benchmarks.cost import load_prices

FORGED = 20_000
MEMORY_GB = 128 / 1024  # the stack's AuthorizerFunction
BILLED_MS = 10  # assumed per refused call, well above what this process measures (Lambda bills by the ms)


class SecretsManagerStandIn:
    """STAND-IN for Secrets Manager's GetSecretValue (moto's server would make the flood a test of HTTP): it
    answers as the real one documents, AWSCURRENT always, AWSPREVIOUS once a rotation made one (here: none)."""

    def __init__(self) -> None:
        self.calls = 0

    def get_secret_value(self, SecretId: str, VersionStage: str) -> dict[str, Any]:  # noqa: N803 (boto3's names)
        self.calls += 1
        if VersionStage != "AWSCURRENT":
            error = Exception("ResourceNotFoundException")
            error.response = {"Error": {"Code": "ResourceNotFoundException"}}  # type: ignore[attr-defined]
            raise error
        return {"SecretString": "the-real-secret"}


def test_a_flood_of_distinct_forged_headers_is_refused_cheaply(capsys: Any) -> None:
    client = SecretsManagerStandIn()
    clock = [0.0]
    callback = CallbackSecret(client, "arn:secret", lambda: clock[0])
    started = time.perf_counter()
    for i in range(FORGED):
        clock[0] += 0.001  # one forged call a millisecond: 20 s of flood
        answer = handler.decide(callback, {"headers": {"authorization": f"Bearer forged-{i}"}})
        assert answer == {"isAuthorized": False}
    elapsed = time.perf_counter() - started
    capsys.readouterr()  # (the refusal lines)
    # Secrets Manager: the first read, then at most one refresh per floor interval (two stages each).
    assert client.calls <= 2 * (1 + math.ceil(clock[0] / REFRESH_FLOOR_SECONDS))
    assert handler.decide(callback, {"headers": {"authorization": "Bearer the-real-secret"}}) == {
        "isAuthorized": True
    }

    prices = load_prices().prices
    per_million = (
        prices["api_gateway_http_request_per_million"].usd
        + prices["lambda_request_per_million"].usd
        + 1e6 * MEMORY_GB * BILLED_MS / 1000 * prices["lambda_gb_second_arm64"].usd
        + 1e6 * (client.calls / FORGED) / 10_000 * prices["secrets_manager_api_calls_per_10k"].usd
    )
    day_at_default_throttle = 50 * 86_400 / 1e6 * per_million  # the stage's default ThrottleRate
    print(
        f"forged calls: {FORGED}, {1e6 * elapsed / FORGED:.1f} us each here, Secrets Manager calls: "
        f"{client.calls}; ${per_million:.2f} per million, ${day_at_default_throttle:.2f} a day at 50 a second"
    )
    assert per_million < 1.5  # API Gateway's own $1.00 is most of it
