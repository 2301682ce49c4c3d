"""The local stand-in for the Kinesis data stream between the rules and the function (the stream path), on disk.

moto holds the stream resource (its CloudFormation creates it, `infrastructure/compat.py`), but keeps records in
memory, forgets them when it stops, and has no event-source mapping that reads a stream. The rule runner
therefore keeps this stream's records itself, in SQLite (WAL) under the sandbox folder, with Kinesis's semantics:

- shards: a record's partition key is hashed with MD5 to a 128-bit integer, and each shard owns an equal range
  of those hash keys (as a stream created with `ShardCount` shards splits them), so one key stays on one shard;
- sequence numbers: each record gets one, increasing within its shard (56 digits, as Kinesis's look);
- a record is refused above Kinesis's 10 MiB of data, a partition key outside 1-256 characters too: the rule's
  error action runs for it;
- lanes and checkpoints: the event-source mapping reads each shard in `ParallelizationFactor` lanes (a partition
  key always in the same lane, so a key's records stay in order, as Lambda documents), and each lane has a
  checkpoint, the last sequence number whose batch succeeded. A record after its lane's checkpoint is in flight;
  one at or before it is done. Kinesis keeps done records for its retention period: nothing here reads them
  again (the on-failure destination keeps the records themselves), so they are trimmed as the checkpoint passes.

`pending` may be read from any process (the demo's and the drill's accounting).
"""

from __future__ import annotations

import hashlib
import sqlite3
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from local_aws.sqlite_store import SqliteStore, read_elsewhere, transaction

STORE_FILE = "ingest-stream.sqlite"  # in the sandbox folder
# Kinesis's limit for a record's data before base64 ("Data payload size": 10 MiB, service-sizes-and-limits.html);
# a reading from IoT Core is at most 128 KB, so only a stand-in's test meets it.
MAX_RECORD_BYTES = 10 * 1024 * 1024
MAX_PARTITION_KEY = 256
HASH_SPACE = 2**128
TOO_LARGE = f"the record's data is larger than Kinesis's {MAX_RECORD_BYTES} bytes"
BAD_KEY = f"the partition key must be 1 to {MAX_PARTITION_KEY} characters"

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS streams (id INTEGER PRIMARY KEY, arn TEXT NOT NULL UNIQUE)",
    """CREATE TABLE IF NOT EXISTS records (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        stream INTEGER NOT NULL REFERENCES streams (id),
        shard INTEGER NOT NULL,
        lane INTEGER NOT NULL,
        partition_key TEXT NOT NULL,
        data BLOB NOT NULL,
        arrival_ms INTEGER NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS by_lane ON records (stream, lane, seq)",
    """CREATE TABLE IF NOT EXISTS checkpoints (
        stream INTEGER NOT NULL REFERENCES streams (id),
        lane INTEGER NOT NULL,
        seq INTEGER NOT NULL,
        PRIMARY KEY (stream, lane)
    )""",
)


@dataclass(frozen=True)
class StreamShape:
    """What the deployed stream and its mapping say: shards, and lanes a shard is read in."""

    arn: str
    shards: int
    parallelization: int = 1

    @property
    def lanes(self) -> int:
        return self.shards * self.parallelization


@dataclass(frozen=True)
class StreamRecord:
    seq: int
    shard: int
    partition_key: str
    data: bytes
    arrival_ms: int

    @property
    def shard_id(self) -> str:
        return shard_id(self.shard)

    @property
    def sequence_number(self) -> str:
        return sequence_number(self.shard, self.seq)


def shard_id(shard: int) -> str:
    return f"shardId-{shard:012d}"


def sequence_number(shard: int, seq: int) -> str:
    """56 digits, increasing within a shard: the shard, then the store's own order of the record."""
    return f"49{shard:06d}{seq:048d}"


def seq_of(sequence: str) -> int | None:
    """The store's order of a record from its sequence number; None for a string that is not one."""
    if len(sequence) != 56 or not sequence.isdigit():
        return None
    return int(sequence[8:])


def hash_key(partition_key: str) -> int:
    """Kinesis maps a partition key to a 128-bit integer with MD5 (PutRecordsRequestEntry, Kinesis API)."""
    return int.from_bytes(hashlib.md5(partition_key.encode(), usedforsecurity=False).digest(), "big")


def shard_of(partition_key: str, shards: int) -> int:
    """The shard whose equal share of the hash key range holds the key's hash."""
    return hash_key(partition_key) * shards // HASH_SPACE


def lane_of(partition_key: str, shape: StreamShape) -> int:
    """The shard, then one of its `parallelization` lanes by the key (the same key, the same lane)."""
    key = hash_key(partition_key)
    shard = key * shape.shards // HASH_SPACE
    return shard * shape.parallelization + key % shape.parallelization


