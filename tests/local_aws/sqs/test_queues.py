"""The rule runner's stand-in for the ingest queue keeps SQS's semantics: visibility, receive counts, the latest
receipt handle, the 256 KiB limit, redrive after maxReceiveCount, and messages that outlive the process."""

from __future__ import annotations

from pathlib import Path

import pytest

from local_aws.sqs import queues as local_queues
from local_aws.sqs.queues import MAX_MESSAGE_BYTES, LocalQueues, QueuePolicy
from tests.support.clock import Clock

URL = "http://127.0.0.1:1/123456789012/demo-ingest"
POLICY = QueuePolicy(URL, "arn:aws:sqs:us-east-1:123456789012:demo-ingest", 30, 3, "http://dlq")


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def queues(tmp_path: Path, clock: Clock) -> LocalQueues:
    store = LocalQueues(tmp_path / "queues.sqlite", clock)
    store.declare(POLICY)
    return store


def test_a_received_message_is_hidden_until_its_visibility_ends(queues: LocalQueues, clock: Clock) -> None:
    ids, refused = queues.send(URL, ["a", "b"])
    assert refused == {} and len(set(ids)) == 2
    first = queues.receive(URL, 10, visibility_timeout=5).messages
    assert [m.body for m in first] == ["a", "b"] and [m.receive_count for m in first] == [1, 1]
    assert queues.receive(URL, 10).messages == []
    clock.now += 5.001
    again = queues.receive(URL, 10).messages
    assert [m.message_id for m in again] == [m.message_id for m in first]
    assert [m.attributes["ApproximateReceiveCount"] for m in again] == ["2", "2"]
    assert queues.depth(URL) == 2


def test_only_the_latest_receipt_handle_deletes(queues: LocalQueues, clock: Clock) -> None:
    queues.send(URL, ["a"])
    (old,) = queues.receive(URL, 1, visibility_timeout=1).messages
    clock.now += 2
    (new,) = queues.receive(URL, 1).messages
    assert queues.delete(URL, [old.receipt_handle, "not a handle"]) == 0
    assert queues.delete(URL, [new.receipt_handle]) == 1
    assert queues.depth(URL) == 0


def test_a_changed_visibility_brings_a_failed_record_back_sooner(queues: LocalQueues, clock: Clock) -> None:
    queues.send(URL, ["a"])
    (message,) = queues.receive(URL, 1).messages
    queues.change_visibility(URL, [message.receipt_handle], 1)
    clock.now += 1.001
    assert [m.body for m in queues.receive(URL, 1).messages] == ["a"]


def test_a_message_over_256_kib_is_refused_with_sqs_reason_and_the_rest_is_kept(queues: LocalQueues) -> None:
    ids, refused = queues.send(URL, ["x" * (MAX_MESSAGE_BYTES + 1), "ok"])
    assert ids[0] is None and ids[1] is not None
    assert "Message must be shorter than 262144 bytes" in refused[0]
    assert queues.depth(URL) == 1


def test_after_max_receive_count_receives_a_message_is_redriven_not_delivered(
    queues: LocalQueues, clock: Clock
) -> None:
    queues.send(URL, ["poison"])
    for _ in range(POLICY.max_receive_count or 0):
        assert [m.body for m in queues.receive(URL, 1, visibility_timeout=1).messages] == ["poison"]
        clock.now += 1.001
    received = queues.receive(URL, 1)
    assert received.messages == [] and [m.body for m in received.to_redrive] == ["poison"]
    assert queues.depth(URL) == 1  # it leaves only once the dead-letter queue took it
    queues.delete(URL, [received.to_redrive[0].receipt_handle])
    assert queues.depth(URL) == 0


def test_messages_outlive_the_process_and_are_counted_from_another(tmp_path: Path, clock: Clock) -> None:
    path = tmp_path / "queues.sqlite"
    assert local_queues.depth(path, URL) is None  # no store yet: the queue is not played here
    first = LocalQueues(path, clock)
    first.declare(POLICY)
    first.send(URL, ["a", "b", "c"])
    first.receive(URL, 1)
    first.close()
    assert local_queues.depth(path, URL) == 3
    assert local_queues.depth(path, "http://elsewhere/q") is None  # moto's, not the store's
    second = LocalQueues(path, clock)
    second.declare(POLICY)
    assert [m.body for m in second.receive(URL, 10).messages] == ["b", "c"]  # "a" is still being received


def test_a_queue_the_store_does_not_play_is_named(queues: LocalQueues) -> None:
    with pytest.raises(KeyError, match="not a queue this store plays"):
        queues.send("http://elsewhere/q", ["a"])
