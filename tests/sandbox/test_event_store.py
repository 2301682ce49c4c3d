"""The direct path's durable event queue: what was committed survives the process, claims do not."""

from __future__ import annotations

from pathlib import Path

from sandbox.event_store import EventStore


def test_committed_events_survive_a_new_store_and_claims_are_released(tmp_path: Path) -> None:
    store = EventStore(tmp_path / "events.sqlite")
    store.put("fn", [{"n": 1}, {"n": 2}, {"n": 3}])
    claimed = store.claim(2)
    assert [e.event for e in claimed] == [{"n": 1}, {"n": 2}]
    assert [e.event for e in store.claim(5)] == [{"n": 3}]  # what another invoker holds is not handed out
    store.done([claimed[0].id])
    store.close()

    reopened = EventStore(tmp_path / "events.sqlite")  # as after a crash: every unfinished event is due
    assert reopened.depth() == 2
    assert sorted(e.event["n"] for e in reopened.claim(5)) == [2, 3]


def test_an_event_to_retry_waits_its_delay_and_keeps_its_attempts(tmp_path: Path) -> None:
    store = EventStore(tmp_path / "events.sqlite")
    store.put("fn", [{"n": 1}])
    event = store.claim(1)[0]
    store.again(event.id, attempts=1, delay=60)
    assert store.claim(1) == []
    later = store.claim(1, now=10**12)
    assert later[0].attempts == 1 and later[0].event == {"n": 1}


def test_a_batch_settles_in_one_go_and_the_depth_follows(tmp_path: Path) -> None:
    store = EventStore(tmp_path / "events.sqlite")
    store.put("fn", [{"n": 1}, {"n": 2}, {"n": 3}])
    first, second, third = store.claim(3)
    store.settle([first.id], [(second.id, 1, 60.0), (third.id, 0, 0.0)])  # done, retried later, not run
    assert store.depth() == 2
    assert [(e.event, e.attempts) for e in store.claim(5)] == [({"n": 3}, 0)]
    assert [e.event for e in store.claim(5, now=10**12)] == [{"n": 2}]
    store.close()
    assert EventStore(tmp_path / "events.sqlite").depth() == 2
