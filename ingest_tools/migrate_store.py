"""`python -m ingest_tools.migrate_store`: copy the points of an InfluxDB 1.x store (the ECS store) into another
store through its write API, retention policy by retention policy, measurement by measurement.

The source is read over its HTTP query API (InfluxQL, `GROUP BY *` so every tag comes back, results streamed in
chunks, times in nanoseconds) with the field types `SHOW FIELD KEYS` gives, so each point is written back exactly:
same measurement, tags, field types and time. The target is written through the 1.x-compatible `/write` endpoint,
which InfluxDB 1.x serves with Basic authentication and InfluxDB 2.x (Timestream for InfluxDB) with a token and its
DBRP mappings (database and retention policy to bucket), in batches of `--batch` lines (InfluxData advises 5,000 to
10,000).

Nothing is lost silently: a batch the target refuses as bad input (400) is kept in the rejects file with the
store's answer and counted; a batch too large (413) is split; 429 and 5xx answers and dropped connections are
retried with back-off (honouring Retry-After), then the run stops naming the measurement it was at. A point
written twice is the same point (same series and time), so a stopped run is simply run again.

Credentials come from the environment, never the command line: MIGRATE_SOURCE_USER / MIGRATE_SOURCE_PASSWORD, and
MIGRATE_TARGET_TOKEN or MIGRATE_TARGET_USER / MIGRATE_TARGET_PASSWORD; or from a Secrets Manager secret of the
roles' shape ({"username", "password"} or {"token"}) with --source-secret / --target-secret.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from infrastructure.stacks import influxdb
from reach.influx import InfluxReader, QueryError

DEFAULT_BATCH = 5_000
RETRIES = 5
TIMEOUT_SECONDS = 60.0


class MigrationError(RuntimeError):
    """The migration cannot go on; the message says where it stopped and what to do."""


@dataclass(frozen=True)
class Credentials:
    """A token (InfluxDB 2.x and 3.x) or a username and password (InfluxDB 1.x)."""

    token: str = ""
    username: str = ""
    password: str = ""

    def header(self) -> dict[str, str]:
        if self.token:
            return {"Authorization": f"Token {self.token}"}
        if self.username:
            pair = f"{self.username}:{self.password}".encode()
            return {"Authorization": "Basic " + base64.b64encode(pair).decode()}
        return {}

    @classmethod
    def from_secret(cls, text: str) -> Credentials:
        value = json.loads(text)
        if not isinstance(value, dict):
            raise MigrationError("the secret is not a JSON object with a token or a username and password")
        return cls(
            str(value.get("token", "")), str(value.get("username", "")), str(value.get("password", ""))
        )


# -- line protocol (InfluxDB line protocol reference: special characters and escaping) ---------------------------
def _escape(text: str, special: str) -> str:
    for char in special:
        text = text.replace(char, "\\" + char)
    return text


def _field_value(value: Any, kind: str) -> str:
    if kind == "integer" or (kind == "" and isinstance(value, int) and not isinstance(value, bool)):
        return f"{int(value)}i"
    if kind == "boolean" or isinstance(value, bool):
        return "true" if value else "false"
    if kind == "string" or isinstance(value, str):
        return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'
    return repr(float(value))


def line(measurement: str, tags: Mapping[str, str], fields: Mapping[str, tuple[Any, str]], ns: int) -> str:
    """One point as line protocol; `fields` maps each field to its value and InfluxDB type."""
    head = _escape(measurement, ", ")
    for key in sorted(tags):
        if tags[key] != "":  # an empty tag value is no tag (GROUP BY * reports absent tags as "")
            head += f",{_escape(key, ',= ')}={_escape(tags[key], ',= ')}"
    body = ",".join(f"{_escape(name, ',= ')}={_field_value(v, kind)}" for name, (v, kind) in fields.items())
    return f"{head} {body} {ns}"


# -- reading the source ---------------------------------------------------------------------------------------------
@dataclass
class Source:
    """The 1.x store, queried through reach/influx.py's reader (the project's one way to query InfluxDB)."""

    url: str
    database: str
    credentials: Credentials
    ca_file: str | None = None  # the CA of an https store's certificate; None: the system's roots
    reader: InfluxReader = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.reader = InfluxReader(
            self.url,
            self.database,
            self.credentials.username,
            self.credentials.password,
            TIMEOUT_SECONDS,
            ca_file=self.ca_file,
        )

    def _query(self, text: str, chunked: bool = False) -> Iterator[dict[str, Any]]:
        try:
            if chunked:  # streamed in chunks of points, times in nanoseconds: written back exactly as stored
                yield from self.reader.stream(text, DEFAULT_BATCH)
            else:
                yield from self.reader.raw(text)
        except QueryError as error:
            raise MigrationError(f"the source: {error}") from None

    def retention_policies(self) -> list[str]:
        return [
            row[0]
            for s in self._query(f'SHOW RETENTION POLICIES ON "{self.database}"')
            for row in s["values"]
        ]

    def measurements(self, rp: str) -> list[str]:
        # SHOW MEASUREMENTS has no retention-policy clause: every measurement is tried in each policy.
        return [row[0] for s in self._query("SHOW MEASUREMENTS") for row in s.get("values", [])]

    def field_types(self, rp: str, measurement: str) -> dict[str, str]:
        found: dict[str, str] = {}
        for series in self._query(f'SHOW FIELD KEYS FROM "{rp}"."{measurement}"'):
            for name, kind in series.get("values", []):
                found[name] = "" if name in found and found[name] != kind else kind  # "": differs by shard
        return found

    def points(self, rp: str, measurement: str, since: str | None, until: str | None) -> Iterator[str]:
        types = self.field_types(rp, measurement)
        if not types:
            return
        where = " AND ".join(
            clause
            for clause in (f"time >= '{since}'" if since else "", f"time < '{until}'" if until else "")
            if clause
        )
        text = f'SELECT * FROM "{rp}"."{measurement}"' + (f" WHERE {where}" if where else "") + " GROUP BY *"
        for series in self._query(text, chunked=True):
            columns = series["columns"]
            tags = series.get("tags") or {}
            for row in series["values"]:
                fields = {
                    name: (value, types.get(name, ""))
                    for name, value in zip(columns[1:], row[1:], strict=True)
                    if value is not None and name in types
                }
                if fields:
                    yield line(measurement, tags, fields, int(row[0]))


# -- writing the target ---------------------------------------------------------------------------------------------
@dataclass
class Tally:
    read: int = 0
    written: int = 0
    refused: int = 0


@dataclass
class Target:
    url: str
    database: str
    credentials: Credentials
    rejects: Path
    sleep: Callable[[float], None] = time.sleep
    session: requests.Session = field(default_factory=requests.Session)
    ca_file: str | None = None  # the CA of an https store's certificate; None: the system's roots

    def write(self, rp: str, lines: Sequence[str], tally: Tally) -> None:
        """Writes `lines`, splitting on 413, retrying 429/5xx; a 400 keeps them in the rejects file."""
        body = "\n".join(lines).encode()
        for attempt in range(RETRIES):
            try:
                response = self.session.post(
                    f"{self.url}/write",
                    params={"db": self.database, "rp": rp, "precision": "ns"},
                    data=body,
                    headers={**self.credentials.header(), "Content-Type": "text/plain; charset=utf-8"},
                    timeout=TIMEOUT_SECONDS,
                    # per request: a session's own `verify` loses to REQUESTS_CA_BUNDLE (psf/requests#4650)
                    verify=self.ca_file or True,
                )
            except requests.RequestException as error:
                answer, wait = f"no answer ({error})", 2.0**attempt
            else:
                if response.status_code in (200, 204):
                    tally.written += len(lines)
                    return
                if response.status_code == 413 and len(lines) > 1:
                    half = len(lines) // 2
                    self.write(rp, lines[:half], tally)
                    self.write(rp, lines[half:], tally)
                    return
                if response.status_code == 400:
                    self.keep(rp, lines, response.text.strip())
                    tally.refused += len(lines)
                    return
                answer = f"{response.status_code} {response.text.strip()[:300]}"
                if response.status_code != 429 and response.status_code < 500:
                    raise MigrationError(f"the target {self.url} answered {answer}")
                wait = float(response.headers.get("Retry-After") or 2.0**attempt)
            if attempt + 1 < RETRIES:
                self.sleep(wait)
        raise MigrationError(f"the target {self.url} kept answering {answer} after {RETRIES} attempts")

    def keep(self, rp: str, lines: Sequence[str], answer: str) -> None:
        with self.rejects.open("a", encoding="utf-8") as out:
            out.write(f"# rp={rp} refused: {answer}\n")
            out.writelines(text + "\n" for text in lines)


@dataclass
class FileSink:
    """Line protocol into a file, each retention policy's lines after a `# CONTEXT-RETENTION-POLICY:` line, as
    `influx_inspect export` writes them: the export side, for a copy that outlives the ECS store's task."""

    path: Path
    database: str
    _rp: str | None = None

    def write(self, rp: str, lines: Sequence[str], tally: Tally) -> None:
        with self.path.open("a", encoding="utf-8") as out:
            if self._rp is None:
                out.write(f"# CONTEXT-DATABASE: {self.database}\n")
            if rp != self._rp:
                out.write(f"# CONTEXT-RETENTION-POLICY: {rp}\n")
                self._rp = rp
            out.writelines(text + "\n" for text in lines)
        tally.written += len(lines)


