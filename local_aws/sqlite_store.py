"""What the rule runner's stores on disk share (Lambda's event queue, the SQS queue, the Kinesis stream): a SQLite
file in WAL mode under the sandbox folder, written by one connection behind a lock, and read from other processes
(the demo's and the drill's accounting)."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


def open_store(path: Path, schema: Iterable[str]) -> sqlite3.Connection:
    """The writer's connection (usable from any thread: its owner holds a lock around it), its tables made."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    # NORMAL: a commit survives a crash of this process (the WAL is in the OS's hands); only a crash of
    # the machine itself could undo the last commits, as the broker's autosave could.
    db.execute("PRAGMA synchronous=NORMAL")
    for statement in schema:
        db.execute(statement)
    return db


class SqliteStore:
    """Thread-safe: one connection behind a lock (SQLite has one writer at a time anyway)."""

    def __init__(self, path: Path, schema: Iterable[str]) -> None:
        self.path = path
        self._db = open_store(path, schema)
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            self._db.close()


@contextmanager
def transaction(db: sqlite3.Connection) -> Iterator[None]:
    """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK when the block (or the commit) raises."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise


def read_elsewhere(path: Path, read: Callable[[sqlite3.Connection], T | None]) -> T | None:
    """`read` on a read-only connection, from another process than the store's writer; None when there is no
    store yet or the writer has not made its tables yet."""
    if not path.exists():
        return None
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    try:
        return read(db)
    except sqlite3.OperationalError:
        return None
    finally:
        db.close()
