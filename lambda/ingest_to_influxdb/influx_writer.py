"""Writes line protocol over one keep-alive HTTP pool per container to the 1.x-compatible
POST /write?db=<database>&precision=ns, which every store serves: InfluxDB 1.x (the ECS store, Basic auth),
InfluxDB 2.x through a DBRP mapping and InfluxDB 3 (Amazon Timestream for InfluxDB, `Authorization: Token`).
Which auth is sent follows the secret's keys (secrets.py). Over HTTPS the store's certificate is always verified
(urllib3 requires it by default): against `ca_certificate` (the CA the deploy tool made for the ECS store) when
given, else against the system's roots (the managed store's public certificate).

Batches are cut to at most MAX_BATCH_LINES lines and MAX_REQUEST_BYTES bytes before they are sent.
2xx: written (a 2xx that still lists refused lines counts as a partial write). 400/422 (a line it cannot take,
a partial write in 1.x, 2.x or 3.x wording, a field type conflict): the batch is split until the refused points
are found; they are returned, everything else is written (points are idempotent: same series and time
overwrite). 413: the batch is split (and later batches are cut smaller); a single line the store still finds too
large is refused. 429, 5xx, timeouts and connection errors are retried within the invocation's remaining time,
after the store's Retry-After when it gives one and it fits, then raise InfluxUnavailable, as do 401/403 (after
fetching the credentials once more) and 404: the readings are kept by the caller, never dropped.
"""

from __future__ import annotations

import contextlib
import json
import socket
import ssl
import time
from collections.abc import Callable, Sequence
from email.utils import parsedate_to_datetime
from typing import Any, Protocol
from urllib.parse import urlencode

import urllib3
from urllib3.exceptions import HTTPError
from urllib3.util import parse_url

from ingest_to_influxdb.errors import InfluxUnavailable
from ingest_to_influxdb.ports import RemainingTime
from ingest_to_influxdb.secrets import Credentials

RETRY_DELAYS = (0.1, 0.3, 0.8)
CONNECT_TIMEOUT = 2.0
READ_TIMEOUT = 10.0
MAX_IDLE_STREAMS = 4  # keep-alive connections `send` keeps between writes (Ingestor has two in flight)
SAFETY_MARGIN = 1.0  # seconds left to the invocation for reporting back
# InfluxData: "The optimal batch size is 5000 lines of line protocol" (docs.influxdata.com/influxdb/v2/
# write-data/best-practices/optimize-writes/); its 1.x hardware guide says batches of 5,000-10,000 lines.
MAX_BATCH_LINES = 5_000
# Below every store's request-size limit: Timestream for InfluxDB's `max-http-request-size` is 10 MiB by default
# (1 KiB-16 MiB) and AWS advises 5 MiB for db.influx.medium (docs.aws.amazon.com/timestream/latest/
# developerguide/max-http-request-size.html); InfluxDB 1.8's max-body-size is 25,000,000 bytes. A store set
# lower answers 413, and the writer then cuts its batches smaller (never below MIN_REQUEST_BYTES).
MAX_REQUEST_BYTES = 5 * 1024 * 1024
MIN_REQUEST_BYTES = 1024  # the smallest max-http-request-size the managed store allows
MAX_ANSWER_HEAD = 65_536  # bytes of a `send` answer's status line and headers read at the most
_REFUSED = {400, 413, 422}  # 422: InfluxDB 2.x's partial write ("failure writing points ... dropped=N")
_TOO_LARGE = 413
_THROTTLED = 429


class CredentialSource(Protocol):
    """What the writer needs from the secret (see secrets.SecretCredentials)."""

    def get(self) -> Credentials: ...

    def refresh(self) -> None: ...


