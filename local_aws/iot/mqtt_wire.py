"""The MQTT packets the local IoT endpoint reads and rewrites (MQTT 3.1.1 and 5, OASIS standards).

The endpoint always speaks MQTT 5 to the broker, whatever the device speaks: only MQTT 5 lets a PUBLISH carry a
user property, and the endpoint stamps every message a device publishes (and its Last Will) with the client id
IoT Core vouches for (`CLIENT_ID_PROPERTY`), so the rules engine's `clientid()` is the publisher's, as on AWS,
and with its principal (`PRINCIPAL_PROPERTY`: the certificate id, the hex SHA-256 of the certificate's DER), which
the rules engine reads as `principal()`. mosquitto passes user properties on to MQTT 5 subscribers unchanged. A
device's own properties of those names are dropped, so a device cannot claim another's identity. An MQTT 3.1.1 device's packets are translated both ways.
"""

from __future__ import annotations

import asyncio
import struct
from dataclasses import dataclass

from local_aws.limits import MQTT_MAX_PACKET_BYTES

# The user property that carries the publisher's client id from the device endpoint to the rules engine.
CLIENT_ID_PROPERTY = "x-local-iot-client-id"
# The user property that carries the publisher's principal (its certificate id) the same way.
PRINCIPAL_PROPERTY = "x-local-iot-principal"
_STAMPED = (CLIENT_ID_PROPERTY, PRINCIPAL_PROPERTY)

CONNECT, CONNACK, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP = 1, 2, 3, 4, 5, 6, 7
SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK, PINGREQ, PINGRESP, DISCONNECT, AUTH = 8, 9, 10, 11, 12, 13, 14, 15
MQTT311, MQTT5 = 4, 5
USER_PROPERTY, SESSION_EXPIRY = 0x26, 0x11
NEVER_EXPIRES = 0xFFFFFFFF  # MQTT 5's session expiry for what MQTT 3.1.1 calls a persistent session

# MQTT 5's properties by identifier: how many bytes the value takes ("s": a 2-byte length and that many bytes,
# "v": a variable byte integer, "p": two length-prefixed strings), section 2.2.2.2 of the standard.
_PROPERTY_SIZES: dict[int, int | str] = {
    **dict.fromkeys((0x01, 0x17, 0x19, 0x24, 0x25, 0x28, 0x29, 0x2A), 1),
    **dict.fromkeys((0x13, 0x21, 0x22, 0x23), 2),
    **dict.fromkeys((0x02, 0x11, 0x18, 0x27), 4),
    **dict.fromkeys((0x03, 0x08, 0x09, 0x12, 0x15, 0x16, 0x1A, 0x1C, 0x1F), "s"),
    0x0B: "v",
    USER_PROPERTY: "p",
}
# MQTT 5 CONNACK reason codes -> MQTT 3.1.1 return codes (section 3.2.2.3 of each standard).
_CONNACK_CODES = {0x00: 0, 0x84: 1, 0x85: 2, 0x86: 4, 0x87: 5, 0x8C: 4}
_SERVER_UNAVAILABLE_311 = 3


class ProtocolError(ValueError):
    """The peer sent something that is not MQTT."""


@dataclass(frozen=True)
class Packet:
    first: int  # packet type and flags
    body: bytes

    @property
    def kind(self) -> int:
        return self.first >> 4

    def encode(self) -> bytes:
        return bytes([self.first]) + encode_varint(len(self.body)) + self.body


def encode_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value % 128, value // 128
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


async def read_packet(reader: asyncio.StreamReader, limit: int = MQTT_MAX_PACKET_BYTES) -> Packet | None:
    """The next MQTT control packet, or None when the peer closed the stream; ProtocolError for a packet whose
    remaining length is over `limit` (it is not read)."""
    try:
        first = (await reader.readexactly(1))[0]
        length, multiplier = 0, 1
        for _ in range(4):
            byte = (await reader.readexactly(1))[0]
            length += (byte & 0x7F) * multiplier
            multiplier *= 128
            if not byte & 0x80:
                break
        else:
            raise ProtocolError("malformed remaining length")
        if length > limit:
            raise ProtocolError(f"a packet of {length} bytes is over the limit of {limit}; disconnected")
        return Packet(first, await reader.readexactly(length))
    except asyncio.IncompleteReadError:
        return None


