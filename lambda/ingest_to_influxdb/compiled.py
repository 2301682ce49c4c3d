"""The usual reading decoded and checked in compiled code (msgspec), before the Python checks of `validation`.

Per kind of the packed catalog, a msgspec Struct is made from what the kind reads: each field a finite number
(or, for a `non_negative_integer`, a whole number 0..2**53-1, exact as a float), each tag and sensor-id attribute
text of 1 to MAX_IDENTIFIER_LENGTH characters, and what every reading may carry (connection_clientid, endpoint,
metakey, sensordatetime). msgspec reads only those attributes out of the JSON text (or checks Lambda's decoded
object) and checks their types and bounds in C. Left to Python, in a reader written out per kind, are what str
methods do faster than a regular expression in msgspec (identifiers are printable ASCII), the sensor id and the
device's time (the same parsing as the full checks': msgspec's datetime rounds and reads cases differently).
The catalog's ranges are not checked: they are the dashboards' scale, and a reading outside them is written
(catalog/schema.py, Range), so the packed catalog does not carry them.

A batch's texts go through msgspec in one call (`readings`): joined into one JSON array and decoded as a list
of a union of the kinds' Structs, each known by the `topic` the rule adds to every reading, once a guard has made
sure the array's n-th object can only be the n-th text. A text that does not name its topic, or a batch the guard
does not let through, is read text by text as before.

`reading` answers None whenever it does not accept a payload: anything unusual (a number sent as text, a time
in epoch seconds as a float, non-ASCII names, a nested or oversized payload, a kind whose attributes serve two
roles, ...). The full checks then decide, so every rejection keeps its reason; whenever this returns a reading,
it is the one `validation.decode_fully` and `validate_fully` make (tests/ingest_to_influxdb/test_validation_paths.py).
"""

from __future__ import annotations

import functools
import operator
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

import msgspec
from msgspec import UNSET, Meta, Struct, UnsetType

from ingest_to_influxdb import kinds
from ingest_to_influxdb.constants import (
    MAX_IDENTIFIER_LENGTH,
    MAX_METAKEY_LENGTH,
    MAX_NESTING_DEPTH,
    MAX_PAYLOAD_BYTES,
    MAX_TIMESTAMP_TEXT_LENGTH,
    MAX_TOPIC_LENGTH,
    METAKEY,
)
from ingest_to_influxdb.identity import CONNECTION_FIELD, ENDPOINT_NAMESPACE, NOT_OVER_MQTT
from ingest_to_influxdb.kinds import FieldRule, KindTable, ReadingKind
from ingest_to_influxdb.timestamps import iso_epoch_ms, whole_epoch_ms
from ingest_to_influxdb.validation import ENDPOINT, Reading, small_flat_object

TIME = "sensordatetime"
TOPIC = "topic"
_EXACT = 2**53  # the largest integer a float holds exactly
_FINITE = sys.float_info.max  # a float within ±this is finite (NaN fails both bounds)

Identifier = Annotated[str, Meta(min_length=1, max_length=MAX_IDENTIFIER_LENGTH)]
# msgspec makes an integer a float as Python's float() does (correctly rounded), and stops at one out of range.
Number = Annotated[float, Meta(ge=-_FINITE, le=_FINITE)]
# Below 2**53 every integer is exact as a float: a larger one (rounded when made a float) takes the full checks.
Count = Annotated[float, Meta(ge=0, le=_EXACT - 1, multiple_of=1)]
MetaKey = Annotated[str, Meta(min_length=1, max_length=MAX_METAKEY_LENGTH)]
Time = Annotated[str, Meta(max_length=MAX_TIMESTAMP_TEXT_LENGTH)] | int

_OPTIONAL_ID = (Identifier | None, None)
_REQUIRED: Any = msgspec.NODEFAULT
# What every reading may carry, in this order at the start of each Struct: (attribute, type, default).
_COMMON = (
    (CONNECTION_FIELD, *_OPTIONAL_ID),
    (ENDPOINT, *_OPTIONAL_ID),
    (METAKEY, MetaKey | None, None),
    (TIME, Time, _REQUIRED),
)
_TYPES = {FieldRule.FINITE_NUMBER: Number, FieldRule.NON_NEGATIVE_INTEGER: Count}


class _Topic(Struct):
    """The one attribute that picks the kind, read first (msgspec skips the others)."""

    topic: str | UnsetType | None = UNSET