class _Answer:
    def __init__(self, status: int, text: str, retry_after: str | None = None) -> None:
        self.status, self.text, self.retry_after = status, text, retry_after

    @property
    def written(self) -> bool:
        """Every line taken. 204 is every store's answer; another 2xx with a body that names refused lines is a
        partial write (InfluxDB Cloud Dedicated answers 201 so)."""
        if self.status == 204:
            return True
        return self.status // 100 == 2 and not _names_an_error(self.text)

    @property
    def error(self) -> str:
        """The store's reason in its own words: 1.x {"error"}, 2.x {"code", "message"}, 3.x {"error", "data":
        [{"error_message", "line_number", "original_line"}]}."""
        body = _json(self.text)
        if isinstance(body, dict):
            data = body.get("data")
            if isinstance(data, list):
                lines = [
                    str(d["error_message"]) for d in data if isinstance(d, dict) and d.get("error_message")
                ]
                if lines:
                    return "; ".join(lines)[:500]
            for key in ("message", "error"):
                if body.get(key):
                    return str(body[key])[:500]
        return self.text.strip()[:500] or f"HTTP {self.status}"

    def wait_seconds(self) -> float | None:
        """The store's Retry-After (seconds or an HTTP date), or None when it gave none or one unreadable."""
        if not self.retry_after:
            return None
        text = self.retry_after.strip()
        try:
            return max(0.0, float(text))
        except ValueError:
            pass
        try:
            return max(0.0, parsedate_to_datetime(text).timestamp() - time.time())
        except (TypeError, ValueError):
            return None

    def max_length(self) -> int | None:
        """InfluxDB 2.x's 413 body names its limit (`maxLength`)."""
        body = _json(self.text)
        value = body.get("maxLength") if isinstance(body, dict) else None
        return value if isinstance(value, int) and value > 0 else None


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


def _names_an_error(text: str) -> bool:
    if not text.strip():
        return False
    body = _json(text)
    return isinstance(body, dict) and bool(body.get("error") or body.get("data") or body.get("message"))


def verified_pool(ca_certificate: str | None, **settings: Any) -> urllib3.PoolManager:
    """A pool whose HTTPS connections verify the server: against `ca_certificate` (PEM) alone when given."""
    extra: dict[str, Any] = {"ca_cert_data": ca_certificate} if ca_certificate else {}
    return urllib3.PoolManager(retries=False, cert_reqs="CERT_REQUIRED", **extra, **settings)


