"""A worker that dies is not silent: the supervisor records it and signals the runner to stop."""

from __future__ import annotations

from local_aws.lambda_.supervision import Backoff, Supervisor, WorkerHealth


def test_a_dying_worker_sets_failed_and_names_itself() -> None:
    supervisor = Supervisor()

    def broken(health: WorkerHealth) -> None:
        health.ok()
        raise KeyError("surprise")

    supervisor.start("hand-off-0", broken)
    assert supervisor.failed.wait(10)
    supervisor.join(5)
    assert supervisor.failure is not None and "hand-off-0" in supervisor.failure
    assert supervisor.report()["hand-off-0"]["state"] == "dead"


def test_trouble_is_reported_until_the_worker_recovers() -> None:
    health = WorkerHealth("poll-0")
    health.trouble("moto unreachable")
    assert (health.state, health.problem, health.troubles) == ("retrying", "moto unreachable", 1)
    health.ok()
    assert (health.state, health.problem) == ("ok", None)


def test_backoff_grows_to_its_cap() -> None:
    backoff = Backoff()
    delays = [backoff.next() for _ in range(10)]
    assert delays[0] < 0.3 and max(delays) <= Backoff.LONGEST * 1.2 and delays[-1] >= Backoff.LONGEST * 0.8
