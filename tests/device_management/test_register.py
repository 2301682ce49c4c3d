"""The registration helper against a small local stand-in for the device-management service's REST API.

The stand-in plays the cloud service (Pelion / Izuma Device Management), which cannot run here: it checks the
API key, keeps the callback and the pre-subscriptions, and records every call, so the test can check each
call's method, path and body.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from device_management.register import main
from tests.support.http_serving import serving

API_KEY = "ak_1MDE2ZTBhNWIwZmY0MDI0MjBhMDE0ZjAzMDAwMDAwMDA"
SECRET = "the-callback-secret"
PATHS = ["/26241/0/1", "/26241/0/2", "/3200/0/5501"]  # the catalog's lwm2m resources


class StandIn:
    """The service's state and the calls it received."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, Any]] = []
        self.callback: dict[str, Any] | None = None
        self.pre_subscriptions: list[dict[str, Any]] = [
            {"endpoint-name": "other-*", "resource-path": ["/3/0/0"]}
        ]
        self.subscriptions: set[tuple[str, str]] = set()


@pytest.fixture
def service(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[StandIn, str]]:
    state = StandIn()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _answer(self, status: int, body: Any = None) -> None:
            data = json.dumps(body).encode() if body is not None else b""
            self.send_response(status)
            if data:
                self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _handle(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = json.loads(self.rfile.read(length)) if length else None
            state.calls.append((self.command, self.path, body))
            if self.headers.get("authorization") != f"Bearer {API_KEY}":
                return self._answer(401, {"code": 401, "message": "Unauthorized"})
            if self.path == "/v2/notification/callback":
                if self.command == "PUT":
                    state.callback = body
                    return self._answer(204)
                if state.callback is None:
                    return self._answer(404)
                state.callback = None
                return self._answer(204)
            if self.path == "/v2/subscriptions":
                if self.command == "GET":
                    return self._answer(200, state.pre_subscriptions)
                state.pre_subscriptions = list(body or [])
                return self._answer(204)
            if self.path.startswith("/v2/subscriptions/"):
                endpoint, _, resource = self.path.removeprefix("/v2/subscriptions/").partition("/")
                key = (endpoint, f"/{resource}")
                if self.command == "PUT":
                    state.subscriptions.add(key)
                    return self._answer(202, {"async-response-id": "x"})
                state.subscriptions.discard(key)
                return self._answer(204)
            return self._answer(404)

        do_GET = do_PUT = do_DELETE = _handle  # noqa: N815 (http.server's naming)

    monkeypatch.setenv("DEVICE_MANAGEMENT_API_KEY", API_KEY)
    monkeypatch.setenv("WEBHOOK_SECRET", SECRET)
    with serving(ThreadingHTTPServer(("127.0.0.1", 0), Handler)) as server:
        yield state, f"http://127.0.0.1:{server.server_address[1]}"


def test_register_sets_the_callback_with_its_header_and_subscribes_the_catalogs_resources(
    service: tuple[StandIn, str], capsys: pytest.CaptureFixture[str]
) -> None:
    state, api = service
    url = "https://abc123.execute-api.eu-west-1.amazonaws.com/notifications"
    code = main(["register", "--api", api, "--url", url, "--endpoint", "button-01"])
    assert code == 0
    assert state.callback == {"url": url, "headers": {"Authorization": f"Bearer {SECRET}"}}
    assert state.pre_subscriptions == [
        {"endpoint-name": "other-*", "resource-path": ["/3/0/0"]},  # the account's own are kept
        {"endpoint-name": "*", "resource-path": PATHS},
    ]
    assert state.subscriptions == {("button-01", path) for path in PATHS}
    assert [(m, p) for m, p, _ in state.calls[:3]] == [
        ("PUT", "/v2/notification/callback"), ("GET", "/v2/subscriptions"), ("PUT", "/v2/subscriptions"),
    ]  # fmt: skip
    out = capsys.readouterr()
    assert API_KEY not in out.out + out.err and SECRET not in out.out + out.err
    assert "callback: " + url in out.out

    assert main(["register", "--api", api, "--url", url]) == 0  # again: the same state, nothing doubled
    assert len(state.pre_subscriptions) == 2

    assert main(["unregister", "--api", api, "--endpoint", "button-01"]) == 0
    assert state.callback is None and state.subscriptions == set()
    assert state.pre_subscriptions == [{"endpoint-name": "other-*", "resource-path": ["/3/0/0"]}]
    assert main(["unregister", "--api", api]) == 0  # nothing left to remove is no error


def test_a_refused_key_or_a_missing_one_says_what_to_set(
    service: tuple[StandIn, str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    state, api = service
    monkeypatch.setenv("DEVICE_MANAGEMENT_API_KEY", "ak_wrong")
    assert main(["register", "--api", api, "--url", "https://x/notifications"]) == 1
    err = capsys.readouterr().err
    assert "refused the API key (401)" in err and "DEVICE_MANAGEMENT_API_KEY" in err and "ak_wrong" not in err
    assert state.callback is None
    monkeypatch.delenv("DEVICE_MANAGEMENT_API_KEY")
    assert main(["unregister", "--api", api]) == 2
    assert "set DEVICE_MANAGEMENT_API_KEY" in capsys.readouterr().err
