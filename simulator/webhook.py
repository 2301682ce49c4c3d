"""Devices behind a device-management service: deliveries to the webhook as the service sends them.

Each endpoint is an LwM2M device whose resources the catalog's `lwm2m` sections name: buttons count presses in
the IPSO counter (restarting at 0 now and then, as after a reboot), shelves report their product id and count.
Every tick the readings of every endpoint go out as one delivery: `PUT` with a `notifications` batch (base64
payloads), the endpoints' `registrations` in the first, and the callback's `Authorization` header. A delivery
answered with anything but 2xx is sent again after a growing pause, as the service does, until it is taken
or the attempts run out; then its readings are counted as not delivered.

`python -m simulator.webhook` runs it against the local gateway (`.sandbox/endpoints.json`) or `--url`, with the
secret from the local Secrets Manager or $WEBHOOK_SECRET (never printed).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import random
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from catalog import DeviceKind, load_catalog
from catalog.generators import Choice
from reach.endpoints import DEFAULT_PATH, Endpoints

RETRY_DELAYS = (0.2, 0.5, 1.0, 2.0, 4.0, 8.0)  # then the delivery is given up
RESET_CHANCE = 0.03  # a button restarts its counter at 0 this often per tick


@dataclass(frozen=True)
class WebhookTarget:
    url: str
    secret: str = field(repr=False)
    timeout: float = 30.0


@dataclass
class WebhookCounters:
    readings_sent: int = 0  # in deliveries the webhook acknowledged
    readings_failed: int = 0  # in deliveries given up after every retry
    deliveries: int = 0
    retries: int = 0
    statuses: dict[str, int] = field(default_factory=dict)


def resource_of(kind: DeviceKind, attribute_name: str) -> str:
    """The resource path the kind maps to a field or tag."""
    assert kind.lwm2m is not None
    for path, resource in kind.lwm2m.resources.items():
        if attribute_name in (resource.field, resource.tag):
            return path
    raise ValueError(f"kind {kind.name} maps no resource to {attribute_name}")


def _text(value: object) -> str:
    return base64.b64encode(str(value).encode()).decode()


class WebhookFleet:
    def __init__(
        self, target: WebhookTarget, buttons: int, shelves: int = 0, seed: int | None = None
    ) -> None:
        catalog = load_catalog()
        button, shelf = catalog.kind("button"), catalog.kind("shelf")
        self.target, self.rng = target, random.Random(seed)
        self.press_path = resource_of(button, "presses")
        self.count_path, self.product_path = resource_of(shelf, "count"), resource_of(shelf, "product_id")
        spec = shelf.simulator.attributes.get("product_id") if shelf.simulator else None
        products = list(spec.values) if isinstance(spec, Choice) else ["sku-1"]
        self.presses = {f"button-{n:02d}": 0 for n in range(1, buttons + 1)}
        self.shelves = {
            f"lwm2m-shelf-{n:02d}": [products[(n - 1) % len(products)], 20] for n in range(1, shelves + 1)
        }
        self.counters = WebhookCounters()
        self._registered = False

    @property
    def endpoints(self) -> int:
        return len(self.presses) + len(self.shelves)

    def delivery(self) -> tuple[dict[str, Any], int]:
        """The next delivery and how many readings it holds."""
        notifications = []
        for endpoint in self.presses:
            if self.rng.random() < RESET_CHANCE:
                self.presses[endpoint] = 0
            else:
                self.presses[endpoint] += self.rng.randint(0, 3)
            notifications.append(self._notification(endpoint, self.press_path, self.presses[endpoint]))
        for endpoint, state in self.shelves.items():
            state[1] = max(0, min(60, int(state[1]) + self.rng.randint(-3, 3)))
            notifications.append(self._notification(endpoint, self.product_path, state[0]))
            notifications.append(self._notification(endpoint, self.count_path, state[1]))
        body: dict[str, Any] = {"notifications": notifications}
        if not self._registered:
            body["registrations"] = [
                {
                    "ep": ep,
                    "ept": "simulated",
                    "q": False,
                    "resources": [{"path": p, "obs": True} for p in paths],
                }
                for ep, paths in [
                    *((ep, [self.press_path]) for ep in self.presses),
                    *((ep, [self.product_path, self.count_path]) for ep in self.shelves),
                ]
            ]
            self._registered = True
        return body, self.endpoints

    @staticmethod
    def _notification(endpoint: str, path: str, value: object) -> dict[str, Any]:
        return {"ep": endpoint, "path": path, "ct": "text/plain", "payload": _text(value), "max-age": 0}

    def send(self, body: dict[str, Any], readings: int, sleep: Callable[[float], None] = time.sleep) -> bool:
        data = json.dumps(body).encode()
        for attempt in range(len(RETRY_DELAYS) + 1):
            status = self._put(data)
            self.counters.statuses[str(status)] = self.counters.statuses.get(str(status), 0) + 1
            if 200 <= status < 300:
                self.counters.deliveries += 1
                self.counters.readings_sent += readings
                return True
            if attempt < len(RETRY_DELAYS):
                self.counters.retries += 1
                sleep(RETRY_DELAYS[attempt])
        self.counters.readings_failed += readings
        return False

    def _put(self, data: bytes) -> int:
        request = urllib.request.Request(
            self.target.url,
            data=data,
            method="PUT",
            headers={"Authorization": f"Bearer {self.target.secret}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.target.timeout) as response:
                return int(response.status)
        except urllib.error.HTTPError as error:
            return int(error.code)
        except (urllib.error.URLError, OSError):
            return 0  # no answer: the service retries like a 5xx

    def run(
        self,
        rate: float,
        duration: float | None = None,
        count: int | None = None,
        stop: threading.Event | None = None,
    ) -> WebhookCounters:
        """A delivery every 1/rate seconds, for `duration` seconds or `count` deliveries."""
        interval, started, sent = 1.0 / rate, time.monotonic(), 0
        while (count is None or sent < count) and (duration is None or time.monotonic() - started < duration):
            if stop is not None and stop.is_set():
                break
            tick = time.monotonic()
            self.send(*self.delivery())
            sent += 1
            pause = interval - (time.monotonic() - tick)
            if pause > 0:
                if stop is None:
                    time.sleep(pause)
                elif stop.wait(pause):
                    break
        return self.counters


class BackgroundFleet:
    """A webhook fleet in its own thread, next to an MQTT fleet (make demo)."""

    def __init__(self, fleet: WebhookFleet, rate: float, duration: float) -> None:
        self.fleet = fleet
        self.result: WebhookCounters | None = None
        self._thread = threading.Thread(
            target=self._run, args=(rate, duration), name="webhook-fleet", daemon=True
        )
        self._thread.start()

    def _run(self, rate: float, duration: float) -> None:
        self.result = self.fleet.run(rate, duration=duration)

    def wait(self) -> WebhookCounters:
        self._thread.join()
        return self.result or self.fleet.counters


def local_target(endpoints_path: Path = DEFAULT_PATH) -> WebhookTarget:
    """The sandbox's gateway and the callback secret it expects, from the local Secrets Manager."""
    try:
        endpoints = Endpoints.load(endpoints_path)
    except FileNotFoundError as error:
        raise SystemExit(str(error)) from None
    webhook, aws = endpoints.webhook, endpoints.aws
    if webhook is None:
        raise SystemExit(f"{endpoints_path} names no webhook: run 'make demo' again")
    client = aws.client("secretsmanager")
    secret = client.get_secret_value(SecretId=webhook.secret_name)["SecretString"]
    return WebhookTarget(url=webhook.url, secret=secret)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m simulator.webhook", description=__doc__)
    parser.add_argument("--buttons", type=int, default=5)
    parser.add_argument("--shelves", type=int, default=2)
    parser.add_argument("--rate", type=float, default=1.0, help="deliveries per second")
    parser.add_argument("--duration", type=float, default=30.0)
    parser.add_argument(
        "--url", help="the callback URL (default: the local gateway); the secret from $WEBHOOK_SECRET"
    )
    parser.add_argument("--endpoints", type=Path, default=DEFAULT_PATH)
    parser.add_argument("--seed", type=int)
    args = parser.parse_args(argv)
    if args.url:
        secret = os.environ.get("WEBHOOK_SECRET", "")
        if not secret:
            raise SystemExit("set WEBHOOK_SECRET to the callback's secret (the webhook stack's SecretArn)")
        target = WebhookTarget(args.url, secret)
    else:
        target = local_target(args.endpoints)
    fleet = WebhookFleet(target, args.buttons, args.shelves, seed=args.seed)
    counters = fleet.run(args.rate, duration=args.duration)
    print(
        f"{fleet.endpoints} endpoints: {counters.deliveries} deliveries, {counters.readings_sent} readings "
        f"acknowledged, {counters.retries} retries, {counters.readings_failed} readings not delivered "
        f"(answers: {counters.statuses})"
    )
    return 1 if counters.readings_failed else 0


if __name__ == "__main__":
    sys.exit(main())
