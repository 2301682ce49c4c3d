"""The local stand-in for Lambda's asynchronous event queue: events on disk, so a crash of the runner loses none.

On AWS, an asynchronous invocation (the IoT rule's Lambda action) is accepted into Lambda's own durable
queue before IoT Core is done with the message; the function then runs it, retries it and, when the
retries are used up, sends it to the on-failure destination. Locally the rule runner acknowledges a
reading to the broker only after its event is committed here (SQLite in WAL mode under the sandbox
folder), and removes it only once it was delivered or handed to the on-failure destination.

A claim lives in memory only: after a restart every stored event is due again, so an event that was
running when the runner died runs once more (at least once, as on AWS; a point written twice replaces
itself in InfluxDB).
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    function TEXT NOT NULL,
    body TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    due REAL NOT NULL DEFAULT 0
)
"""


@dataclass(frozen=True)
class StoredEvent:
    id: int
    function: str
    event: Any
    attempts: int  # invocations already made


class EventStore:
    """Thread-safe: one connection behind a lock (SQLite has one writer at a time anyway)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        # NORMAL: a commit survives a crash of this process (the WAL is in the OS's hands); only a crash of
        # the machine itself could undo the last commits, as the broker's autosave could.
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(_SCHEMA)
        self._lock = threading.Lock()
        self._claimed: set[int] = set()
        # Kept as it changes (this connection is the store's only writer): counting the rows took the
        # lock from the writers for a scan of the table every time the runner wrote its stats.
        self._depth = int(self._db.execute("SELECT count(*) FROM events").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def put(self, function: str, events: Sequence[Any]) -> None:
        """Commit the events, all or none; raises when they could not be stored."""
        rows = [(function, json.dumps(event)) for event in events]
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany("INSERT INTO events (function, body) VALUES (?, ?)", rows)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
            self._depth += len(rows)

    def claim(self, limit: int, now: float | None = None) -> list[StoredEvent]:
        """Up to `limit` due events nobody in this process is running, oldest first."""
        now = time.time() if now is None else now
        with self._lock:
            rows = self._db.execute(
                "SELECT id, function, body, attempts FROM events WHERE due <= ? ORDER BY id LIMIT ?",
                (now, limit + len(self._claimed)),
            ).fetchall()
            found = [row for row in rows if row[0] not in self._claimed][:limit]
            self._claimed.update(row[0] for row in found)
        return [StoredEvent(row[0], row[1], json.loads(row[2]), row[3]) for row in found]

    def done(self, event_ids: Sequence[int]) -> None:
        """Delivered, or kept by the on-failure destination: gone from the queue."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            deleted = self._db.executemany(
                "DELETE FROM events WHERE id = ?", [(i,) for i in event_ids]
            ).rowcount
            self._db.execute("COMMIT")
            self._depth -= deleted
            self._claimed.difference_update(event_ids)

    def settle(self, done: Sequence[int], again: Sequence[tuple[int, int, float]] = ()) -> None:
        """What one batch of invocations came to, in one transaction: `done` gone from the queue, and each
        of `again` (id, invocations made, delay in seconds) due once more after its delay."""
        now = time.time()
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                deleted = self._db.executemany(
                    "DELETE FROM events WHERE id = ?", [(i,) for i in done]
                ).rowcount
                self._db.executemany(
                    "UPDATE events SET attempts = ?, due = ? WHERE id = ?",
                    [(attempts, now + delay, i) for i, attempts, delay in again],
                )
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
            self._depth -= deleted
            self._claimed.difference_update(done)
            self._claimed.difference_update(i for i, _, _ in again)

    def again(self, event_id: int, attempts: int, delay: float) -> None:
        """Run it again after `delay` seconds; `attempts` invocations have been made."""
        with self._lock:
            self._db.execute(
                "UPDATE events SET attempts = ?, due = ? WHERE id = ?",
                (attempts, time.time() + delay, event_id),
            )
            self._claimed.discard(event_id)

    def release(self, event_ids: Sequence[int]) -> None:
        """Claimed but not run (the runner is stopping): due again at once."""
        with self._lock:
            self._claimed.difference_update(event_ids)

    def depth(self) -> int:
        with self._lock:
            return self._depth