class Cursor:
    def __init__(self, data: bytes, offset: int = 0) -> None:
        self.data, self.offset = data, offset

    def take(self, size: int) -> bytes:
        if self.offset + size > len(self.data):
            raise ProtocolError("packet shorter than its fields")
        chunk = self.data[self.offset : self.offset + size]
        self.offset += size
        return chunk

    def u8(self) -> int:
        return self.take(1)[0]

    def u16(self) -> int:
        value: int = struct.unpack("!H", self.take(2))[0]
        return value

    def binary(self) -> bytes:
        return self.take(self.u16())

    def text(self) -> str:
        try:
            return self.binary().decode()
        except UnicodeDecodeError as error:
            raise ProtocolError("a string is not UTF-8") from error

    def varint(self) -> int:
        value, multiplier = 0, 1
        for _ in range(4):
            byte = self.u8()
            value += (byte & 0x7F) * multiplier
            multiplier *= 128
            if not byte & 0x80:
                return value
        raise ProtocolError("malformed variable byte integer")

    def properties(self) -> bytes:
        """The properties' content (their length prefix read and dropped)."""
        return self.take(self.varint())

    def rest(self) -> bytes:
        return self.take(len(self.data) - self.offset)


def string(value: bytes) -> bytes:
    return struct.pack("!H", len(value)) + value


def user_property(name: str, value: str) -> bytes:
    return bytes([USER_PROPERTY]) + string(name.encode()) + string(value.encode())


def stamped(properties: bytes, client_id: str, principal: str | None = None) -> bytes:
    """MQTT 5 properties (content, without length) with every user property named CLIENT_ID_PROPERTY or
    PRINCIPAL_PROPERTY dropped and ours added (the principal when there is one); returned with their length
    prefix."""
    cursor, kept = Cursor(properties), bytearray()
    while cursor.offset < len(properties):
        start = cursor.offset
        identifier = cursor.varint()
        size = _PROPERTY_SIZES.get(identifier)
        if size is None:
            raise ProtocolError(f"unknown MQTT 5 property 0x{identifier:02x}")
        if size == "s":
            cursor.binary()
        elif size == "v":
            cursor.varint()
        elif size == "p":
            if cursor.text() in _STAMPED:
                cursor.binary()
                continue  # the device's claim of an identity: dropped
            cursor.binary()
        else:
            assert isinstance(size, int)
            cursor.take(size)
        kept += properties[start : cursor.offset]
    kept += user_property(CLIENT_ID_PROPERTY, client_id)
    if principal is not None:
        kept += user_property(PRINCIPAL_PROPERTY, principal)
    return encode_varint(len(kept)) + bytes(kept)


@dataclass(frozen=True)
class Connect:
    level: int  # 4: MQTT 3.1.1, 5: MQTT 5
    client_id: str
    flags: int
    keep_alive: bytes
    properties: bytes  # MQTT 5 only (content, without length)
    will_properties: bytes  # MQTT 5 only (content, without length)
    will_topic: str | None
    will_payload: bytes

    @classmethod
    def parse(cls, packet: Packet) -> Connect:
        if packet.kind != CONNECT:
            raise ProtocolError("the first packet is not CONNECT")
        cursor = Cursor(packet.body)
        name = cursor.text()
        level = cursor.u8()
        if name != "MQTT" or level not in (MQTT311, MQTT5):
            raise ProtocolError(f"protocol {name} level {level}: only MQTT 3.1.1 and 5 are served")
        flags = cursor.u8()
        keep_alive = cursor.take(2)
        properties = cursor.properties() if level == MQTT5 else b""
        client_id = cursor.text()
        will_properties, will_topic, will_payload = b"", None, b""
        if flags & 0x04:
            if level == MQTT5:
                will_properties = cursor.properties()
            will_topic = cursor.text()
            will_payload = cursor.binary()
        return cls(level, client_id, flags, keep_alive, properties, will_properties, will_topic, will_payload)

    @property
    def will_retain(self) -> bool:
        return bool(self.flags & 0x20)

    @property
    def persistent(self) -> bool:
        """Whether the device asks to keep its session (MQTT 3.1.1's clean session 0; MQTT 5's clean start 0)."""
        return not self.flags & 0x02

    def upstream(self, username: str, password: str, principal: str | None = None) -> Packet:
        """The CONNECT the endpoint sends the broker: MQTT 5, under its own login (the device's are dropped), the
        will stamped with the device's client id and principal. A 3.1.1 persistent session becomes one that never expires."""
        flags = (self.flags & 0x3E) | 0xC0
        properties = self.properties
        if self.level == MQTT311 and self.persistent:
            properties = bytes([SESSION_EXPIRY]) + struct.pack("!I", NEVER_EXPIRES)
        body = string(b"MQTT") + bytes([MQTT5, flags]) + self.keep_alive
        body += encode_varint(len(properties)) + properties + string(self.client_id.encode())
        if self.will_topic is not None:
            body += stamped(self.will_properties, self.client_id, principal)
            body += string(self.will_topic.encode()) + string(self.will_payload)
        body += string(username.encode()) + string(password.encode())
        return Packet(CONNECT << 4, body)

    def refusal(self) -> bytes:
        """CONNACK 'not authorized' in the client's protocol level."""
        if self.level == MQTT5:
            return bytes([CONNACK << 4, 3, 0, 0x87, 0])
        return bytes([CONNACK << 4, 2, 0, 5])