class LocalStreams(SqliteStore):
    def __init__(self, path: Path, clock: Callable[[], float] = time.time) -> None:
        super().__init__(path, _SCHEMA)
        self.clock = clock
        self._shapes: dict[str, StreamShape] = {}
        self._ids: dict[str, int] = {}
        self._extra_lanes: dict[str, list[int]] = {}
        self._depths: dict[str, int] = {}  # kept as records come and go (this connection is the only writer)

    def declare(self, shape: StreamShape) -> None:
        """The stream as deployed. Its records stay where they were put: a changed shard count applies to new
        records (Kinesis reshards the same way: records already in a parent shard are read there first)."""
        with self._lock:
            self._db.execute("INSERT OR IGNORE INTO streams (arn) VALUES (?)", (shape.arn,))
            (number,) = self._db.execute("SELECT id FROM streams WHERE arn = ?", (shape.arn,)).fetchone()
            lanes = {int(row[0]) for row in self._db.execute(
                "SELECT DISTINCT lane FROM records WHERE stream = ?", (number,)
            )}  # fmt: skip
        self._ids[shape.arn] = int(number)
        self._shapes[shape.arn] = shape
        with self._lock:
            self._depths[shape.arn] = _pending(self._db, int(number))
        self._extra_lanes[shape.arn] = sorted(lanes - set(range(shape.lanes)))

    def shape(self, arn: str) -> StreamShape:
        try:
            return self._shapes[arn]
        except KeyError:
            raise KeyError(f"{arn} is not a stream this store plays") from None

    def lanes(self, arn: str) -> list[int]:
        """Every lane with records to read: the shape's, and any a previous shape left records in."""
        return list(range(self.shape(arn).lanes)) + self._extra_lanes.get(arn, [])

    def put(self, arn: str, records: Sequence[tuple[str, bytes]]) -> tuple[list[str | None], dict[int, str]]:
        """Commit the records Kinesis would take, in one transaction (PutRecords): their sequence numbers (None
        where refused) and the refused ones by index with the reason. Raises when nothing could be stored."""
        shape, stream = self.shape(arn), self._ids[arn]
        now = int(self.clock() * 1000)
        refused: dict[int, str] = {}
        rows = []
        for i, (key, data) in enumerate(records):
            if not 1 <= len(key) <= MAX_PARTITION_KEY:
                refused[i] = BAD_KEY
            elif len(data) > MAX_RECORD_BYTES:
                refused[i] = TOO_LARGE
            else:
                lane = lane_of(key, shape)
                rows.append((i, (stream, lane // shape.parallelization, lane, key, data, now)))
        sequences: list[str | None] = [None] * len(records)
        with self._lock:
            with transaction(self._db):
                # This connection is the store's only writer and holds the write lock: the next numbers are ours.
                found = self._db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'records'").fetchone()
                first = (int(found[0]) if found else 0) + 1
                self._db.executemany(
                    "INSERT INTO records (seq, stream, shard, lane, partition_key, data, arrival_ms) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [(first + n, *row) for n, (_, row) in enumerate(rows)],
                )
                for n, (i, row) in enumerate(rows):
                    sequences[i] = sequence_number(row[1], first + n)
            self._depths[arn] += len(rows)
        return sequences, refused

    def peek(self, arn: str, lane: int, limit: int) -> tuple[int, int | None]:
        """How many records (up to `limit`) a lane has after its checkpoint, and when the first arrived (ms): what
        a poller needs to know whether a batch is due, without reading the records."""
        stream = self._ids[arn]
        with self._lock:
            count, first = self._db.execute(
                "SELECT count(*), min(arrival_ms) FROM (SELECT arrival_ms FROM records "
                "WHERE stream = ? AND lane = ? ORDER BY seq LIMIT ?)",
                (stream, lane, limit),
            ).fetchone()
        return int(count), None if first is None else int(first)

    def read(self, arn: str, lane: int, limit: int) -> list[StreamRecord]:
        """Up to `limit` records of a lane after its checkpoint, in order."""
        stream = self._ids[arn]
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, shard, partition_key, data, arrival_ms FROM records WHERE stream = ? AND lane = ? "
                "AND seq > coalesce((SELECT seq FROM checkpoints WHERE stream = ? AND lane = ?), 0) "
                "ORDER BY seq LIMIT ?",
                (stream, lane, stream, lane, limit),
            ).fetchall()
        return [StreamRecord(int(s), int(sh), str(k), bytes(d), int(a)) for s, sh, k, d, a in rows]

    def checkpoint(self, arn: str, lane: int, seq: int) -> None:
        """Every record of the lane up to `seq` is done: it is never delivered again (and is trimmed)."""
        stream = self._ids[arn]
        with self._lock:
            with transaction(self._db):
                self._db.execute(
                    "INSERT INTO checkpoints (stream, lane, seq) VALUES (?, ?, ?) ON CONFLICT (stream, lane) "
                    "DO UPDATE SET seq = max(seq, excluded.seq)",
                    (stream, lane, seq),
                )
                deleted = self._db.execute(
                    "DELETE FROM records WHERE stream = ? AND lane = ? AND seq <= ?", (stream, lane, seq)
                ).rowcount
            self._depths[arn] -= int(deleted)

    def pending(self, arn: str) -> int:
        """Records after their lane's checkpoint: in the stream, not yet done."""
        self.shape(arn)
        with self._lock:
            return self._depths[arn]


def _pending(db: sqlite3.Connection, stream: int) -> int:
    """A checkpoint trims what it passes in the same transaction: every record still stored is after it."""
    (count,) = db.execute("SELECT count(*) FROM records WHERE stream = ?", (stream,)).fetchone()
    return int(count)


def pending(path: Path, arn: str) -> int | None:
    """Records in a stream the rule runner plays and has not finished, read from another process; None when the
    store does not play it (no store yet, or a stream it never declared)."""

    def read(db: sqlite3.Connection) -> int | None:
        found = db.execute("SELECT id FROM streams WHERE arn = ?", (arn,)).fetchone()
        return None if found is None else _pending(db, int(found[0]))

    return read_elsewhere(path, read)