Point = tuple[str, str, str]  # retention policy, measurement, line


def export_points(
    source: Source, rps: Sequence[str], since: str | None, until: str | None
) -> Iterator[Point]:
    for rp in rps or source.retention_policies():
        for measurement in source.measurements(rp):
            for text in source.points(rp, measurement, since, until):
                yield rp, measurement, text


def measurement_of(text: str) -> str:
    """The measurement of a line: up to its first comma or space that is not escaped."""
    escaped = False
    for index, char in enumerate(text):
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char in ", ":
            return text[:index].replace("\\", "")
    return text


def file_points(path: Path, rp: str) -> Iterator[Point]:
    """The lines of a file written by --out or by `influx_inspect export` (its CONTEXT comments name the
    retention policy; the DDL and DML headers and other comments are skipped)."""
    with path.open(encoding="utf-8") as source:
        for raw in source:
            text = raw.rstrip("\n")
            if text.startswith("# CONTEXT-RETENTION-POLICY:"):
                rp = text.split(":", 1)[1].strip()
            elif text and not text.startswith(("#", "CREATE ")):
                yield rp, measurement_of(text), text


def copy(
    points: Iterator[Point],
    sink: Target | FileSink,
    batch: int = DEFAULT_BATCH,
    report: Callable[[str, str, Tally], None] = lambda rp, m, t: None,
) -> dict[tuple[str, str], Tally]:
    """Every point into `sink`, in batches of one retention policy and measurement each."""
    tallies: dict[tuple[str, str], Tally] = {}
    pending: list[str] = []
    key: tuple[str, str] | None = None

    def flush() -> None:
        if key is not None and pending:
            try:
                sink.write(key[0], pending, tallies[key])
            except MigrationError as error:
                raise MigrationError(
                    f"{error}; stopped at {key[0]}.{key[1]} after {tallies[key].written} of its points (run it "
                    "again: a point written twice is the same point)"
                ) from None
            pending.clear()

    for rp, measurement, text in points:
        if (rp, measurement) != key:
            flush()
            if key is not None:
                report(*key, tallies[key])
            key = (rp, measurement)
            tallies.setdefault(key, Tally())
        tallies[key].read += 1
        pending.append(text)
        if len(pending) >= batch:
            flush()
    flush()
    if key is not None:
        report(*key, tallies[key])
    return tallies


