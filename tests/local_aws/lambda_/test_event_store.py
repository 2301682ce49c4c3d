"""The direct path's durable event queue: what was committed survives the process, and so does the count of
invocations started, so an event that stops the runner every time it runs uses up its attempts."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from local_aws.lambda_.event_store import EventStore, Retry


def _bodies(*numbers: int) -> list[str]:
    return [json.dumps({"n": n}) for n in numbers]


def test_committed_events_survive_a_new_store_and_claims_are_released(tmp_path: Path) -> None:
    store = EventStore(tmp_path / "events.sqlite")
    store.put("fn", _bodies(1, 2, 3))
    claimed = store.claim(2)
    assert [e.event for e in claimed] == [{"n": 1}, {"n": 2}]
    assert [e.event for e in store.claim(5)] == [{"n": 3}]  # what another invoker holds is not handed out
    store.done([claimed[0].id])
    store.close()

    reopened = EventStore(tmp_path / "events.sqlite")  # as after a crash: every unfinished event is due
    assert reopened.depth() == 2
    again = reopened.claim(5)
    assert sorted(e.event["n"] for e in again) == [2, 3]
    assert [e.attempts for e in again] == [1, 1]  # each claim before the crash counts as an invocation


def test_an_event_to_retry_waits_its_delay_and_keeps_its_attempts_and_error(tmp_path: Path) -> None:
    store = EventStore(tmp_path / "events.sqlite")
    store.put("fn", _bodies(1))
    event = store.claim(1)[0]
    assert event.attempts == 0 and event.error is None
    store.settle([], [Retry(event.id, 1, 60.0, ("ValueError", "bad"))])
    assert store.claim(1) == []
    later = store.claim(1, now=10**12)
    assert later[0].attempts == 1 and later[0].event == {"n": 1} and later[0].error == ("ValueError", "bad")


def test_a_batch_settles_in_one_go_and_the_depth_follows(tmp_path: Path) -> None:
    store = EventStore(tmp_path / "events.sqlite")
    store.put("fn", _bodies(1, 2, 3))
    first, second, third = store.claim(3)
    store.settle([first.id], [Retry(second.id, 1, 60.0), Retry(third.id, 0, 0.0)])  # done, later, not run
    assert store.depth() == 2
    assert [(e.event, e.attempts) for e in store.claim(5)] == [({"n": 3}, 0)]
    assert [e.event for e in store.claim(5, now=10**12)] == [{"n": 2}]
    store.close()
    assert EventStore(tmp_path / "events.sqlite").depth() == 2


def test_a_store_made_before_errors_were_kept_is_read(tmp_path: Path) -> None:
    path = tmp_path / "events.sqlite"
    with sqlite3.connect(path) as old:
        old.execute(
            "CREATE TABLE events (id INTEGER PRIMARY KEY AUTOINCREMENT, function TEXT NOT NULL, "
            "body TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, due REAL NOT NULL DEFAULT 0)"
        )
        old.execute("INSERT INTO events (function, body, attempts) VALUES ('fn', '{\"n\": 1}', 2)")
    claimed = EventStore(path).claim(1)
    assert [(e.event, e.attempts, e.error) for e in claimed] == [({"n": 1}, 2, None)]
