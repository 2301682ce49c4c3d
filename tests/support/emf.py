"""The metrics CloudWatch extracts from the function's embedded-metric-format lines."""

from __future__ import annotations

import json
from typing import Any


def extracted(lines: list[str]) -> list[tuple[str, str, dict[str, str], Any]]:
    """What CloudWatch takes out of EMF documents: (namespace, metric, dimensions, value) per metric and
    dimension set (the specification's extraction rules)."""
    out = []
    for line in lines:
        doc = json.loads(line)
        for directive in doc["_aws"]["CloudWatchMetrics"]:
            for dimension_set in directive["Dimensions"]:
                dimensions = {name: doc[name] for name in dimension_set}
                for metric in directive["Metrics"]:
                    out.append((directive["Namespace"], metric["Name"], dimensions, doc[metric["Name"]]))
    return out
