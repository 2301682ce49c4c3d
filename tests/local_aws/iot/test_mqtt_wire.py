"""The endpoint's MQTT rewriting: every message stamped with the publisher's client id, a device's forgery dropped,
an MQTT 3.1.1 device's packets carried over MQTT 5 and back."""

from __future__ import annotations

from local_aws.iot.mqtt_wire import (
    CLIENT_ID_PROPERTY,
    CONNACK,
    CONNECT,
    DISCONNECT,
    MQTT5,
    MQTT311,
    PRINCIPAL_PROPERTY,
    PUBACK,
    PUBLISH,
    SUBACK,
    SUBSCRIBE,
    Connect,
    Packet,
    Publish,
    string,
    subscribe_filters,
    to_mqtt5,
    to_mqtt311,
    user_property,
)
from tests.support.mqtt_packets import qos1_publish, user_properties


def test_a_publish_is_stamped_and_a_forged_client_id_dropped() -> None:
    forged = user_property(CLIENT_ID_PROPERTY, "shelf-0000") + user_property("kept", "yes")
    publish = Publish.parse(qos1_publish("/pressure/data", forged), MQTT5)
    assert (publish.topic, publish.qos, publish.retain, publish.payload) == (
        "/pressure/data",
        1,
        False,
        b"{}",
    )
    relayed = Publish.parse(publish.stamped(PUBLISH << 4 | 0x02, "pressure-0000"), MQTT5)
    assert user_properties(relayed.properties) == [("kept", "yes"), (CLIENT_ID_PROPERTY, "pressure-0000")]
    assert relayed.payload == b"{}" and relayed.head == publish.head


def test_a_publish_is_stamped_with_the_principal_and_a_forged_one_dropped() -> None:
    forged = user_property(PRINCIPAL_PROPERTY, "cd" * 32) + user_property("kept", "yes")
    publish = Publish.parse(qos1_publish("/pressure/data", forged), MQTT5)
    relayed = Publish.parse(publish.stamped(PUBLISH << 4 | 0x02, "pressure-0000", "ab" * 32), MQTT5)
    assert user_properties(relayed.properties) == [
        ("kept", "yes"),
        (CLIENT_ID_PROPERTY, "pressure-0000"),
        (PRINCIPAL_PROPERTY, "ab" * 32),
    ]
    # Without a principal (no certificate), a forged one is still dropped and none is added.
    unstamped = Publish.parse(publish.stamped(PUBLISH << 4 | 0x02, "pressure-0000"), MQTT5)
    assert user_properties(unstamped.properties) == [("kept", "yes"), (CLIENT_ID_PROPERTY, "pressure-0000")]


def test_an_mqtt_3_1_1_device_is_carried_over_mqtt_5() -> None:
    will = string(b"/pressure/data") + string(b"gone")
    body = string(b"MQTT") + bytes([MQTT311, 0x04 | 0x20]) + b"\x00\x3c" + string(b"pressure-0000") + will
    connect = Connect.parse(Packet(CONNECT << 4, body))  # clean session 0, a retained will
    assert (connect.will_topic, connect.will_retain, connect.persistent) == ("/pressure/data", True, True)
    upstream = Connect.parse(connect.upstream("gateway", "secret"))
    assert upstream.level == MQTT5 and upstream.client_id == "pressure-0000"
    assert upstream.properties == b"\x11\xff\xff\xff\xff"  # a 3.1.1 kept session never expires
    assert user_properties(upstream.will_properties) == [(CLIENT_ID_PROPERTY, "pressure-0000")]
    assert (upstream.will_topic, upstream.will_payload, upstream.will_retain) == (
        "/pressure/data",
        b"gone",
        True,
    )

    publish = Publish.parse(Packet(PUBLISH << 4 | 0x03, string(b"t") + b"\x00\x01" + b"x"), MQTT311)
    assert publish.retain and publish.properties == b""
    subscribe = to_mqtt5(Packet(SUBSCRIBE << 4 | 0x02, b"\x00\x02" + string(b"a/#") + b"\x01"))
    assert subscribe_filters(subscribe, MQTT5) == ["a/#"]

    # The broker's MQTT 5 answers as 3.1.1 has them.
    assert to_mqtt311(Packet(CONNACK << 4, b"\x01\x00\x03\x21\x00\x10")) == Packet(CONNACK << 4, b"\x01\x00")
    assert to_mqtt311(Packet(CONNACK << 4, b"\x00\x87\x00")) == Packet(CONNACK << 4, b"\x00\x05")
    assert to_mqtt311(Packet(PUBACK << 4, b"\x00\x01\x10\x00")) == Packet(PUBACK << 4, b"\x00\x01")
    assert to_mqtt311(Packet(SUBACK << 4, b"\x00\x02\x00\x01\x87")) == Packet(
        SUBACK << 4, b"\x00\x02\x01\x80"
    )
    relayed = to_mqtt311(Packet(PUBLISH << 4 | 0x02, string(b"t") + b"\x00\x05" + b"\x02\x01\x01" + b"x"))
    assert relayed == Packet(PUBLISH << 4 | 0x02, string(b"t") + b"\x00\x05x")
    assert to_mqtt311(Packet(DISCONNECT << 4, b"\x8e")) is None