@dataclass(frozen=True)
class Publish:
    topic: str
    qos: int
    retain: bool
    head: bytes  # the topic and packet id, as sent
    properties: bytes  # MQTT 5 only (content, without length)
    payload: bytes

    @classmethod
    def parse(cls, packet: Packet, level: int) -> Publish:
        cursor = Cursor(packet.body)
        topic = cursor.text()
        qos = (packet.first >> 1) & 0x03
        if qos:
            cursor.u16()
        head = packet.body[: cursor.offset]
        properties = cursor.properties() if level == MQTT5 else b""
        return cls(topic, qos, bool(packet.first & 0x01), head, properties, cursor.rest())

    def stamped(self, first: int, client_id: str, principal: str | None = None) -> Packet:
        """This PUBLISH as MQTT 5, carrying the publisher's client id (and principal, when there is one)."""
        return Packet(first, self.head + stamped(self.properties, client_id, principal) + self.payload)


def subscribe_filters(packet: Packet, level: int) -> list[str]:
    cursor = Cursor(packet.body)
    cursor.u16()  # packet identifier
    if level == MQTT5:
        cursor.properties()
    filters = []
    while cursor.offset < len(cursor.data):
        filters.append(cursor.text())
        cursor.u8()  # subscription options
    return filters


def to_mqtt5(packet: Packet) -> Packet:
    """An MQTT 3.1.1 device's packet other than CONNECT and PUBLISH, as MQTT 5: SUBSCRIBE and UNSUBSCRIBE gain
    an empty property list; the acknowledgements, PINGREQ and DISCONNECT mean the same in both."""
    if packet.kind in (SUBSCRIBE, UNSUBSCRIBE):
        return Packet(packet.first, packet.body[:2] + b"\x00" + packet.body[2:])
    return packet


def to_mqtt311(packet: Packet) -> Packet | None:
    """The broker's MQTT 5 packet as an MQTT 3.1.1 device understands it; None for what 3.1.1 has no packet for
    (the server's DISCONNECT, AUTH)."""
    kind, body = packet.kind, packet.body
    if kind == CONNACK:
        code = body[1] if len(body) > 1 else 0
        return Packet(
            packet.first, bytes([body[0] & 0x01, _CONNACK_CODES.get(code, _SERVER_UNAVAILABLE_311)])
        )
    if kind == PUBLISH:
        publish = Publish.parse(packet, MQTT5)
        return Packet(packet.first, publish.head + publish.payload)
    if kind in (PUBACK, PUBREC, PUBREL, PUBCOMP, UNSUBACK):
        return Packet(packet.first, body[:2])
    if kind == SUBACK:
        cursor = Cursor(body, 2)
        cursor.properties()
        codes = bytes(code if code < 0x80 else 0x80 for code in cursor.rest())
        return Packet(packet.first, body[:2] + codes)
    if kind in (DISCONNECT, AUTH):
        return None
    return packet
