"""`short_id` and `uuid`: identifiers, fixed per device (the default) or new in every message.

Drawn from the device's random generator, so a seeded run gives every device the same ids again.
"""

from __future__ import annotations

import random
import string
import uuid
from collections.abc import Callable
from typing import Literal

from pydantic import Field

from catalog.generators.base import Clock, Spec, Stream

ALPHABET = string.ascii_letters + string.digits


def _fixed_or_fresh(draw: Callable[[], str], static: bool) -> Stream:
    if static:
        fixed = draw()
        return lambda: fixed
    return draw


class ShortId(Spec):
    type: Literal["short_id"]
    length: int = Field(default=7, ge=1, le=64)
    static: bool = True

    def stream(self, rng: random.Random, clock: Clock, index: int = 0) -> Stream:
        return _fixed_or_fresh(lambda: "".join(rng.choices(ALPHABET, k=self.length)), self.static)


class Uuid(Spec):
    type: Literal["uuid"]
    static: bool = True

    def stream(self, rng: random.Random, clock: Clock, index: int = 0) -> Stream:
        return _fixed_or_fresh(lambda: str(uuid.UUID(int=rng.getrandbits(128), version=4)), self.static)
