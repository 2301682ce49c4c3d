"""The on-disk stream with Kinesis's semantics: shards by the partition key's MD5, sequence numbers that grow in a
shard, a lane's checkpoint, the records refused as Kinesis refuses them, and the depth read from elsewhere."""

from __future__ import annotations

import hashlib
from pathlib import Path

from local_aws.kinesis.streams import (
    BAD_KEY,
    MAX_RECORD_BYTES,
    TOO_LARGE,
    LocalStreams,
    StreamShape,
    pending,
    seq_of,
    shard_of,
)

ARN = "arn:aws:kinesis:us-east-1:123456789012:stream/demo-ingest"


def test_a_key_goes_to_the_shard_whose_share_of_the_md5_range_holds_it() -> None:
    for key in ("dev1", "dev2", "a-much-longer-client-id-0042"):
        digest = int(hashlib.md5(key.encode()).hexdigest(), 16)
        assert shard_of(key, 4) == digest // (2**128 // 4)
    keys = [f"device-{i}" for i in range(4000)]
    counts = [sum(1 for key in keys if shard_of(key, 4) == s) for s in range(4)]
    assert min(counts) > 900  # an even spread over the shards


def test_records_are_read_in_order_after_the_checkpoint_only(tmp_path: Path) -> None:
    streams = LocalStreams(tmp_path / "s.sqlite")
    shape = StreamShape(ARN, shards=2, parallelization=2)
    streams.declare(shape)
    sequences, refused = streams.put(ARN, [("dev1", f"r{i}".encode()) for i in range(5)])
    assert refused == {}
    (lane,) = {lane for lane in streams.lanes(ARN) if streams.read(ARN, lane, 10)}  # one key, one lane
    records = streams.read(ARN, lane, 10)
    assert [r.data for r in records] == [f"r{i}".encode() for i in range(5)]
    assert [r.sequence_number for r in records] == sequences
    assert sorted(sequences, key=lambda s: int(s or "0")) == sequences  # growing within the shard
    assert all(r.sequence_number.startswith("49") and len(r.sequence_number) == 56 for r in records)
    assert records[0].shard_id == f"shardId-{shard_of('dev1', 2):012d}"
    streams.checkpoint(ARN, lane, records[1].seq)
    assert [r.data for r in streams.read(ARN, lane, 10)] == [b"r2", b"r3", b"r4"]
    assert streams.pending(ARN) == 3 == pending(tmp_path / "s.sqlite", ARN)
    streams.close()
    reopened = LocalStreams(tmp_path / "s.sqlite")  # the checkpoint survives the runner
    reopened.declare(shape)
    assert [r.data for r in reopened.read(ARN, lane, 10)] == [b"r2", b"r3", b"r4"]
    assert seq_of(records[2].sequence_number) == records[2].seq


def test_a_record_kinesis_would_refuse_is_refused_alone(tmp_path: Path) -> None:
    streams = LocalStreams(tmp_path / "s.sqlite")
    streams.declare(StreamShape(ARN, shards=1))
    big = b"x" * (MAX_RECORD_BYTES + 1)
    sequences, refused = streams.put(ARN, [("k", b"ok"), ("", b"no key"), ("k", big), ("k" * 257, b"long")])
    assert refused == {1: BAD_KEY, 2: TOO_LARGE, 3: BAD_KEY}
    assert sequences[0] is not None and sequences[1:] == [None, None, None]
    assert streams.pending(ARN) == 1


def test_the_depth_of_a_stream_not_played_is_unknown(tmp_path: Path) -> None:
    assert pending(tmp_path / "none.sqlite", ARN) is None
    streams = LocalStreams(tmp_path / "s.sqlite")
    streams.declare(StreamShape(ARN, shards=1))
    assert pending(tmp_path / "s.sqlite", ARN + "-other") is None
