"""`python -m ingest_tools.load_metadata FILE`: device metadata from JSON or CSV into the table.

Every row is checked first; if any is bad, the bad rows are listed with their line numbers and
nothing is loaded, so a table is never left half-loaded by a file with a mistake in it.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import os
import sys
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import boto3
from ingest_to_influxdb.constants import MAX_METAKEY_LENGTH, MAX_TAG_KEY_LENGTH, MAX_TAG_VALUE_LENGTH, METAKEY
from ingest_to_influxdb.line_protocol import unrepresentable
from rich.console import Console

from infrastructure.stacks import ingest
from ingest_tools.tooling import locate


@dataclass(frozen=True)
class Row:
    line: int
    item: object
    problem: str | None = None  # found while reading the file


class FileError(ValueError):
    """The file as a whole cannot be read (not JSON, not a list, no header)."""


def read_json(text: str) -> list[Row]:
    try:
        data = json.loads(text)
    except ValueError as error:
        raise FileError(f"not valid JSON: {error}") from None
    if not isinstance(data, list):
        raise FileError(f"expected a JSON list of metadata items, found a {type(data).__name__}")
    decoder, rows, position = json.JSONDecoder(), [], text.index("[") + 1
    for _ in data:  # decode item by item to know the line each one starts on
        while text[position] in " \t\r\n,":
            position += 1
        item, end = decoder.raw_decode(text, position)
        rows.append(Row(text.count("\n", 0, position) + 1, item))
        position = end
    return rows


def read_csv(text: str) -> list[Row]:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    if not reader.fieldnames or METAKEY not in reader.fieldnames:
        raise FileError(f"the first line must be a header naming the columns, {METAKEY} among them")
    rows = []
    for row in reader:
        if None in row:
            rows.append(Row(reader.line_num, None, "more cells than the header has columns"))
            continue
        # Empty cells are absent attributes, not empty strings.
        rows.append(Row(reader.line_num, {k: v for k, v in row.items() if v not in (None, "")}))
    return rows


def read_rows(path: Path) -> list[Row]:
    text = path.read_text(encoding="utf-8")
    return read_csv(text) if path.suffix.lower() == ".csv" else read_json(text)


def problems_of(row: Row, seen: dict[str, int]) -> list[str]:
    item = row.item
    if row.problem:
        return [row.problem]
    if not isinstance(item, dict):
        return [f"an item must be an object of attributes, not a {type(item).__name__}"]
    found = []
    key = item.get(METAKEY)
    if not isinstance(key, str) or not key.strip():
        found.append(f'{METAKEY} is missing or not a string (write it in quotes: "123456789")')
    elif len(key) > MAX_METAKEY_LENGTH:
        found.append(f"{METAKEY} is longer than {MAX_METAKEY_LENGTH} characters")
    elif key in seen:
        found.append(f"{METAKEY} {key!r} is already on line {seen[key]}")
    else:
        seen[key] = row.line
    for name, value in item.items():
        if name == METAKEY:
            continue
        problem = unrepresentable(name)
        if problem or len(name) > MAX_TAG_KEY_LENGTH:
            found.append(f"the attribute name {name!r} {problem or f'is longer than {MAX_TAG_KEY_LENGTH}'}")
        elif name.lower() == "time" or name.startswith("_"):
            found.append(f"the attribute name {name!r} is reserved by InfluxDB and would never become a tag")
        if isinstance(value, bool) or value is None:
            continue
        if isinstance(value, float) and not math.isfinite(value):
            found.append(f"{name} is {value!r}; a number must be finite")
        elif isinstance(value, str):
            problem = unrepresentable(value) if value else None
            if problem or len(value) > MAX_TAG_VALUE_LENGTH:
                found.append(f"{name} {problem or f'is longer than {MAX_TAG_VALUE_LENGTH} characters'}")
        elif not isinstance(value, int | float):
            found.append(
                f"{name} is a {type(value).__name__}; only strings, numbers and booleans become tags"
            )
    return found


def _dynamodb_item(item: dict[str, Any]) -> dict[str, Any]:
    """DynamoDB takes numbers as Decimal."""
    return {k: Decimal(str(v)) if isinstance(v, float) else v for k, v in item.items() if v is not None}


def load(path: Path, table_name: str, console: Console) -> int:
    try:
        rows = read_rows(path)
    except (FileError, OSError, UnicodeDecodeError) as error:
        console.print(f"[red]cannot read {path}:[/] {error}")
        return 1
    seen: dict[str, int] = {}
    bad = [(row.line, problem) for row in rows for problem in problems_of(row, seen)]
    if bad:
        for line, problem in bad:
            console.print(f"[red]{path}:{line}:[/] {problem}")
        console.print(f"[red]nothing loaded:[/] fix the {len(bad)} problem(s) above and run again")
        return 1
    table = boto3.resource("dynamodb").Table(table_name)
    with table.batch_writer(overwrite_by_pkeys=[METAKEY]) as writer:
        for row in rows:
            assert isinstance(row.item, dict)
            writer.put_item(Item=_dynamodb_item(row.item))
    console.print(f"loaded {len(rows)} items from {path} into {table_name}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ingest_tools.load_metadata", description=__doc__)
    parser.add_argument("file", type=Path, help="a JSON list of items, or a CSV file with a header row")
    parser.add_argument("--table", help="the table (default: the ingest stack's MetadataTableName)")
    parser.add_argument("--environment", default="demo")
    parser.add_argument(
        "--endpoints", type=Path, help="the sandbox's endpoints.json (default .sandbox/endpoints.json)"
    )
    parser.add_argument(
        "--aws", action="store_true", help="load into AWS (standard credentials), not the sandbox"
    )
    args = parser.parse_args(argv)
    console = Console(soft_wrap=True)
    if not args.file.exists():
        console.print(f"[red]{args.file} does not exist[/]")
        return 1
    if args.table and not args.endpoints and (args.aws or "AWS_ENDPOINT_URL" in os.environ):
        table = args.table  # the caller already chose where boto3 goes
    else:
        deployment = locate(args.environment, args.endpoints, args.aws, need_stack=not args.table)
        table = args.table or deployment.outputs[ingest.METADATA_TABLE_NAME.output]
    return load(args.file, table, console)


if __name__ == "__main__":
    sys.exit(main())
