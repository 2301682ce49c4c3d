"""InfluxQL queries for the tools and the tests, through the `influxdb` package (InfluxDB 1.x's HTTP API).

One way in: every reader of InfluxDB outside the ingest function (the demo's accounting, the local dashboard
render and alert evaluator, the tests) queries through here, with a user's credentials, the telemetry database and
timestamps in epoch milliseconds, as Grafana's data source does; `stream` reads a large SELECT in chunks, to
the nanosecond (moving the data to another store: ingest_tools/migrate_store.py). The function's own write path
keeps its own keep-alive pool (lambda/ingest_to_influxdb/influx_writer.py), which benchmarks/ showed faster.
Over HTTPS the server is verified: against `ca_file` (the sandbox's CA, endpoints.json's `influxdb.ca_file`) when
given, else against the system's roots; a server whose certificate neither signed is refused.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

import requests
from influxdb import InfluxDBClient
from influxdb.exceptions import InfluxDBClientError, InfluxDBServerError

from reach.endpoints import Endpoints

User = Literal["admin", "writer", "reader"]
EPOCH = "ms"


class QueryError(RuntimeError):
    """InfluxDB refused or failed a query; the message says which and why."""


@dataclass(frozen=True)
class Series:
    name: str
    tags: dict[str, str]
    columns: list[str]
    values: list[list[Any]]

    def column(self, name: str) -> list[Any]:
        index = self.columns.index(name)
        return [row[index] for row in self.values]


def _method(text: str) -> str:
    """InfluxDB 1.x takes SELECT and SHOW as GET and everything else as POST (the client itself posts a
    SELECT ... INTO)."""
    return "GET" if text.lstrip().upper().startswith(("SELECT", "SHOW")) else "POST"


@dataclass
class InfluxReader:
    url: str
    database: str
    username: str
    password: str
    timeout: float = 30.0
    ca_file: str | None = None
    session: requests.Session = field(default_factory=requests.Session)
    client: InfluxDBClient = field(init=False, repr=False)

    def __post_init__(self) -> None:
        parts = urlsplit(self.url)
        self.client = InfluxDBClient(
            host=parts.hostname or "127.0.0.1",
            port=parts.port or (443 if parts.scheme == "https" else 8086),
            username=self.username,
            password=self.password,
            database=self.database,
            ssl=parts.scheme == "https",
            verify_ssl=self.verify if parts.scheme == "https" else False,
            timeout=self.timeout,
            retries=1,  # one attempt: the caller says what to do when InfluxDB is not there
            path=parts.path.strip("/"),
            session=self.session,
        )

    @property
    def verify(self) -> str | bool:
        """What requests verifies the server with: the CA file, or the system's roots."""
        return self.ca_file or True

    @classmethod
    def of(cls, endpoints: Endpoints, user: User = "reader") -> InfluxReader:
        """A reader for the sandbox's InfluxDB with one of its users' credentials."""
        credentials = getattr(endpoints.influxdb.users, user)
        influx = endpoints.influxdb
        return cls(
            influx.url, influx.database, credentials.username, credentials.password, ca_file=influx.ca_file
        )

    def raw(self, text: str) -> list[dict[str, Any]]:
        """Every series of every statement's result, as InfluxDB sends them (name, tags, columns, values)."""
        try:
            answer = self.client.query(text, epoch=EPOCH, method=_method(text))
        except requests.RequestException as error:
            raise QueryError(
                f"InfluxDB at {self.url} is not reachable ({error}); is the sandbox up ('python -m sandbox up')?"
            ) from error
        except InfluxDBClientError as error:
            if error.code is None:  # an error inside a statement's result (the answer itself was 200)
                raise QueryError(f"InfluxDB refused {text!r}: {error.content}") from error
            raise QueryError(f"InfluxDB answered {error.code} to {text!r}: {error.content}") from error
        except InfluxDBServerError as error:
            raise QueryError(f"InfluxDB answered a server error to {text!r}: {error}") from error
        results = answer if isinstance(answer, list) else [answer]
        return [series for result in results for series in result.raw.get("series", [])]

    def stream(self, text: str, chunk_size: int, epoch: str = "ns") -> Iterator[dict[str, Any]]:
        """Every series of a large SELECT as InfluxDB streams it, in chunks of `chunk_size` points (a chunked answer
        is one JSON object a line, which the influxdb package cannot read with msgpack): memory stays bounded
        whatever the answer's size, and times keep their precision (ns by default)."""
        params = {
            "db": self.database,
            "q": text,
            "epoch": epoch,
            "chunked": "true",
            "chunk_size": str(chunk_size),
        }
        try:
            response = self.session.get(
                f"{self.url.rstrip('/')}/query",
                params=params,
                auth=(self.username, self.password),
                stream=True,
                timeout=self.timeout,
                verify=self.verify,
            )
            if response.status_code != 200:
                raise QueryError(
                    f"InfluxDB answered {response.status_code} to {text!r}: {response.text.strip()}"
                )
            for line in response.iter_lines():
                for result in json.loads(line).get("results", []) if line else []:
                    if "error" in result:
                        raise QueryError(f"InfluxDB refused {text!r}: {result['error']}")
                    yield from result.get("series", [])
        except requests.RequestException as error:
            raise QueryError(f"InfluxDB at {self.url} stopped answering ({error})") from error

    def query(self, text: str) -> list[Series]:
        return [
            Series(s.get("name", ""), s.get("tags") or {}, s["columns"], s.get("values") or [])
            for s in self.raw(text)
        ]


def query(endpoints: Endpoints, text: str, user: User = "reader") -> list[dict[str, Any]]:
    """The series `text` selects from the sandbox's InfluxDB, as InfluxDB sends them; QueryError if refused."""
    reader = InfluxReader.of(endpoints, user)
    try:
        return reader.raw(text)
    finally:
        reader.client.close()
