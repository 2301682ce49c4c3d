"""What the core needs from the outside world; the adapters implement these, tests may use the real ones."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Protocol

# Seconds the invocation has left; retries stop in time for the function to report back.
RemainingTime = Callable[[], float]


class MetadataLookup(Protocol):
    def get_many(self, keys: Collection[str]) -> Mapping[str, Mapping[str, object] | None]:
        """Each key's item, or None when the table has none; raises TransientError."""
        ...


class SentLines(Protocol):
    def result(self) -> dict[int, str]:
        """What `PointWriter.write` returns for the lines sent; raises TransientError."""
        ...


class PointWriter(Protocol):
    def write(self, lines: Sequence[str], remaining: RemainingTime) -> dict[int, str]:
        """Write the lines; returns the ones InfluxDB refused for good (index -> its error); raises TransientError."""
        ...

    def send(self, lines: Sequence[str], remaining: RemainingTime) -> SentLines:
        """Start writing the lines and return at once: the store takes them while the caller goes on."""
        ...


class RejectSink(Protocol):
    def send(self, bodies: Sequence[str]) -> set[int]:
        """Send the messages; returns the indices that could not be sent."""
        ...