class InfluxWriter:
    def __init__(
        self,
        url: str,
        database: str,
        credentials: CredentialSource,
        pool: urllib3.PoolManager | None = None,
        retry_delays: Sequence[float] = RETRY_DELAYS,
        sleep: Callable[[float], None] = time.sleep,
        max_lines: int = MAX_BATCH_LINES,
        max_bytes: int = MAX_REQUEST_BYTES,
        ca_certificate: str | None = None,
    ) -> None:
        self.endpoint = f"{url.rstrip('/')}/write?{urlencode({'db': database, 'precision': 'ns'})}"
        self.credentials = credentials
        self.pool = pool or verified_pool(ca_certificate, num_pools=2, maxsize=2)
        # The one host's keep-alive pool, looked up once rather than per request.
        self._connections = self.pool.connection_from_url(self.endpoint)
        self._path = parse_url(self.endpoint).request_uri
        self._cached_headers: dict[str, str] = {}
        self._headers_for: Credentials | None = None
        self.retry_delays, self.sleep = retry_delays, sleep
        self.max_lines, self.max_bytes = max_lines, max_bytes
        # The keep-alive connections of `send` whose answer has been read: a write in flight holds its own, so
        # two chunks can be on their way at once (each waits for InfluxDB's disk while the next is prepared).
        self._idle_streams: list[WriteStream] = []
        self._ca_certificate = ca_certificate  # `send`'s connections verify the server as the pool does
        self._tls: ssl.SSLContext | None = None
        self._head = b""  # `send`'s request line and headers, made again when the credentials change
        self._head_for: Credentials | None = None

    def write(self, lines: Sequence[str], remaining: RemainingTime) -> dict[int, str]:
        """Indices of the lines InfluxDB refused for good, with its error; raises InfluxUnavailable."""
        if not lines:
            return {}
        if len(lines) > self.max_lines:
            refused: dict[int, str] = {}
            for start in range(0, len(lines), self.max_lines):
                chunk = self.write(lines[start : start + self.max_lines], remaining)
                refused.update({start + i: e for i, e in chunk.items()})
            return refused
        body = "\n".join(lines).encode()
        if len(body) > self.max_bytes and len(lines) > 1:
            return self._halves(lines, remaining)
        answer = self._post(body, remaining)
        if answer.written:
            return {}
        if answer.status == _TOO_LARGE:
            # Later batches go out smaller: at the store's stated limit, or half of what it refused.
            self.max_bytes = max(
                MIN_REQUEST_BYTES, min(self.max_bytes, answer.max_length() or len(body) // 2)
            )
        if len(lines) == 1:
            if answer.status == _TOO_LARGE:
                return {0: f"larger than the store's request-size limit ({len(body)} bytes): {answer.error}"}
            return {0: answer.error}
        return self._halves(lines, remaining)

    def send(self, lines: Sequence[str], remaining: RemainingTime) -> SentWrite:
        """The lines on their way on the writer's own keep-alive connection, the answer left unread: InfluxDB
        takes them while the caller prepares the next ones. Anything but a plain 204 then (or a batch too large
        for one request) goes through `write`, with its retries and splitting: points are idempotent."""
        body = "\n".join(lines).encode()
        if len(lines) > self.max_lines or len(body) > self.max_bytes:
            return SentWrite(self, lines, remaining, None)
        stream = self._idle_streams.pop() if self._idle_streams else self._open_stream()
        timeout = max(0.5, min(READ_TIMEOUT, remaining() - SAFETY_MARGIN))
        if not stream.post(self._request_head(len(body)), body, timeout):
            return SentWrite(self, lines, remaining, None)
        return SentWrite(self, lines, remaining, stream)

    def _open_stream(self) -> WriteStream:
        url = parse_url(self.endpoint)
        if url.scheme == "https" and self._tls is None:
            # The certificate checked as the pool checks it: against the store's CA alone when one is given.
            self._tls = ssl.create_default_context(cadata=self._ca_certificate or None)
        return WriteStream(url.host or "", url.port or 80, self._tls if url.scheme == "https" else None)

    def _request_head(self, length: int) -> bytes:
        """The request line and headers of a write of `length` bytes, as http.client would send them."""
        user = self.credentials.get()
        if self._head_for is not user:
            url = parse_url(self.endpoint)
            fields = {"Host": url.netloc or "", "Accept-Encoding": "identity", **self._headers(user)}
            text = f"POST {self._path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in fields.items())
            self._head, self._head_for = text.encode("latin-1"), user
        return self._head + b"Content-Length: %d\r\n\r\n" % length

    def _idle(self, stream: WriteStream) -> None:
        """A connection whose answer has been read, for the next `send`."""
        if len(self._idle_streams) < MAX_IDLE_STREAMS:
            self._idle_streams.append(stream)
        else:
            stream.close()

    def _halves(self, lines: Sequence[str], remaining: RemainingTime) -> dict[int, str]:
        middle = len(lines) // 2
        refused = self.write(lines[:middle], remaining)
        refused.update({middle + i: e for i, e in self.write(lines[middle:], remaining).items()})
        return refused

    def _post(self, body: bytes, remaining: RemainingTime) -> _Answer:
        refreshed = False
        attempt = 0
        while True:
            wait: float | None = None
            try:
                answer = self._request(body, remaining)
            except HTTPError as error:
                problem = (
                    f"InfluxDB at {self.endpoint.split('/write')[0]} is unreachable: {type(error).__name__}"
                )
            else:
                if answer.status // 100 == 2 or answer.status in _REFUSED:
                    return answer
                if answer.status in (401, 403) and not refreshed:
                    self.credentials.refresh()  # the secret may have been rotated
                    refreshed = True
                    continue
                problem = f"InfluxDB answered {answer.status}: {answer.error}"
                if answer.status < 500 and answer.status != _THROTTLED:
                    raise InfluxUnavailable(problem)
                wait = answer.wait_seconds()
            if attempt >= len(self.retry_delays):
                raise InfluxUnavailable(problem)
            pause = self.retry_delays[attempt] if wait is None else wait
            if remaining() < pause + SAFETY_MARGIN:
                if wait is not None:
                    problem += f" (its Retry-After of {wait:g} s is past the invocation's remaining time)"
                raise InfluxUnavailable(problem)
            self.sleep(pause)
            attempt += 1

    def _request(self, body: bytes, remaining: RemainingTime) -> _Answer:
        read = max(0.5, min(READ_TIMEOUT, remaining() - SAFETY_MARGIN))
        response = self._connections.urlopen(
            "POST",
            self._path,
            body=body,
            headers=self._headers(self.credentials.get()),
            timeout=urllib3.Timeout(connect=CONNECT_TIMEOUT, read=read),
            retries=False,
            redirect=False,
        )
        status = response.status
        retry_after = response.headers.get("Retry-After") if status == _THROTTLED or status >= 500 else None
        return _Answer(status, response.data.decode("utf-8", errors="replace"), retry_after)

    def _headers(self, user: Credentials) -> dict[str, str]:
        """The request headers, made again only when the credentials change (rotation)."""
        if self._headers_for is not user:
            if user.token:
                headers = urllib3.make_headers(keep_alive=True)
                headers["Authorization"] = f"Token {user.token}"
            else:
                headers = urllib3.make_headers(basic_auth=f"{user.username}:{user.password}", keep_alive=True)
            headers["Content-Type"] = "text/plain; charset=utf-8"
            self._cached_headers, self._headers_for = headers, user
        return self._cached_headers


class WriteStream:
    """One keep-alive connection of `send`, spoken to directly: the request goes out in one piece and only a
    plain 204 is read back (http.client's request and response handling took three fifths of a write's CPU in
    the client, make profile). Whatever else comes (another status, a body, a closed connection), the answer
    says so, and the lines are written again through the pool, which reads every answer fully."""

    def __init__(self, host: str, port: int, tls: ssl.SSLContext | None) -> None:
        self.host, self.port, self.tls = host, port, tls
        self.sock: socket.socket | None = None

    def post(self, head: bytes, body: bytes, timeout: float) -> bool:
        """The request sent (False: it could not be, and the connection is closed)."""
        try:
            if self.sock is None:
                sock = socket.create_connection((self.host, self.port), timeout=min(timeout, CONNECT_TIMEOUT))
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                self.sock = self.tls.wrap_socket(sock, server_hostname=self.host) if self.tls else sock
            self.sock.settimeout(timeout)
            self.sock.sendall(head + body)
        except OSError:
            self.close()
            return False
        return True

    def written(self) -> tuple[bool, bool]:
        """(the store answered 204, the connection serves another request)."""
        answer, sock = b"", self.sock
        if sock is None:
            return False, False
        try:
            while b"\r\n\r\n" not in answer and len(answer) < MAX_ANSWER_HEAD:
                part = sock.recv(MAX_ANSWER_HEAD)
                if not part:
                    break
                answer += part
        except OSError:
            return False, False
        head, blank, rest = answer.partition(b"\r\n\r\n")
        if not blank or not head.startswith(b"HTTP/1.1 "):
            return False, False
        # A 204 has no body (RFC 9110, 15.3.5): anything after its head, or another status, leaves the
        # connection in a state only a full reading of the answer could tell.
        plain = head[9:13] == b"204 " or head[9:] == b"204"
        return plain, plain and not rest and b"\r\nconnection: close" not in head.lower()

    def close(self) -> None:
        if self.sock is not None:
            with contextlib.suppress(OSError):
                self.sock.close()
            self.sock = None


class SentWrite:
    """Lines sent by `InfluxWriter.send`; `result` reads the store's answer."""

    def __init__(
        self,
        writer: InfluxWriter,
        lines: Sequence[str],
        remaining: RemainingTime,
        connection: WriteStream | None,
    ) -> None:
        self.writer, self.lines, self.remaining, self.connection = writer, lines, remaining, connection

    def result(self) -> dict[int, str]:
        """What `InfluxWriter.write` returns for the lines: {} when the store took them all at once."""
        if self.connection is not None:
            connection, self.connection = self.connection, None
            written, reusable = connection.written()
            if reusable:
                self.writer._idle(connection)
            else:
                connection.close()
            if written:
                return {}
        return self.writer.write(self.lines, self.remaining)