def credentials(prefix: str, secret: str | None) -> Credentials:
    if secret:
        import boto3  # only when a secret is named: the local run needs no AWS client

        return Credentials.from_secret(
            boto3.client("secretsmanager").get_secret_value(SecretId=secret)["SecretString"]
        )
    env = os.environ
    return Credentials(
        env.get(f"MIGRATE_{prefix}_TOKEN", ""),
        env.get(f"MIGRATE_{prefix}_USER", ""),
        env.get(f"MIGRATE_{prefix}_PASSWORD", ""),
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m ingest_tools.migrate_store", description=__doc__.split("\n")[0]
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--source-url", help="the InfluxDB 1.x store, e.g. http://influx.demo:8086")
    source.add_argument(
        "--source-file", type=Path, help="line protocol written by --out or influx_inspect export"
    )
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--target-url", help="the store to write into (its 1.x-compatible /write endpoint)")
    target.add_argument(
        "--out", type=Path, help="write line protocol into this file instead (the export side)"
    )
    parser.add_argument(
        "--database", default=influxdb.DATABASE, help=f"the source's database (default {influxdb.DATABASE})"
    )
    parser.add_argument(
        "--target-database",
        help="the target's database (on 2.x: its DBRP mapping's name; default: --database)",
    )
    parser.add_argument(
        "--rp", action="append", default=[], help="a retention policy (repeatable; default: all)"
    )
    parser.add_argument("--since", help="only points at or after this RFC 3339 time")
    parser.add_argument("--until", help="only points before this RFC 3339 time")
    parser.add_argument("--batch", type=int, default=DEFAULT_BATCH, help="lines per write (default 5,000)")
    parser.add_argument(
        "--source-secret", help="Secrets Manager secret with the source's username and password"
    )
    parser.add_argument(
        "--target-secret", help="Secrets Manager secret with the target's token (or user, password)"
    )
    parser.add_argument("--source-ca-file", help="the CA the source's HTTPS certificate is verified against")
    parser.add_argument("--target-ca-file", help="the CA the target's HTTPS certificate is verified against")
    parser.add_argument(
        "--rejects", type=Path, default=Path("migrate-rejects.lp"), help="where refused lines go"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.batch < 1:
        print("error: --batch must be 1 or more", file=sys.stderr)
        return 2
    if args.source_file is not None and not args.source_file.is_file():
        print(f"error: {args.source_file} is not a file", file=sys.stderr)
        return 2
    sink: Target | FileSink
    if args.out is not None:
        sink = FileSink(args.out, args.target_database or args.database)
    else:
        sink = Target(
            args.target_url.rstrip("/"),
            args.target_database or args.database,
            credentials("TARGET", args.target_secret),
            args.rejects,
            ca_file=args.target_ca_file,
        )

    def report(rp: str, measurement: str, tally: Tally) -> None:
        print(f"{rp}.{measurement}: read {tally.read}, written {tally.written}, refused {tally.refused}")

    try:
        if args.source_file is not None:
            points = file_points(args.source_file, (args.rp or ["autogen"])[0])
        else:
            source = Source(
                args.source_url.rstrip("/"),
                args.database,
                credentials("SOURCE", args.source_secret),
                ca_file=args.source_ca_file,
            )
            points = export_points(source, args.rp, args.since, args.until)
        tallies = copy(points, sink, args.batch, report)
    except MigrationError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    refused = sum(t.refused for t in tallies.values())
    print(
        f"total: read {sum(t.read for t in tallies.values())}, written {sum(t.written for t in tallies.values())}, "
        f"refused {refused}" + (f" (kept in {args.rejects})" if refused else "")
    )
    return 1 if refused else 0


if __name__ == "__main__":
    sys.exit(main())
