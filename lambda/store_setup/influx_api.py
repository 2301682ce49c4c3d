"""A small client of InfluxDB's v2 management API (docs.influxdata.com/influxdb/v2/api/): JSON over HTTPS,
authenticated by a session (POST /api/v2/signin with Basic auth) or an operator token. Every request is bounded
by the time the set-up function has left, so a store that does not answer fails the step instead of hanging
the stack."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import urlencode

import urllib3
from urllib3.exceptions import HTTPError

RemainingTime = Callable[[], float]
REQUEST_TIMEOUT = 10.0
RESERVED_SECONDS = 5.0  # kept back to answer CloudFormation


class StoreError(Exception):
    """The store refused or did not answer a request; the message says which and why, in one line."""


class InfluxApi:
    def __init__(self, url: str, remaining: RemainingTime, pool: urllib3.PoolManager | None = None) -> None:
        self.url = url.rstrip("/")
        self.remaining = remaining
        # The managed store's public certificate, verified against the system's roots (stated, not left to a default).
        self.pool = pool or urllib3.PoolManager(retries=False, cert_reqs="CERT_REQUIRED")
        self._auth: dict[str, str] = {}

    def use_token(self, token: str) -> None:
        self._auth = {"Authorization": f"Token {token}"}

    def sign_in(self, username: str, password: str) -> None:
        """A user session (in memory on the server, about ten minutes: long enough for the set-up)."""
        response = self._send(
            "POST",
            "/api/v2/signin",
            headers=urllib3.make_headers(basic_auth=f"{username}:{password}"),
        )
        if response.status != 204:
            raise StoreError(f"signing in as {username!r} failed: {_reason(response)}")
        cookie = SimpleCookie()
        for header in response.headers.getlist("Set-Cookie"):
            cookie.load(header)
        if not cookie:
            raise StoreError("signing in gave no session cookie")
        self._auth = {"Cookie": "; ".join(f"{name}={morsel.value}" for name, morsel in cookie.items())}

    def get(self, path: str, query: Mapping[str, str] | None = None, missing_ok: bool = False) -> Any:
        """The JSON answer; None for a 404 when `missing_ok` (InfluxDB answers a name filter that matches
        nothing with 404 on some resources and with an empty list on others)."""
        return self.call("GET", path, query=query, missing_ok=missing_ok)

    def post(self, path: str, body: Any) -> Any:
        return self.call("POST", path, body=body)

    def patch(self, path: str, body: Any) -> Any:
        return self.call("PATCH", path, body=body)

    def delete(self, path: str, query: Mapping[str, str] | None = None) -> None:
        self.call("DELETE", path, query=query, missing_ok=True)

    def call(
        self,
        method: str,
        path: str,
        query: Mapping[str, str] | None = None,
        body: Any = None,
        missing_ok: bool = False,
    ) -> Any:
        target = f"{path}?{urlencode(query)}" if query else path
        headers = {**self._auth, "Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        response = self._send(method, target, headers=headers, body=data)
        if response.status == 404 and missing_ok:
            return None
        if response.status // 100 != 2:
            raise StoreError(f"{method} {path} answered {_reason(response)}")
        text = response.data.decode("utf-8", errors="replace")
        try:
            return json.loads(text) if text.strip() else None
        except ValueError:
            raise StoreError(
                f"{method} {path} answered {response.status} with no JSON: {text[:200]!r}"
            ) from None

    def _send(
        self, method: str, target: str, headers: Mapping[str, str], body: bytes | None = None
    ) -> urllib3.BaseHTTPResponse:
        left = self.remaining() - RESERVED_SECONDS
        if left < 1.0:
            raise StoreError(
                f"no time left for {method} {target.split('?')[0]}: the store answered too slowly"
            )
        timeout = urllib3.Timeout(connect=min(5.0, left), read=min(REQUEST_TIMEOUT, left))
        try:
            return self.pool.request(
                method,
                f"{self.url}{target}",
                body=body,
                headers=dict(headers),
                timeout=timeout,
                retries=False,
                redirect=False,
            )
        except HTTPError as error:
            raise StoreError(
                f"{method} {target.split('?')[0]}: the store at {self.url} is unreachable ({type(error).__name__})"
            ) from None


def _reason(response: urllib3.BaseHTTPResponse) -> str:
    """`<status> <the store's message>`; InfluxDB's errors are {"code", "message"}."""
    text = response.data.decode("utf-8", errors="replace")
    try:
        body = json.loads(text)
    except ValueError:
        body = None
    message = body.get("message") or body.get("error") if isinstance(body, dict) else None
    return f"{response.status}: {message or text.strip()[:200] or 'no message'}"
