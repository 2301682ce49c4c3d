"""migrate_store against the answers no local influxd gives: a small HTTP stand-in, named as such, answering as
InfluxData's InfluxDB v2 API reference documents for writes (POST /api/v2/write and the 1.x-compatible /write):
204 written; 413 "request too large" (`{"code": "request too large", "message": ...}`); 429 "too many requests"
and 503 "unavailable", both with a Retry-After header; 401 "unauthorized"."""

from __future__ import annotations

from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from ingest_tools.migrate_store import RETRIES, Credentials, MigrationError, Target, copy
from tests.support.http_serving import serving

LINES = [f"m,sensorID=s{n} v={n}i {n}" for n in range(8)]


class StandIn(ThreadingHTTPServer):
    """Answers each write with the next scripted status, then 204; refuses bodies of more than `max_lines`."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.script: list[int] = []
        self.max_lines = 1_000
        self.written: list[str] = []
        self.authorization: list[str] = []


class Handler(BaseHTTPRequestHandler):
    server: StandIn

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"])).decode()
        self.server.authorization.append(self.headers.get("Authorization", ""))
        lines = body.splitlines()
        status = self.server.script.pop(0) if self.server.script else 204
        if status == 204 and len(lines) > self.server.max_lines:
            status = 413
        answers = {
            401: b'{"code":"unauthorized","message":"unauthorized access"}',
            413: b'{"code":"request too large","message":"unable to read data: points batch is too large"}',
            429: b'{"code":"too many requests","message":"write limit reached"}',
            503: b'{"code":"unavailable","message":"service unavailable"}',
        }
        if status == 204:  # before the answer: the client may look as soon as it has it
            self.server.written.extend(lines)
        self.send_response(status)
        if status in (429, 503):
            self.send_header("Retry-After", "0")
        body_out = answers.get(status, b"")
        self.send_header("Content-Length", str(len(body_out)))
        self.end_headers()
        self.wfile.write(body_out)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def stand_in() -> Iterator[StandIn]:
    with serving(StandIn()) as server:
        yield server


def target(server: StandIn, tmp_path: Path, waits: list[float]) -> Target:
    return Target(
        f"http://127.0.0.1:{server.server_address[1]}",
        "telemetry",
        Credentials(token="t0ken"),
        tmp_path / "rejects.lp",
        sleep=waits.append,
    )


def points() -> Iterator[tuple[str, str, str]]:
    return iter([("autogen", "m", text) for text in LINES])


def test_429_and_503_are_retried_after_the_wait_the_store_asks(stand_in: StandIn, tmp_path: Path) -> None:
    stand_in.script = [429, 503]
    waits: list[float] = []
    tallies = copy(points(), target(stand_in, tmp_path, waits), batch=8)
    assert stand_in.written == LINES and tallies[("autogen", "m")].written == 8
    assert waits == [0.0, 0.0]  # Retry-After: 0
    assert set(stand_in.authorization) == {"Token t0ken"}


def test_413_splits_the_batch_until_the_store_takes_it(stand_in: StandIn, tmp_path: Path) -> None:
    stand_in.max_lines = 3
    tallies = copy(points(), target(stand_in, tmp_path, []), batch=8)
    assert sorted(stand_in.written) == sorted(LINES) and tallies[("autogen", "m")].written == 8


def test_a_store_that_stays_unavailable_stops_the_run_saying_where(stand_in: StandIn, tmp_path: Path) -> None:
    stand_in.script = [503] * RETRIES
    waits: list[float] = []
    with pytest.raises(
        MigrationError, match=r"kept answering 503 .* stopped at autogen\.m after 0 of its points"
    ):
        copy(points(), target(stand_in, tmp_path, waits), batch=8)
    assert len(waits) == RETRIES - 1 and not stand_in.written


def test_401_stops_at_once(stand_in: StandIn, tmp_path: Path) -> None:
    stand_in.script = [401]
    with pytest.raises(MigrationError, match="answered 401"):
        copy(points(), target(stand_in, tmp_path, []), batch=8)
    assert len(stand_in.authorization) == 1
