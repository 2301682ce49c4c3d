"""Packets for the tests of the local IoT endpoint's MQTT rewriting, and what they read back from one."""

from __future__ import annotations

from local_aws.iot.mqtt_wire import PUBLISH, Cursor, Packet, encode_varint, string


def qos1_publish(topic: str, properties: bytes, payload: bytes = b"{}") -> Packet:
    """An MQTT 5 PUBLISH at QoS 1 (packet id 7) with these properties (without their length)."""
    body = string(topic.encode()) + b"\x00\x07" + encode_varint(len(properties)) + properties + payload
    return Packet(PUBLISH << 4 | 0x02, body)


def user_properties(properties: bytes) -> list[tuple[str, str]]:
    """The user properties of a property list (content without its length) that holds nothing else."""
    cursor, found = Cursor(properties), []
    while cursor.offset < len(cursor.data):
        assert cursor.varint() == 0x26
        found.append((cursor.text(), cursor.text()))
    return found