_TOPIC_DECODER = msgspec.json.Decoder(_Topic)
_UNKNOWN: Any = object()  # a topic no kind's rule delivers as it is


def _small_and_shallow(text: str | bytes) -> bool:
    """Whether JSON text is within the size limit and cannot nest deeper than the limit, having fewer "{" and
    "[" than that (msgspec skips what the kind does not read, unchecked). Text must be ASCII, so its length
    is its size in bytes (bytes that are not UTF-8 fail to decode)."""
    if isinstance(text, str):
        if not text.isascii():
            return False
        return len(text) <= MAX_PAYLOAD_BYTES and text.count("{") + text.count("[") <= MAX_NESTING_DEPTH
    return len(text) <= MAX_PAYLOAD_BYTES and text.count(b"{") + text.count(b"[") <= MAX_NESTING_DEPTH


_FIRST = operator.itemgetter(0)
_TOPIC_KEY = f'"{TOPIC}"'


def _joined(payloads: Sequence[object]) -> str | bytes | None:
    """The texts as one JSON array, or None when they are not all texts (or all bytes) that can be so joined
    (see `CompiledChecks.readings`). The size of each is checked here too, the depth by the count of "{"."""
    kinds_of_payload = set(map(type, payloads))
    if kinds_of_payload == {str}:
        texts: Sequence[str] = payloads  # type: ignore[assignment]
        if (
            _TOPIC_KEY not in texts[0]
        ):  # readings that do not name their topic (a test's, a replay's): one by one
            return None
        if max(map(len, texts)) > MAX_PAYLOAD_BYTES or set(map(_FIRST, texts)) != {"{"}:
            return None
        text = "[" + ",".join(texts) + "]"
        # (a str's isascii is a flag: no scan)
        return text if text.isascii() and text.count("{") == len(texts) and text.count("[") == 1 else None
    if kinds_of_payload == {bytes}:
        data: Sequence[bytes] = payloads  # type: ignore[assignment]
        if _TOPIC_KEY.encode() not in data[0]:
            return None
        if max(map(len, data)) > MAX_PAYLOAD_BYTES or set(map(_FIRST, data)) != {ord("{")}:
            return None
        joined = b"[" + b",".join(data) + b"]"
        return (
            joined
            if joined.isascii() and joined.count(b"{") == len(data) and joined.count(b"[") == 1
            else None
        )
    return None


# The Python left after msgspec, written out per kind (a loop over the kind's attributes costs as much again):
# the sensor id (the connection's, else the webhook's endpoint, else the kind's attributes joined with "-"),
# the identifiers printable ASCII not ending with a backslash, the device's time, and the reading.
_READER = """
def read(decoded, now_ms):
    sensor_id = decoded.f0
    metakey = decoded.f2
    if sensor_id is None:
        sensor_id = decoded.f1
        if sensor_id is None:
            parts = ({parts},)
            if None in parts:
                return None
            sensor_id = "-".join(parts)
            if "\\\\-" in sensor_id:  # a part ending with a backslash (or holding one before a "-")
                return None
        if not (sensor_id.isascii() and sensor_id.isprintable()) or sensor_id[-1] == "\\\\":
            return None
        if decoded.f1 is not None:
            sensor_id = ENDPOINT_NAMESPACE + sensor_id  # a webhook's endpoint: never a thing's name
    elif sensor_id == NOT_OVER_MQTT or not (sensor_id.isascii() and sensor_id.isprintable()) or sensor_id[-1] == "\\\\":
        return None
    else:
        metakey = sensor_id  # a broker vouches for the thing: its item is the thing's (identity.py)
    if metakey is not None and not metakey.isascii():
        return None
    when = decoded.f3
    time_ms = whole_epoch_ms(when, now_ms) if type(when) is int else iso_epoch_ms(when, now_ms)
    if time_ms is None:
        return None
{tag_checks}
    return new_reading(Reading, (kind, sensor_id, metakey, {{{fields}}}, {{{tags}}}, time_ms))
"""
_TAG_CHECK = """    {name} = decoded.{name}
    if not ({name}.isascii() and {name}.isprintable()) or {name}[-1] == "\\\\":
        return None
"""


