"""`send`'s connections read back only a plain 204: every other answer says "not written" (the lines then go through
the pool's full rules) or "do not reuse" (the connection is closed). The store's side is a socket pair holding
the answer as a store would send it (RFC 9110: a 204 carries no body); no server is started."""

from __future__ import annotations

import socket

import pytest
from ingest_to_influxdb.influx_writer import WriteStream

NO_CONTENT = b"HTTP/1.1 204 No Content\r\nContent-Type: application/json\r\nX-Influxdb-Version: 1.8.10\r\n"


def answered(*parts: bytes, close_after: bool = True) -> tuple[bool, bool]:
    """What the stream makes of an answer sent in these parts (the store closing its end after them)."""
    ours, theirs = socket.socketpair()
    stream = WriteStream("127.0.0.1", 8086, None)
    stream.sock = ours
    ours.settimeout(2)
    for part in parts:
        theirs.sendall(part)
    if close_after:
        theirs.close()
    try:
        return stream.written()
    finally:
        stream.close()
        theirs.close()


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ([NO_CONTENT + b"Date: Sat, 05 Dec 2026 07:00:00 GMT\r\n\r\n"], (True, True)),
        ([b"HTTP/1.1 204 No Content\r\n\r\n"], (True, True)),
        ([b"HTTP/1.1 204\r\n\r\n"], (True, True)),  # (no reason phrase)
        ([NO_CONTENT[:20], NO_CONTENT[20:], b"\r\n"], (True, True)),  # a head in several reads
        ([NO_CONTENT + b"Connection: close\r\n\r\n"], (True, False)),
        ([NO_CONTENT + b"connection: Close\r\n\r\n"], (True, False)),
        ([NO_CONTENT + b"\r\n" + b"stray"], (True, False)),  # bytes a 204 cannot carry
        ([b"HTTP/1.0 204 No Content\r\n\r\n"], (False, False)),
        (
            [b'HTTP/1.1 400 Bad Request\r\nContent-Length: 30\r\n\r\n{"error":"partial write: ..."}'],
            (False, False),
        ),
        ([b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"], (False, False)),
        ([b"HTTP/1.1 2040 Odd\r\n\r\n"], (False, False)),
        ([NO_CONTENT], (False, False)),  # closed before the head ended
        ([], (False, False)),  # closed without a word (an idle timeout)
        ([b"x" * 70_000], (False, False)),  # no head within the limit
    ],
    ids=lambda value: repr(value)[:40],
)
def test_only_a_plain_204_is_written(answer: list[bytes], expected: tuple[bool, bool]) -> None:
    assert answered(*answer) == expected


def test_a_store_that_says_nothing_in_time_is_not_written() -> None:
    ours, theirs = socket.socketpair()
    stream = WriteStream("127.0.0.1", 8086, None)
    stream.sock = ours
    ours.settimeout(0.05)
    try:
        assert stream.written() == (False, False)
    finally:
        stream.close()
        theirs.close()


def test_a_request_that_cannot_be_sent_closes_the_connection() -> None:
    ours, theirs = socket.socketpair()
    theirs.close()
    stream = WriteStream("127.0.0.1", 8086, None)
    stream.sock = ours
    assert stream.post(b"POST /write HTTP/1.1\r\n", b"x" * 1_000_000, 1.0) is False
    assert stream.sock is None
