"""Runs InfluxQL over InfluxDB 1.x's HTTP API, as Grafana's data source does (GET /query, epoch=ms)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import requests


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


@dataclass
class InfluxReader:
    url: str
    database: str
    username: str
    password: str
    timeout: float = 30.0
    session: requests.Session = field(default_factory=requests.Session)

    def query(self, text: str) -> list[Series]:
        try:
            response = self.session.get(
                f"{self.url.rstrip('/')}/query",
                params={"db": self.database, "q": text, "epoch": "ms"},
                auth=(self.username, self.password),
                timeout=self.timeout,
            )
        except requests.RequestException as error:
            raise QueryError(
                f"InfluxDB at {self.url} is not reachable ({error}); is the sandbox up ('python -m sandbox up')?"
            ) from error
        body: dict[str, Any] = response.json() if response.content else {}
        if response.status_code != 200 or "error" in body:
            raise QueryError(
                f"InfluxDB answered {response.status_code} to {text!r}: {body.get('error', response.text)}"
            )
        series: list[Series] = []
        for result in body.get("results", []):
            if "error" in result:
                raise QueryError(f"InfluxDB refused {text!r}: {result['error']}")
            series.extend(
                Series(s.get("name", ""), s.get("tags") or {}, s["columns"], s.get("values") or [])
                for s in result.get("series", [])
            )
        return series
