"""What the core needs from the outside world; the adapters implement these, tests may use the real ones.

A sink is where a kind's readings are written (the catalog's `sinks`): every sink of its kind must hold a reading
before it counts as written. Each sink is a `SinkWriter` of the items it takes: InfluxDB takes a reading as a
line of line protocol (`PointWriter`: influx_writer.InfluxWriter, which also carries the ingest health points),
the SQL sink as a `SinkRow` (`RowWriter`: sql_sink.SqlSink). Both answer the same way: the items refused for good
(index -> reason: rejected with it), or TransientError (the sink is down: the reading is missing there).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from typing import NamedTuple, Protocol, TypeVar

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


Item = TypeVar("Item", contravariant=True)


class SinkWriter(Protocol[Item]):
    def write(self, lines: Sequence[Item], remaining: RemainingTime) -> dict[int, str]:
        """Write the items; returns the ones the sink refused for good (index -> its error); raises TransientError."""
        ...

    def send(self, lines: Sequence[Item], remaining: RemainingTime) -> SentLines:
        """Start writing the items and return (at once, when the sink can): it takes them while the caller goes on."""
        ...


class SinkRow(NamedTuple):
    """A reading as a row-shaped sink takes it: what InfluxDB's point carries, the tags apart from the sensor id."""

    kind: str  # the catalog's kind (the SQL sink's `board`)
    sensor_id: str  # InfluxDB's sensorID tag
    time_ms: int  # the reading's time, milliseconds since the epoch (UTC)
    fields: Mapping[str, float]  # finite numbers (validation)
    tags: Mapping[str, str]  # the reading's own tags and its device's metadata tags, as on the point


PointWriter = SinkWriter[str]  # InfluxDB: a reading is a line of line protocol
RowWriter = SinkWriter[SinkRow]  # the SQL sink (and any other row-shaped one)


class RejectSink(Protocol):
    def send(self, bodies: Sequence[str]) -> set[int]:
        """Send the messages; returns the indices that could not be sent."""
        ...
