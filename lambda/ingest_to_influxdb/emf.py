"""CloudWatch embedded-metric-format (EMF) documents that say something only when they have something to say.

What an invocation did goes out in as few documents as its dimensions allow (one for a direct reading): a
metric that is zero is not printed (the alarms on these metrics treat missing data as not breaching), and
several metrics share one document. What every invocation has - readings written by kind, the write's latency
- is held by the container and printed at most once per `HOLD_SECONDS` or `HOLD_VALUES` samples, whichever
comes first: on the direct path that is one document per 100 invocations instead of one per invocation. A
container recycled in between loses what it held (at most a minute of written counts and latency samples);
no alarm reads those, and the Ingest health dashboard counts written readings from InfluxDB, not from them.
Counts an alarm or an operator acts on (rejected, failed, metadata misses, dropped attributes, ...) are
printed in the invocation that saw them.

Written by hand rather than with Powertools' provider: one document may carry several metric directives, each
with its own dimension set (the EMF specification allows it; Powertools prints one set per document).
Specification: https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html

Each document carries a `level` equal to the function's application log level (`AWS_LAMBDA_LOG_LEVEL`, set by
Lambda from the function's LoggingConfig): with Lambda's log-level filtering a JSON line without a `level`
counts as INFO and is dropped under WARN or ERROR; a line at exactly the configured level is always kept
(https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs-log-level.html).
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from typing import Any

HOLD_SECONDS = (
    60.0  # CloudWatch's standard resolution: held counts still land in the right minute or the next
)
HOLD_VALUES = 100  # the most values one EMF metric may carry
LEVEL_VARIABLE = "AWS_LAMBDA_LOG_LEVEL"  # what Lambda sets from LoggingConfig.ApplicationLogLevel
DEFAULT_LEVEL = "INFO"  # Lambda's application level when none is configured

Dimension = tuple[str, str] | None  # (name, value) beside `service`; None: `service` alone
_Key = tuple[str, str, str, str]  # dimension name ("" for none), dimension value, metric name, unit


def log_level() -> str:
    return os.environ.get(LEVEL_VARIABLE) or DEFAULT_LEVEL


class EmbeddedMetrics:
    """Metrics of one namespace and service; `flush` prints the documents due and returns them."""

    def __init__(
        self,
        namespace: str,
        service: str,
        clock: Callable[[], float] = time.time,
        hold_seconds: float = HOLD_SECONDS,
        hold_values: int = HOLD_VALUES,
    ) -> None:
        self.namespace, self.service, self.clock = namespace, service, clock
        self.hold_seconds, self.hold_values = hold_seconds, hold_values
        self._now: dict[_Key, float] = {}
        self._held_counts: dict[_Key, float] = {}
        self._held_values: dict[_Key, list[float]] = {}
        self._held_since: float | None = None

    def add(self, name: str, value: float, unit: str = "Count", dimension: Dimension = None) -> None:
        """A count printed with this invocation's documents; zero is nothing to say."""
        if value:
            key = _key(name, unit, dimension)
            self._now[key] = self._now.get(key, 0) + value

    def hold(self, name: str, value: float, unit: str = "Count", dimension: Dimension = None) -> None:
        """A count summed in the container until the held metrics are due."""
        if value:
            key = _key(name, unit, dimension)
            self._held_counts[key] = self._held_counts.get(key, 0) + value
            self._start_holding()

    def sample(self, name: str, value: float, unit: str, dimension: Dimension = None) -> None:
        """One value of a distribution (a latency), kept in the container until the held metrics are due."""
        self._held_values.setdefault(_key(name, unit, dimension), []).append(round(value, 3))
        self._start_holding()

    def _start_holding(self) -> None:
        if self._held_since is None:
            self._held_since = self.clock()

    def _held_due(self) -> bool:
        if self._held_since is None:
            return False
        if self.clock() - self._held_since >= self.hold_seconds:
            return True
        return any(len(values) >= self.hold_values for values in self._held_values.values())

    def flush(self, everything: bool = False) -> list[str]:
        """Print this invocation's metrics, with the held ones when due (or `everything`); the lines printed."""
        entries: dict[_Key, Any] = dict(self._now)
        self._now.clear()
        if self._held_since is not None and (everything or self._held_due()):
            for key, count in self._held_counts.items():
                entries[key] = entries.get(key, 0) + count
            for key, values in self._held_values.items():
                entries[key] = values if len(values) > 1 else values[0]
            self._held_counts, self._held_values, self._held_since = {}, {}, None
        if not entries:
            return []
        lines = [
            json.dumps(document, separators=(",", ":"))
            for document in self._documents(entries, int(self.clock() * 1000))
        ]
        out = sys.stdout  # looked up now: Lambda's stdout, or whatever a test or the bench put in its place
        out.write("".join(line + "\n" for line in lines))
        return lines

    def clear(self) -> None:
        self._now.clear()
        self._held_counts, self._held_values, self._held_since = {}, {}, None

    def _documents(self, entries: dict[_Key, Any], timestamp_ms: int) -> list[dict[str, Any]]:
        """As few documents as the dimensions allow: one document holds one value per dimension name and one
        value per metric name."""
        groups: dict[tuple[str, str], list[tuple[str, str, Any]]] = {}
        for (dim_name, dim_value, name, unit), value in sorted(entries.items()):
            groups.setdefault((dim_name, dim_value), []).append((name, unit, value))
        documents: list[dict[str, Any]] = []
        for (dim_name, dim_value), metrics in groups.items():
            names = {name for name, _, _ in metrics}
            document = next(
                (d for d in documents if (not dim_name or dim_name not in d) and not names & d.keys()),
                None,
            )
            if document is None:
                document = {
                    "_aws": {"Timestamp": timestamp_ms, "CloudWatchMetrics": []},
                    "level": log_level(),
                    "service": self.service,
                }
                documents.append(document)
            dimensions = ["service", dim_name] if dim_name else ["service"]
            document["_aws"]["CloudWatchMetrics"].append(
                {
                    "Namespace": self.namespace,
                    "Dimensions": [dimensions],
                    "Metrics": [{"Name": name, "Unit": unit} for name, unit, _ in metrics],
                }
            )
            if dim_name:
                document[dim_name] = dim_value
            for name, _, value in metrics:
                document[name] = value
        return documents


def _key(name: str, unit: str, dimension: Dimension) -> _Key:
    return ("", "", name, unit) if dimension is None else (dimension[0], dimension[1], name, unit)