def _reader(kind: ReadingKind, struct_name: Mapping[str, str]) -> Callable[[Any, int], Reading | None]:
    """The kind's reader of a decoded Struct: the reading `validation._common_case` makes, or None."""
    tags = {spec.name: struct_name[spec.source] for spec in kind.tags}
    source = _READER.format(
        parts=", ".join(f"decoded.{struct_name[a]}" for a in kind.sensor_id),
        tag_checks="".join(_TAG_CHECK.format(name=name) for name in dict.fromkeys(tags.values())),
        fields=", ".join(f"{spec.name!r}: decoded.{struct_name[spec.source]}" for spec in kind.fields),
        tags=", ".join(f"{name!r}: {attribute}" for name, attribute in tags.items()),
    )
    scope: dict[str, Any] = {
        "NOT_OVER_MQTT": NOT_OVER_MQTT,
        "ENDPOINT_NAMESPACE": ENDPOINT_NAMESPACE,
        "whole_epoch_ms": whole_epoch_ms,
        "iso_epoch_ms": iso_epoch_ms,
        "Reading": Reading,
        "new_reading": tuple.__new__,  # the NamedTuple without its Python-level __new__
        "kind": kind,
    }
    exec(compile(source, f"<reader of {kind.name}>", "exec"), scope)  # only names made here, no payload text
    read: Callable[[Any, int], Reading | None] = scope["read"]
    return read


@dataclass(frozen=True)
class KindDecoder:
    """One kind's Struct, its decoder and its reader."""

    struct: type[Struct]
    decoder: msgspec.json.Decoder[Any]
    read: Callable[[Any, int], Reading | None]
    tagged: Callable[
        [str], type[Struct]
    ]  # the same Struct, known in a union by its `topic` (`CompiledChecks`)


def kind_decoder(kind: ReadingKind) -> KindDecoder | None:
    """The kind's Struct; None when one attribute would need two types (a field that is also a tag, a kind
    reading `topic` or `metakey` as a field, ...): such a kind always takes the full checks."""
    wanted: dict[str, tuple[Any, Any]] = {name: (kind_, default) for name, kind_, default in _COMMON}
    roles: list[tuple[str, tuple[Any, Any]]] = [(attribute, _OPTIONAL_ID) for attribute in kind.sensor_id]
    roles += [(spec.source, (_TYPES[spec.rule], _REQUIRED)) for spec in kind.fields]
    roles += [(spec.source, (Identifier, _REQUIRED)) for spec in kind.tags]
    for attribute, role in roles:
        if attribute == TOPIC or wanted.setdefault(attribute, role) != role:
            return None
    # Struct attributes f0, f1, ... (the common ones first, as the reader expects) stand for the payload's
    # attributes, whatever characters those hold.
    names = {f"f{n}": attribute for n, attribute in enumerate(wanted)}

    def struct(tag: str | None = None) -> type[Struct]:
        return msgspec.defstruct(
            f"{kind.name.title().replace('_', '')}Reading",
            [
                (name, wanted[attribute][0])
                if wanted[attribute][1] is _REQUIRED
                else (name, wanted[attribute][0], wanted[attribute][1])
                for name, attribute in names.items()
            ],
            rename=names,
            kw_only=True,  # required and optional attributes in any order
            frozen=True,
            gc=False,  # no cycles: collected by reference counting alone, and made faster
            tag_field=None if tag is None else TOPIC,
            tag=tag,
        )

    untagged = struct()
    struct_name = {attribute: name for name, attribute in names.items()}
    return KindDecoder(
        untagged,
        msgspec.json.Decoder(untagged),
        _reader(kind, struct_name),
        struct,
    )


class _NoKind(Struct, tag_field=TOPIC, tag=""):
    """A second member for the union of the batch decoder: msgspec checks a tag only in a union of several."""


_SPLIT_AT = re.compile(r" - at `\$\[(\d+)\]")  # where in a list msgspec found what it could not take


