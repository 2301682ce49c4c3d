"""Where every reading went: written to InfluxDB, rejected, in the dead letters, or lost."""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request
from base64 import b64encode
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import boto3

from catalog import Catalog, load_catalog
from sandbox.endpoints import Endpoints


def measurements(catalog: Catalog) -> dict[str, str]:
    """The measurement of each device kind, and a field every point of it has (for count())."""
    return {kind.measurement: next(iter(kind.fields)) for kind in catalog}


def influx_query(endpoints: Endpoints, query: str) -> dict[str, object]:
    reader = endpoints.influxdb.users.reader
    params = urllib.parse.urlencode({"db": endpoints.influxdb.database, "q": query, "epoch": "ms"})
    token = b64encode(f"{reader.username}:{reader.password}".encode()).decode()
    request = urllib.request.Request(
        f"{endpoints.influxdb.url}/query?{params}", headers={"Authorization": f"Basic {token}"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        result: dict[str, object] = json.loads(response.read())
    return result


def count_points(
    endpoints: Endpoints, since: datetime, until: datetime, catalog: Catalog | None = None
) -> dict[str, int]:
    """Points per measurement of the catalog's kinds whose device time lies in [since, until]."""
    window = f"time >= {int(since.timestamp() * 1000)}ms AND time <= {int(until.timestamp() * 1000)}ms"
    counts = {}
    for measurement, field in measurements(catalog or load_catalog()).items():
        result = influx_query(endpoints, f'SELECT count("{field}") FROM "{measurement}" WHERE {window}')
        series = result["results"][0].get("series", [])  # type: ignore[index]
        counts[measurement] = int(series[0]["values"][0][1]) if series else 0
    return counts


def queue_depth(queue_url: str) -> int:
    """Messages in a queue, visible or being received."""
    attributes = boto3.client("sqs").get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return sum(int(value) for value in attributes.values())


@dataclass(frozen=True)
class Accounting:
    sent: int
    written: int
    rejected: int
    dead_letters: int

    @property
    def lost(self) -> int:
        return self.sent - self.written - self.rejected - self.dead_letters


def wait_until_settled(read: Callable[[], object], timeout: float = 60.0, quiet: float = 1.0) -> bool:
    """Wait until `read()` gives the same value for `quiet` seconds; False if the timeout passes first."""
    deadline = time.monotonic() + timeout
    last, since = read(), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.2)
        current = read()
        if current != last:
            last, since = current, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return True
    return False
