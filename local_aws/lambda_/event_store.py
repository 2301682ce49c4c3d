"""The local stand-in for Lambda's asynchronous event queue: events on disk, so a crash of the runner loses none.

On AWS, an asynchronous invocation (the IoT rule's Lambda action) is accepted into Lambda's own durable
queue before IoT Core is done with the message; the function then runs it, retries it and, when the
retries are used up, sends it to the on-failure destination. Locally the rule runner acknowledges a
reading to the broker only after its event is committed here (SQLite in WAL mode under the sandbox
folder), and removes it only once it was delivered or handed to the on-failure destination.

Each event is kept as the JSON text Lambda would get (encoded once, by the runner, before it is stored), so
what is stored and what a container decodes are the same bytes, and nothing here walks an event's shape.

A claim counts as an invocation made, on disk, before the invocation starts: an event that was running when
the runner died runs once more after a restart (at least once, as on AWS; a point written twice replaces
itself in InfluxDB), but an event that kills the runner every time it runs uses up its attempts like any other
failure and goes to the on-failure destination, instead of stopping every restart. The last error of an
event that failed is kept with it, for that destination's record.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from local_aws.sqlite_store import SqliteStore, transaction

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    function TEXT NOT NULL,
    body TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    due REAL NOT NULL DEFAULT 0,
    error TEXT
)
"""


@dataclass(frozen=True)
class StoredEvent:
    id: int
    function: str
    body: str  # the event as JSON text, as the function receives it
    attempts: int  # invocations made before this claim (the claim itself is counted on disk)
    error: tuple[str, str] | None = None  # the last failed invocation's (errorType, errorMessage)

    @property
    def event(self) -> Any:
        return json.loads(self.body)


@dataclass(frozen=True)
class Retry:
    """An event to run again after `delay` seconds, `attempts` invocations made, the last one failing with
    `error` (None: it was not run, its container died first)."""

    id: int
    attempts: int
    delay: float
    error: tuple[str, str] | None = None


class EventStore(SqliteStore):
    def __init__(self, path: Path) -> None:
        super().__init__(path, (_SCHEMA,))
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(events)")}
        if "error" not in columns:  # a store made before errors were kept
            self._db.execute("ALTER TABLE events ADD COLUMN error TEXT")
        self._claimed: set[int] = set()
        # Kept as it changes (this connection is the store's only writer): counting the rows took the
        # lock from the writers for a scan of the table every time the runner wrote its stats.
        self._depth = int(self._db.execute("SELECT count(*) FROM events").fetchone()[0])

    def put(self, function: str, bodies: Sequence[str]) -> None:
        """Commit the events (JSON text each), all or none; raises when they could not be stored."""
        rows = [(function, body) for body in bodies]
        with self._lock:
            with transaction(self._db):
                self._db.executemany("INSERT INTO events (function, body) VALUES (?, ?)", rows)
            self._depth += len(rows)

    def claim(self, limit: int, now: float | None = None) -> list[StoredEvent]:
        """Up to `limit` due events nobody in this process is running, oldest first; each claim is counted as
        an invocation on disk before it is handed out (`settle` puts back the count of one that was not run)."""
        now = time.time() if now is None else now
        with self._lock:
            with transaction(self._db):
                rows = self._db.execute(
                    "SELECT id, function, body, attempts, error FROM events WHERE due <= ? ORDER BY id LIMIT ?",
                    (now, limit + len(self._claimed)),
                ).fetchall()
                found = [row for row in rows if row[0] not in self._claimed][:limit]
                self._db.executemany(
                    "UPDATE events SET attempts = attempts + 1 WHERE id = ?", [(row[0],) for row in found]
                )
            self._claimed.update(row[0] for row in found)
        return [StoredEvent(row[0], row[1], row[2], row[3], _error(row[4])) for row in found]

    def done(self, event_ids: Sequence[int]) -> None:
        """Delivered, or kept by the on-failure destination: gone from the queue."""
        with self._lock:
            with transaction(self._db):
                deleted = self._db.executemany(
                    "DELETE FROM events WHERE id = ?", [(i,) for i in event_ids]
                ).rowcount
            self._depth -= deleted
            self._claimed.difference_update(event_ids)

    def settle(self, done: Sequence[int], again: Sequence[Retry] = ()) -> None:
        """What one batch of invocations came to, in one transaction: `done` gone from the queue, and each
        of `again` due once more after its delay, with its count of invocations and its last error."""
        now = time.time()
        with self._lock:
            with transaction(self._db):
                deleted = self._db.executemany(
                    "DELETE FROM events WHERE id = ?", [(i,) for i in done]
                ).rowcount
                self._db.executemany(
                    "UPDATE events SET attempts = ?, due = ?, error = coalesce(?, error) WHERE id = ?",
                    [
                        (r.attempts, now + r.delay, json.dumps(r.error) if r.error else None, r.id)
                        for r in again
                    ],
                )
            self._depth -= deleted
            self._claimed.difference_update(done)
            self._claimed.difference_update(r.id for r in again)

    def depth(self) -> int:
        with self._lock:
            return self._depth


def _error(text: str | None) -> tuple[str, str] | None:
    if text is None:
        return None
    error_type, message = json.loads(text)
    return str(error_type), str(message)
