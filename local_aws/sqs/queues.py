"""The local stand-in for the SQS queue between the rules and the function (the queued path), on disk.

moto keeps its queues in memory and spends about a millisecond of CPU on every request, so a queue the
rules send every reading through, and an event source mapping polls and deletes from, made moto the
pipeline's bottleneck at a few hundred readings a second, which SQS is not; and a stopped moto forgot
every queued reading, which SQS never does. The rule runner therefore keeps this queue's messages itself,
in SQLite (WAL) under the sandbox folder, with SQS's semantics, taken from the queue deployed in moto:

- one message per reading, with a MessageId, refused above SQS's 256 KiB (the rule's error action runs);
- a receive takes up to the asked number of visible messages and hides them for the visibility timeout,
  counting the receive (`ApproximateReceiveCount`); a message not deleted in time is received again;
- a delete needs the latest receipt handle; a change of visibility makes a message due again sooner;
- the redrive policy: a message already received `maxReceiveCount` times is not delivered again but moved
  to the dead-letter queue (in moto, where replay reads it), and leaves this store only once moved.

The rejected-readings queue, the dead letters and every other queue stay in moto: they carry little.
`depth` may be read from any process (the demo's and the drill's accounting).
"""

from __future__ import annotations

import itertools
import sqlite3
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from local_aws.sqlite_store import SqliteStore, read_elsewhere, transaction

STORE_FILE = "ingest-queue.sqlite"  # in the sandbox folder
MAX_MESSAGE_BYTES = 256 * 1024  # SQS's limit for one message
TOO_LARGE = (
    f"One or more parameters are invalid. Reason: Message must be shorter than {MAX_MESSAGE_BYTES} bytes."
)

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS queues (id INTEGER PRIMARY KEY, url TEXT NOT NULL UNIQUE)",
    """CREATE TABLE IF NOT EXISTS messages (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        queue INTEGER NOT NULL REFERENCES queues (id),
        id TEXT NOT NULL,
        body TEXT NOT NULL,
        sent_ms INTEGER NOT NULL,
        receives INTEGER NOT NULL DEFAULT 0,
        first_received_ms INTEGER,
        visible_ms INTEGER NOT NULL
    )""",
    # A receive reads the due messages of one queue in the order they became due.
    "CREATE INDEX IF NOT EXISTS due ON messages (queue, visible_ms, seq)",
)


@dataclass(frozen=True)
class QueuePolicy:
    """What the deployed queue says about its messages (its attributes in moto)."""

    url: str
    arn: str
    visibility_timeout: int
    max_receive_count: int | None  # None: no redrive policy
    dead_letter_url: str | None


@dataclass(frozen=True)
class QueueMessage:
    message_id: str
    receipt_handle: str
    body: str
    sent_ms: int
    receive_count: int
    first_received_ms: int

    @property
    def attributes(self) -> dict[str, str]:
        """The record attributes an event source mapping passes the function, as SQS gives them."""
        return {
            "ApproximateReceiveCount": str(self.receive_count),
            "SentTimestamp": str(self.sent_ms),
            "ApproximateFirstReceiveTimestamp": str(self.first_received_ms),
        }


@dataclass(frozen=True)
class Received:
    messages: list[QueueMessage]  # to deliver
    to_redrive: list[QueueMessage]  # received maxReceiveCount times already: for the dead-letter queue


class _MessageIds:
    """UUID-shaped message ids, unique across restarts: a random prefix per store and a counter (a uuid4 per
    message, from the operating system's randomness, was a tenth of the runner's time)."""

    def __init__(self) -> None:
        self._prefix = str(uuid.uuid4())[:24]
        self._next = itertools.count()

    def __call__(self) -> str:
        return f"{self._prefix}{next(self._next) % 16**12:012x}"


def _handle(seq: int, receives: int) -> str:
    return f"{seq}.{receives}"


def _parse_handle(handle: str) -> tuple[int, int] | None:
    seq, _, receives = handle.partition(".")
    if not (seq.isdigit() and receives.isdigit()):
        return None
    return int(seq), int(receives)


