"""InfluxDB 1.x writes over one keep-alive HTTP pool per container: POST /write, precision=ns, basic auth.

2xx: written. 400 (a line it cannot take, a partial write, a field type conflict): the batch is split
until the refused points are found; they are returned, everything else is written (points are
idempotent: same series and time overwrite). 5xx, timeouts and connection errors are retried briefly
within the invocation's remaining time, then raise InfluxUnavailable, as do 401/403 (after fetching the
credentials once more) and 404: the readings are kept by the caller, never dropped.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from typing import Protocol
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
SAFETY_MARGIN = 1.0  # seconds left to the invocation for reporting back
_REFUSED = {400, 413}


class CredentialSource(Protocol):
    """What the writer needs from the secret (see secrets.SecretCredentials)."""

    def get(self) -> Credentials: ...

    def refresh(self) -> None: ...


class _Answer:
    def __init__(self, status: int, text: str) -> None:
        self.status, self.text = status, text

    @property
    def error(self) -> str:
        try:
            return str(json.loads(self.text)["error"])
        except (ValueError, KeyError, TypeError):
            return self.text.strip()[:500] or f"HTTP {self.status}"


class InfluxWriter:
    def __init__(
        self,
        url: str,
        database: str,
        credentials: CredentialSource,
        pool: urllib3.PoolManager | None = None,
        retry_delays: Sequence[float] = RETRY_DELAYS,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.endpoint = f"{url.rstrip('/')}/write?{urlencode({'db': database, 'precision': 'ns'})}"
        self.credentials = credentials
        self.pool = pool or urllib3.PoolManager(num_pools=2, maxsize=2, retries=False)
        # The one host's keep-alive pool, looked up once rather than per request.
        self._connections = self.pool.connection_from_url(self.endpoint)
        self._path = parse_url(self.endpoint).request_uri
        self._cached_headers: dict[str, str] = {}
        self._headers_for: Credentials | None = None
        self.retry_delays, self.sleep = retry_delays, sleep

    def write(self, lines: Sequence[str], remaining: RemainingTime) -> dict[int, str]:
        """Indices of the lines InfluxDB refused for good, with its error; raises InfluxUnavailable."""
        if not lines:
            return {}
        answer = self._post(lines, remaining)
        if answer.status // 100 == 2:
            return {}
        if len(lines) == 1:
            return {0: answer.error}
        middle = len(lines) // 2
        refused = self.write(lines[:middle], remaining)
        refused.update({middle + i: e for i, e in self.write(lines[middle:], remaining).items()})
        return refused

    def _post(self, lines: Sequence[str], remaining: RemainingTime) -> _Answer:
        body = "\n".join(lines).encode()
        refreshed = False
        attempt = 0
        while True:
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
                if answer.status < 500:
                    raise InfluxUnavailable(problem)
            if attempt >= len(self.retry_delays) or remaining() < self.retry_delays[attempt] + SAFETY_MARGIN:
                raise InfluxUnavailable(problem)
            self.sleep(self.retry_delays[attempt])
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
        return _Answer(response.status, response.data.decode("utf-8", errors="replace"))

    def _headers(self, user: Credentials) -> dict[str, str]:
        """The request headers, made again only when the credentials change (rotation)."""
        if self._headers_for is not user:
            headers = urllib3.make_headers(basic_auth=f"{user.username}:{user.password}", keep_alive=True)
            headers["Content-Type"] = "text/plain; charset=utf-8"
            self._cached_headers, self._headers_for = headers, user
        return self._cached_headers
