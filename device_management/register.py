"""`python -m device_management register|unregister`: point a Pelion / Izuma account at the webhook.

`register` sets the account's notification callback (`PUT /v2/notification/callback`) to the webhook's URL with
the header the webhook checks (`Authorization: Bearer <secret>`), adds a pre-subscription for every resource
the catalog's `lwm2m` sections map (`PUT /v2/subscriptions`, endpoints matching `--endpoint-pattern`, so devices
that register later are covered too), and subscribes the `--endpoint`s given by name to those resources now
(`PUT /v2/subscriptions/{endpoint}/{path}`). `unregister` removes the callback, those pre-subscriptions (others
are kept) and the named endpoints' subscriptions.

The API key comes from $DEVICE_MANAGEMENT_API_KEY and is never printed; the callback URL and secret from the
webhook stack (its CallbackUrl and SecretArn outputs) unless `--url` and $WEBHOOK_SECRET are given.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import boto3
import requests

from catalog import load_catalog
from catalog.lwm2m import resource_paths
from infrastructure.names import stack_name
from infrastructure.stacks import webhook

DEFAULT_API = "https://api.us-east-1.mbedcloud.com"
API_KEY_VARIABLE = "DEVICE_MANAGEMENT_API_KEY"
TIMEOUT = 30.0


class RegistrationError(RuntimeError):
    """The service refused a call; the message says which and what to do."""


@dataclass
class DeviceManagement:
    """The few calls of the service's REST API this needs."""

    api: str
    api_key: str = field(repr=False)
    session: requests.Session = field(default_factory=requests.Session)

    def call(self, method: str, path: str, body: Any = None, allowed: tuple[int, ...] = ()) -> Any:
        response = self.session.request(
            method,
            f"{self.api.rstrip('/')}{path}",
            json=body,
            headers={"Authorization": f"Bearer {self.api_key}"},
            timeout=TIMEOUT,
        )
        if response.status_code in (401, 403):
            raise RegistrationError(
                f"{method} {path}: the service refused the API key ({response.status_code}): set "
                f"{API_KEY_VARIABLE} to an application key of the account with access to the Connect API"
            )
        if response.status_code >= 300 and response.status_code not in allowed:
            raise RegistrationError(f"{method} {path}: {response.status_code} {response.text.strip()[:300]}")
        return (
            response.json()
            if response.content and "json" in response.headers.get("content-type", "")
            else None
        )

    def pre_subscriptions(self) -> list[dict[str, Any]]:
        found = self.call("GET", "/v2/subscriptions")
        return list(found or [])


def _path(resource: str) -> str:
    return quote(resource.lstrip("/"))


def register(
    service: DeviceManagement, url: str, secret: str, paths: list[str], pattern: str, endpoints: list[str]
) -> list[str]:
    """Set the callback and the subscriptions; returns what was done, one line each (no secret in them)."""
    done = []
    try:
        service.call(
            "PUT", "/v2/notification/callback", {"url": url, "headers": {"Authorization": f"Bearer {secret}"}}
        )
    except RegistrationError as error:
        raise RegistrationError(
            f"{error}\nThe service checks the URL when it is registered: is the webhook stack deployed and its "
            "secret the one given?"
        ) from None
    done.append(f"callback: {url} (with its Authorization header)")
    ours = {"endpoint-name": pattern, "resource-path": paths}
    kept = [s for s in service.pre_subscriptions() if s != ours]
    service.call("PUT", "/v2/subscriptions", [*kept, ours])
    done.append(f"pre-subscription: endpoints {pattern!r}, resources {', '.join(paths)}")
    for endpoint in endpoints:
        for resource in paths:
            service.call("PUT", f"/v2/subscriptions/{quote(endpoint)}/{_path(resource)}", allowed=(404,))
        done.append(f"subscribed {endpoint} to {len(paths)} resources")
    return done


def unregister(service: DeviceManagement, paths: list[str], pattern: str, endpoints: list[str]) -> list[str]:
    done = []
    service.call("DELETE", "/v2/notification/callback", allowed=(404,))
    done.append("callback removed")
    ours = {"endpoint-name": pattern, "resource-path": paths}
    current = service.pre_subscriptions()
    if ours in current:
        service.call("PUT", "/v2/subscriptions", [s for s in current if s != ours])
        done.append(f"pre-subscription for {pattern!r} removed")
    for endpoint in endpoints:
        for resource in paths:
            service.call("DELETE", f"/v2/subscriptions/{quote(endpoint)}/{_path(resource)}", allowed=(404,))
        done.append(f"unsubscribed {endpoint}")
    return done


def from_stack(environment: str) -> tuple[str, str]:
    """The deployed webhook stack's callback URL and its secret."""
    stack = boto3.client("cloudformation").describe_stacks(StackName=stack_name(environment, webhook.NAME))[
        "Stacks"
    ][0]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    secret = boto3.client("secretsmanager").get_secret_value(SecretId=outputs[webhook.SECRET_ARN.output])[
        "SecretString"
    ]
    return outputs[webhook.CALLBACK_URL.output], secret


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m device_management", description=__doc__)
    parser.add_argument("action", choices=["register", "unregister"])
    parser.add_argument("--api", default=DEFAULT_API, help=f"the service's API (default {DEFAULT_API})")
    parser.add_argument("--environment", default="demo", help="the deployed webhook stack's environment")
    parser.add_argument("--url", help="the callback URL (default: the webhook stack's CallbackUrl)")
    parser.add_argument("--endpoint-pattern", default="*", help="endpoint names the pre-subscription covers")
    parser.add_argument(
        "--endpoint", action="append", default=[], help="an endpoint to subscribe now (repeat)"
    )
    args = parser.parse_args(argv)
    api_key = os.environ.get(API_KEY_VARIABLE, "").strip()
    if not api_key:
        print(
            f"error: set {API_KEY_VARIABLE} to an API key of the account (it is never printed)",
            file=sys.stderr,
        )
        return 2
    service = DeviceManagement(args.api, api_key)
    paths = resource_paths(load_catalog())
    try:
        if args.action == "register":
            if args.url:
                url, secret = args.url, os.environ.get("WEBHOOK_SECRET", "")
                if not secret:
                    print("error: with --url, set WEBHOOK_SECRET to the callback's secret", file=sys.stderr)
                    return 2
            else:
                url, secret = from_stack(args.environment)
            done = register(service, url, secret, paths, args.endpoint_pattern, args.endpoint)
        else:
            done = unregister(service, paths, args.endpoint_pattern, args.endpoint)
    except (RegistrationError, requests.RequestException) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    for line in done:
        print(line)
    return 0
