"""Writes line protocol to InfluxDB 1.x over one keep-alive HTTP pool per container."""

from __future__ import annotations

import time
from base64 import b64encode
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlencode

import urllib3

from ingest_to_influxdb.credentials import Credentials
from ingest_to_influxdb.errors import TransientError

RETRY_DELAYS = (0.2, 0.5, 1.0)  # within the invocation; Lambda and SQS retry beyond that


class WriteRefused(ValueError):
    """InfluxDB refused the points themselves (HTTP 400): writing them again will not help."""


@dataclass(frozen=True)
class WriteTarget:
    url: str
    database: str
    credentials: Credentials


class InfluxWriter:
    def __init__(self, target: WriteTarget, timeout_seconds: float) -> None:
        self.endpoint = f"{target.url}/write?" + urlencode({"db": target.database, "precision": "ns"})
        token = b64encode(f"{target.credentials.username}:{target.credentials.password}".encode()).decode()
        self.headers = {"Authorization": f"Basic {token}", "Content-Type": "text/plain; charset=utf-8"}
        self.http = urllib3.PoolManager(
            maxsize=2,
            retries=False,
            timeout=urllib3.Timeout(connect=min(2.0, timeout_seconds), read=timeout_seconds),
        )

    def write(self, lines: list[str], remaining_seconds: Callable[[], float] = lambda: 60.0) -> None:
        """One request for all lines. Raises WriteRefused (bad points) or TransientError (after retries)."""
        body = "\n".join(lines).encode()
        for attempt, delay in enumerate((*RETRY_DELAYS, None)):
            try:
                response = self.http.request("POST", self.endpoint, body=body, headers=self.headers)
            except urllib3.exceptions.HTTPError as error:
                problem = f"InfluxDB is unreachable: {type(error).__name__}"
            else:
                if response.status == 204:
                    return
                message = response.data.decode(errors="replace")[:300]
                if response.status == 400:
                    raise WriteRefused(f"InfluxDB refused the points: {message}")
                problem = f"InfluxDB answered {response.status}: {message}"
            # Leave time for the rejections and the function's own bookkeeping before the timeout.
            if delay is None or remaining_seconds() < delay + 3.0:
                raise TransientError(f"{problem} (after {attempt + 1} attempts)")
            time.sleep(delay)