class CompiledChecks:
    """The Struct of every kind of a kind table, made once per table."""

    def __init__(self, table: KindTable) -> None:
        self.table = table
        self._decoders = {kind.name: kind_decoder(kind) for kind in table.kinds}
        # The decoder of each topic a kind's rule delivers, and of a reading without a topic, looked up at once;
        # other topics (Basic Ingest's, unknown ones) are resolved by the table as `validation.kind_of` does.
        self._by_topic: dict[str | None, KindDecoder | None] = {
            topic: self._decoder(topic)
            for topic in (None, *(kind.topic for kind in table.kinds))
            if topic is None or len(topic) <= MAX_TOPIC_LENGTH
        }

        # A batch's texts that each name their topic are decoded in one call: a union of every kind's Struct,
        # each known by its topic (what `_by_topic` delivers), then read by its kind's reader.
        tagged = {
            decoder.tagged(topic): decoder.read
            for topic, decoder in self._by_topic.items()
            if topic is not None and decoder is not None
        }
        self._readers: dict[type[Struct], Callable[[Any, int], Reading | None]] = tagged
        members: Any = functools.reduce(operator.or_, tagged, _NoKind)
        self._batch = msgspec.json.Decoder(list[members])

    def _decoder(self, topic: str | None) -> KindDecoder | None:
        kind = self.table.for_topic(topic)
        return None if kind is None else self._decoders[kind.name]

    def readings(
        self, payloads: Sequence[object], topics: Sequence[str | None], now_ms: int
    ) -> list[Reading | None]:
        """`reading` of each payload, in order; texts that name their own topic are decoded in one call.

        The texts are joined into one JSON array, which is taken only when it cannot be read but as the texts
        one by one: ASCII, each text starting with "{", as many "{" in all as texts, no "[" but the array's, and
        as many objects decoded as texts. Every element decoded is an object, so each "{" opens one and none is
        nested or inside a string: the n-th object is the n-th text. Where msgspec stops (an element it cannot take), the texts before it are
        decoded again in one call and the rest one by one."""
        count = len(payloads)
        if count < 2:
            return [self.reading(p, t, now_ms) for p, t in zip(payloads, topics, strict=True)]
        joined = _joined(payloads)
        if joined is None:
            return [self.reading(p, t, now_ms) for p, t in zip(payloads, topics, strict=True)]
        try:
            decoded = self._batch.decode(joined)
        except msgspec.ValidationError as error:
            found = _SPLIT_AT.search(str(error))
            stop = int(found.group(1)) if found else 0
            head = self.readings(payloads[:stop], topics[:stop], now_ms) if stop > 1 else []
            return head + [
                self.reading(p, t, now_ms)
                for p, t in zip(payloads[len(head) :], topics[len(head) :], strict=True)
            ]
        except msgspec.DecodeError:
            return [self.reading(p, t, now_ms) for p, t in zip(payloads, topics, strict=True)]
        # Fewer objects than texts: a "{" inside a string that began in the text before, not the texts' objects.
        if len(decoded) != count:
            return [self.reading(p, t, now_ms) for p, t in zip(payloads, topics, strict=True)]
        readers = self._readers
        out: list[Reading | None] = []
        for document, payload, topic in zip(decoded, payloads, topics, strict=True):
            read = readers.get(type(document))
            try:
                out.append(None if read is None else read(document, now_ms))
            except (ValueError, TypeError, OverflowError):
                out.append(None)
            if read is None:  # `_NoKind`: an empty topic, which `reading` resolves as the table does
                out[-1] = self.reading(payload, topic, now_ms)
        return out

    def reading(self, payload: object, topic: str | None, now_ms: int) -> Reading | None:
        """The reading of a usual payload, or None: then the full checks decide."""
        try:
            if type(payload) is str or type(payload) is bytes:  # (not a subclass, nor a bytearray)
                if not _small_and_shallow(payload):
                    return None
                found = _TOPIC_DECODER.decode(payload).topic
                chosen = topic if found is UNSET else found
            elif type(payload) is dict:
                if not small_flat_object(payload):
                    return None
                chosen = payload.get(TOPIC, topic)
            else:
                return None
            # The kind `validation.kind_of` picks: the reading's topic, else the envelope's, else the default.
            decoder: KindDecoder | None = (
                self._by_topic.get(chosen, _UNKNOWN) if type(chosen) is str or chosen is None else None
            )
            if decoder is _UNKNOWN:
                decoder = None if len(chosen) > MAX_TOPIC_LENGTH else self._decoder(chosen)  # type: ignore[arg-type]
            if decoder is None:
                return None
            if isinstance(payload, dict):
                return decoder.read(msgspec.convert(payload, decoder.struct), now_ms)
            return decoder.read(decoder.decoder.decode(payload), now_ms)
        except (msgspec.MsgspecError, ValueError, TypeError, OverflowError):
            return None  # whatever the payload holds, the full checks say what


_checks: CompiledChecks | None = None


def checks() -> CompiledChecks:
    """The compiled checks of this container's kinds (`kinds.table()`), made again when the table is."""
    global _checks
    table = kinds.table()
    if _checks is None or _checks.table is not table:
        _checks = CompiledChecks(table)
    return _checks
