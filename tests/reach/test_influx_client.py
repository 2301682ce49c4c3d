"""InfluxDB is queried one way outside the ingest function: reach/influx.py, on the influxdb package."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from tests.source_tree import ROOT, offending_files, python_files, string_constants

HELPER = ROOT / "reach" / "influx.py"
CLIENT = re.compile(r"\bInfluxDBClient\b|^\s*(from|import) influxdb\b", re.MULTILINE)


def offences(source: str, strings: Sequence[tuple[int, str]] | None = None) -> list[str]:
    """What in `source` queries InfluxDB another way than through reach/influx.py."""
    found = [
        f"line {line}: {text!r}"
        for line, text in (strings or tuple(string_constants(source)))
        if "/query" in text
    ]
    return found + [f"its own client: {match.group(0).strip()}" for match in CLIENT.finditer(source)]


def test_no_module_but_the_helper_queries_influxdb() -> None:
    files = python_files(HELPER, Path(__file__).resolve())
    assert (
        ROOT / "sandbox" / "scenarios" / "accounting.py" in files
        and ROOT / "tests" / "support" / "readings.py" in files
    )
    problems = offending_files(files, offences)
    assert problems == {}, "query InfluxDB through reach.influx (query() or InfluxReader) only"


def test_the_check_finds_each_other_way_in() -> None:
    assert offences('requests.get(f"{influx.url}/query", params={"q": text})')
    assert offences('url = f"{endpoints.influxdb.url}/query?" + params')
    assert offences("from influxdb import InfluxDBClient")
    assert not offences('requests.post(f"{influx.url}/write", data=lines)')
