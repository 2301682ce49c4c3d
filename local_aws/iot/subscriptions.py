"""What the rule runner's MQTT session is subscribed to, kept beside the runner's other state.

MQTT has no way to list a session's subscriptions, and the broker keeps them with the session across the
runner's restarts. So the runner records, per client id, the topic filters it subscribed
(`rule-runner-subscriptions.json` in the sandbox folder) and on every connection makes the session's
subscriptions equal to the rules' filters: it subscribes to every filter of the rules (again, on a kept
session: the broker replaces a subscription of the same filter) and unsubscribes the recorded ones no rule
has any more. The record is written before the broker is asked (what it may hold after a partial change) and
again once it has answered (what it holds), so it never names fewer filters than the broker has.

The same record tells the simulator and the demo which topics no deployed rule reads: readings published
there are acknowledged by the broker and dropped, as IoT Core drops a message no rule selects.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from local_aws.iot.sql import topic_matches

SUBSCRIPTIONS_FILE = "rule-runner-subscriptions.json"


@dataclass(frozen=True)
class Reconciliation:
    """What to ask the broker on a connection."""

    subscribe: list[str]
    unsubscribe: list[str]


def reconcile(wanted: Iterable[str], recorded: Iterable[str] | None, session_present: bool) -> Reconciliation:
    """Every wanted filter is subscribed each time (the broker may have lost one; on a kept session it
    replaces the subscription); on a kept session, the recorded filters no rule wants are unsubscribed. A new
    session holds nothing, so nothing is unsubscribed; a kept session with no record (a runner older than the
    record) cannot be cleaned, only completed."""
    subscribe = sorted(set(wanted))
    stale = set(recorded or ()) - set(subscribe) if session_present else set()
    return Reconciliation(subscribe, sorted(stale))


class SubscriptionRecord:
    """The filters each client id's session was subscribed to, in one JSON file, replaced atomically."""

    def __init__(self, path: Path, client_id: str) -> None:
        self.path, self.client_id = path, client_id

    def read(self) -> list[str] | None:
        """This client's recorded filters; None when it has no record."""
        sessions = read_sessions(self.path)
        return sessions.get(self.client_id)

    def write(self, filters: Iterable[str]) -> None:
        sessions = read_sessions(self.path)
        sessions[self.client_id] = sorted(set(filters))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        with tmp.open("w") as handle:
            handle.write(json.dumps({"sessions": sessions}, indent=2) + "\n")
            handle.flush()
            os.fsync(handle.fileno())  # the record outlives a crash of the machine, as the session does
        tmp.replace(self.path)


def read_sessions(path: Path) -> dict[str, list[str]]:
    """Client id -> subscribed filters; empty when there is no record (or it cannot be read)."""
    try:
        sessions = json.loads(path.read_text()).get("sessions", {})
    except (OSError, ValueError, AttributeError):
        return {}
    return {str(client): [str(f) for f in filters] for client, filters in sessions.items()}


def unread_topics(root: Path, topics: Iterable[str]) -> list[str] | None:
    """The topics no subscription of the sandbox in `root` matches, i.e. no deployed rule reads there; None
    when no rule runner has subscribed in that sandbox yet (nothing to tell)."""
    sessions = read_sessions(root / SUBSCRIPTIONS_FILE)
    if not sessions:
        return None
    filters = {f for subscribed in sessions.values() for f in subscribed}
    return sorted({t for t in topics if not any(topic_matches(f, t) for f in filters)})
