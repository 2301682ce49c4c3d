"""A cold start's import of the ingest function's handler module, in a fresh interpreter each time (as Lambda's
runtime imports it in a new container): its wall time, and msgspec's part (what the compiled checks add)."""

from __future__ import annotations

import re
import statistics
import subprocess
import sys
from typing import Any

from benchmarks.figures import spread

HANDLER = "ingest_to_influxdb.handler"
MSGSPEC = "msgspec"  # what the compiled checks add to the imports
RUNS = 5


def _import_microseconds() -> dict[str, int]:
    """Cumulative import time (µs) of each module, from `python -X importtime` in a new process."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {HANDLER}"],
        capture_output=True,
        text=True,
        check=True,
    )
    found = {}
    for line in result.stderr.splitlines():
        match = re.match(r"import time:\s+\d+ \|\s+(\d+) \|\s+(\S+)", line)
        if match:
            found[match.group(2)] = int(match.group(1))
    return found


def measure(runs: int = RUNS) -> dict[str, Any]:
    samples = [_import_microseconds() for _ in range(runs)]
    handler = [s[HANDLER] / 1000 for s in samples]
    added = [s.get(MSGSPEC, 0) / 1000 for s in samples]
    return {
        "name": "cold start: import of the handler module",
        "runs": runs,
        "handler_import_ms": spread(handler),
        "msgspec_import_ms": round(statistics.median(added), 1),
        "note": "python -X importtime, a new interpreter a run; the first invocation then builds the Structs"
        " (ingest_to_influxdb.compiled.checks)",
    }