class LocalQueues(SqliteStore):
    def __init__(self, path: Path, clock: Callable[[], float] = time.time) -> None:
        super().__init__(path, _SCHEMA)
        self.clock = clock
        self._policies: dict[str, QueuePolicy] = {}
        self._ids: dict[str, int] = {}  # each queue's number in the store (its rows carry that, not the URL)
        self._depths: dict[str, int] = {}
        self._message_id = _MessageIds()

    def declare(self, policy: QueuePolicy) -> None:
        with self._lock:
            self._db.execute("INSERT OR IGNORE INTO queues (url) VALUES (?)", (policy.url,))
            (number,) = self._db.execute("SELECT id FROM queues WHERE url = ?", (policy.url,)).fetchone()
            (count,) = self._db.execute("SELECT count(*) FROM messages WHERE queue = ?", (number,)).fetchone()
        self._ids[policy.url] = int(number)
        # Kept as it changes (this connection is the store's only writer), so the runner's stats need no scan.
        self._depths[policy.url] = int(count)
        self._policies[policy.url] = policy

    def policy(self, url: str) -> QueuePolicy:
        try:
            return self._policies[url]
        except KeyError:
            raise KeyError(f"{url} is not a queue this store plays") from None

    def _now_ms(self) -> int:
        return int(self.clock() * 1000)

    def send(self, url: str, bodies: Sequence[str]) -> tuple[list[str | None], dict[int, str]]:
        """Commit the messages that SQS would take, all in one transaction: their ids (None where refused),
        and the refused ones by index with SQS's reason. Raises when nothing could be stored."""
        queue = self._id(url)
        now = self._now_ms()
        ids: list[str | None] = []
        refused: dict[int, str] = {}
        rows = []
        for i, body in enumerate(bodies):
            if len(body.encode()) > MAX_MESSAGE_BYTES:
                refused[i] = TOO_LARGE
                ids.append(None)
                continue
            message_id = self._message_id()
            ids.append(message_id)
            rows.append((queue, message_id, body, now, now))
        with self._lock:
            with transaction(self._db):
                self._db.executemany(
                    "INSERT INTO messages (queue, id, body, sent_ms, visible_ms) VALUES (?, ?, ?, ?, ?)", rows
                )
            self._depths[url] += len(rows)
        return ids, refused

    def receive(self, url: str, limit: int, visibility_timeout: int | None = None) -> Received:
        """Up to `limit` due messages, hidden for the visibility timeout (the queue's, unless given)."""
        policy, queue = self.policy(url), self._id(url)
        timeout = policy.visibility_timeout if visibility_timeout is None else visibility_timeout
        now = self._now_ms()
        with self._lock, transaction(self._db):
            rows = self._db.execute(
                "SELECT seq, id, body, sent_ms, receives, first_received_ms FROM messages "
                "WHERE queue = ? AND visible_ms <= ? ORDER BY visible_ms, seq LIMIT ?",
                (queue, now, limit),
            ).fetchall()
            self._db.executemany(
                "UPDATE messages SET receives = receives + 1, visible_ms = ?, "
                "first_received_ms = coalesce(first_received_ms, ?) WHERE seq = ?",
                [(now + timeout * 1000, now, row[0]) for row in rows],
            )
        messages, to_redrive = [], []
        for seq, message_id, body, sent_ms, receives, first in rows:
            message = QueueMessage(
                message_id, _handle(seq, receives + 1), body, sent_ms, receives + 1, first or now
            )
            if policy.max_receive_count is not None and receives >= policy.max_receive_count:
                to_redrive.append(message)
            else:
                messages.append(message)
        return Received(messages, to_redrive)

    def delete(self, url: str, receipt_handles: Sequence[str]) -> int:
        """Delete each message whose handle is its latest; how many were deleted."""
        queue = self._id(url)
        keys = [key for key in map(_parse_handle, receipt_handles) if key is not None]
        with self._lock:
            with transaction(self._db):
                deleted = int(
                    self._db.executemany(
                        "DELETE FROM messages WHERE queue = ? AND seq = ? AND receives = ?",
                        [(queue, seq, receives) for seq, receives in keys],
                    ).rowcount
                )
            self._depths[url] -= deleted
        return deleted

    def change_visibility(self, url: str, receipt_handles: Sequence[str], seconds: float) -> None:
        """Due again `seconds` from now (a failed record comes back after this instead of the full timeout)."""
        queue = self._id(url)
        keys = [key for key in map(_parse_handle, receipt_handles) if key is not None]
        due = self._now_ms() + int(seconds * 1000)
        with self._lock, transaction(self._db):
            self._db.executemany(
                "UPDATE messages SET visible_ms = ? WHERE queue = ? AND seq = ? AND receives = ?",
                [(due, queue, seq, receives) for seq, receives in keys],
            )

    def depth(self, url: str) -> int:
        """Messages in the queue, visible or being received."""
        self.policy(url)
        with self._lock:
            return self._depths[url]

    def _id(self, url: str) -> int:
        self.policy(url)  # a queue not declared is named
        return self._ids[url]


def depth(path: Path, url: str) -> int | None:
    """The depth of a queue the rule runner plays, read from another process; None when the store does not
    play it (no store yet, or a queue it never declared: moto's)."""

    def read(db: sqlite3.Connection) -> int | None:
        found = db.execute("SELECT id FROM queues WHERE url = ?", (url,)).fetchone()
        if found is None:
            return None
        return int(db.execute("SELECT count(*) FROM messages WHERE queue = ?", found).fetchone()[0])

    return read_elsewhere(path, read)
