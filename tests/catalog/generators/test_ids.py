"""short_id and uuid: fixed per device and distinct between devices, or new in every message."""

from __future__ import annotations

import random
import uuid

from catalog.generators import ShortId, Uuid


def test_static_ids_are_fixed_per_device_and_distinct_between_devices() -> None:
    for spec in (ShortId(type="short_id"), Uuid(type="uuid")):
        firsts = set()
        for device in range(200):
            stream = spec.stream(random.Random(f"seed/{device}"), lambda: 0.0, device)
            values = {stream() for _ in range(5)}
            assert len(values) == 1
            firsts |= values
        assert len(firsts) == 200


def test_per_message_ids_change_every_time() -> None:
    short = ShortId(type="short_id", length=5, static=False).stream(random.Random(1), lambda: 0.0)
    ids = [short() for _ in range(100)]
    assert len(set(ids)) == 100 and all(len(i) == 5 and i.isalnum() for i in ids)
    fresh = Uuid(type="uuid", static=False).stream(random.Random(1), lambda: 0.0)
    uuids = [uuid.UUID(fresh()) for _ in range(100)]
    assert len(set(uuids)) == 100 and all(u.version == 4 for u in uuids)


def test_the_same_seed_gives_the_same_ids() -> None:
    def draw(seed: str) -> tuple[str, str]:
        rng = random.Random(seed)
        return ShortId(type="short_id").stream(rng, lambda: 0.0)(), Uuid(type="uuid").stream(
            rng, lambda: 0.0
        )()

    assert draw("7") == draw("7") != draw("8")
