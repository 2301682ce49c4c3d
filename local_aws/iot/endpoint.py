"""`python -m local_aws.iot.endpoint`: the local stand-in for AWS IoT Core's device endpoint, in front of mosquitto.

What IoT Core does and mosquitto 2.0 cannot do by configuration alone is done here:

- mutual TLS (1.2 or newer): a device must present a certificate signed by the sandbox's CA
  (local_aws/iot/ca.py); without one, or with another authority's, the handshake fails;
- iot:Connect: the certificate must be registered and ACTIVE in the IoT registry, and its policies
  must allow `client/<client id>`; with the project's device policy that pins the client id to a
  thing attached to the certificate. Otherwise CONNACK "not authorized" and the connection closes
  (mosquitto's `use_username_as_clientid` would rename such a client and let it in);
- iot:Publish and iot:Subscribe are checked on every PUBLISH and SUBSCRIBE; a denied one is not
  passed on and the connection is closed, as IoT Core closes it (mosquitto would acknowledge a
  denied QoS 1 publish to an MQTT 3.1.1 client and drop it silently); a subscription that would receive
  Basic Ingest topics (`$aws/rules/...`, which only the rules engine takes) is refused the same way;
- a PUBLISH whose payload is over IoT Core's 128 KB is refused the same way, never passed on (a packet over the
  broker's limit is not even read into memory);
- the access rules are reloaded when the access file changes (local_aws/iot/access.py), and a
  connected device that may no longer connect (deprovisioned, certificate revoked) is disconnected.

An allowed connection is relayed to mosquitto's plain listener under the gateway's own user, with
the device's client id, so the rule runner and everything else see the device as on IoT Core.
Messages from the broker to the device are relayed as they are (iot:Receive is not checked: the
device policies grant no subscription, so no device receives anything).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import signal
import ssl
import struct
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from local_aws.iot.access import Access
from local_aws.iot.policy import Connection
from local_aws.iot.sql import receives_basic_ingest
from local_aws.limits import IOT_MAX_PAYLOAD_BYTES, MQTT_MAX_PACKET_BYTES

CONNECT, CONNACK, PUBLISH, SUBSCRIBE = 1, 2, 3, 8
RELOAD_SECONDS = 0.5
CONNECT_TIMEOUT_SECONDS = 10
MQTT5 = 5


class GatewayConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    host: str
    port: int
    upstream_host: str
    upstream_port: int
    username: str
    password: str
    ca_file: Path
    cert_file: Path
    key_file: Path
    access_file: Path


class ProtocolError(ValueError):
    """The client sent something that is not MQTT."""


@dataclass(frozen=True)
class Packet:
    first: int  # packet type and flags
    body: bytes

    @property
    def kind(self) -> int:
        return self.first >> 4

    def encode(self) -> bytes:
        return bytes([self.first]) + encode_length(len(self.body)) + self.body


def encode_length(length: int) -> bytes:
    out = bytearray()
    while True:
        byte, length = length % 128, length // 128
        out.append(byte | (0x80 if length else 0))
        if not length:
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


class _Cursor:
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
        start = self.offset
        self.take(self.varint())
        return self.data[start : self.offset]


def _string(value: bytes) -> bytes:
    return struct.pack("!H", len(value)) + value


@dataclass(frozen=True)
class Connect:
    level: int  # 4: MQTT 3.1.1, 5: MQTT 5
    client_id: str
    header: bytes  # protocol name, level (flags and keep-alive follow)
    flags: int
    keep_alive: bytes
    properties: bytes  # MQTT 5 only
    will: bytes  # will properties, topic and payload as sent

    @classmethod
    def parse(cls, packet: Packet) -> Connect:
        if packet.kind != CONNECT:
            raise ProtocolError("the first packet is not CONNECT")
        cursor = _Cursor(packet.body)
        name = cursor.text()
        level = cursor.u8()
        if name != "MQTT" or level not in (4, MQTT5):
            raise ProtocolError(f"protocol {name} level {level}: only MQTT 3.1.1 and 5 are served")
        header = packet.body[: cursor.offset]
        flags = cursor.u8()
        keep_alive = cursor.take(2)
        properties = cursor.properties() if level == MQTT5 else b""
        client_id = cursor.text()
        will_start = cursor.offset
        if flags & 0x04:
            if level == MQTT5:
                cursor.properties()
            cursor.binary()
            cursor.binary()
        will = packet.body[will_start : cursor.offset]
        return cls(level, client_id, header, flags, keep_alive, properties, will)

    def with_login(self, username: str, password: str) -> Packet:
        """The same CONNECT under another user name and password (the device's own are dropped)."""
        flags = (self.flags & 0x3E) | 0xC0
        body = self.header + bytes([flags]) + self.keep_alive + self.properties
        body += (
            _string(self.client_id.encode())
            + self.will
            + _string(username.encode())
            + _string(password.encode())
        )
        return Packet(CONNECT << 4, body)

    def refusal(self) -> bytes:
        """CONNACK 'not authorized' in the client's protocol level."""
        if self.level == MQTT5:
            return bytes([CONNACK << 4, 3, 0, 0x87, 0])
        return bytes([CONNACK << 4, 2, 0, 5])


def publish_topic(packet: Packet) -> str:
    return _Cursor(packet.body).text()


def publish_payload_size(packet: Packet, level: int) -> int:
    """The bytes of a PUBLISH's payload: what follows the topic, the packet id (QoS 1 and 2) and, in MQTT 5,
    the properties."""
    cursor = _Cursor(packet.body)
    cursor.text()
    if (packet.first >> 1) & 0x03:
        cursor.u16()
    if level == MQTT5:
        cursor.properties()
    return len(packet.body) - cursor.offset


def subscribe_filters(packet: Packet, level: int) -> list[str]:
    cursor = _Cursor(packet.body)
    cursor.u16()  # packet identifier
    if level == MQTT5:
        cursor.properties()
    filters = []
    while cursor.offset < len(cursor.data):
        filters.append(cursor.text())
        cursor.u8()  # subscription options
    return filters


class Gateway:
    def __init__(self, config: GatewayConfig) -> None:
        self.config = config
        self.access: Access | None = None
        self._access_mtime: float | None = -1.0  # never read yet
        self._sessions: dict[asyncio.StreamWriter, tuple[Connection, asyncio.StreamWriter]] = {}
        # Decisions already made under the current rules: a device publishes to the same topic again and again.
        self._decisions: dict[tuple[Connection, str, str], bool] = {}

    def tls_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(cafile=str(self.config.ca_file))
        context.load_cert_chain(str(self.config.cert_file), str(self.config.key_file))
        return context

    # -- access rules ------------------------------------------------------------------------------
    def reload(self) -> None:
        try:
            mtime = self.config.access_file.stat().st_mtime
        except FileNotFoundError:
            mtime = None
        if mtime == self._access_mtime:
            return
        self._access_mtime = mtime
        self.access = Access.load(self.config.access_file)
        self._decisions.clear()
        count = len(self.access.principals) if self.access else 0
        log(f"access rules loaded: {count} certificates")
        for device, (connection, upstream) in list(self._sessions.items()):
            if self.access is None or not self.access.still_connects(connection):
                log(f"{connection.client_id}: may no longer connect; disconnected")
                _close(device, upstream)

    async def watch_access(self) -> None:
        while True:
            self.reload()
            await asyncio.sleep(RELOAD_SECONDS)

    # -- one device --------------------------------------------------------------------------------
    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_writer: asyncio.StreamWriter | None = None
        try:
            upstream = await self._admit(reader, writer)
            if upstream is None:
                return
            connection, level, (upstream_reader, upstream_writer) = upstream
            self._sessions[writer] = (connection, upstream_writer)
            await asyncio.gather(
                self._device_to_broker(reader, upstream_writer, writer, connection, level),
                _copy(upstream_reader, writer),
            )
        except (TimeoutError, ProtocolError, OSError) as error:
            log(f"connection from {writer.get_extra_info('peername')}: {type(error).__name__}: {error}")
        finally:
            self._sessions.pop(writer, None)
            _close(writer, upstream_writer)

    async def _admit(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> tuple[Connection, int, tuple[asyncio.StreamReader, asyncio.StreamWriter]] | None:
        packet = await asyncio.wait_for(read_packet(reader), CONNECT_TIMEOUT_SECONDS)
        if packet is None:
            return None
        connect = Connect.parse(packet)
        ssl_object = writer.get_extra_info("ssl_object")
        der = ssl_object.getpeercert(binary_form=True) if ssl_object else None
        if der is None or self.access is None:
            reason = "no client certificate" if der is None else "no access rules yet (nothing provisioned)"
            connection, why = None, reason
        else:
            subject = dict(item[0] for item in ssl_object.getpeercert().get("subject", ()))
            connection, why = self.access.connect(
                hashlib.sha256(der).hexdigest(), connect.client_id, subject.get("commonName")
            )
        if connection is None:
            log(f"refused client id '{connect.client_id}': {why}")
            writer.write(connect.refusal())
            await writer.drain()
            return None
        upstream = await asyncio.open_connection(self.config.upstream_host, self.config.upstream_port)
        upstream[1].write(connect.with_login(self.config.username, self.config.password).encode())
        await upstream[1].drain()
        return connection, connect.level, upstream

    async def _device_to_broker(
        self,
        reader: asyncio.StreamReader,
        upstream: asyncio.StreamWriter,
        device: asyncio.StreamWriter,
        connection: Connection,
        level: int,
    ) -> None:
        while (packet := await read_packet(reader)) is not None:
            denied = self._denied(packet, connection, level)
            if denied:
                log(f"{connection.client_id}: {denied}; disconnected, as IoT Core does")
                break
            upstream.write(packet.encode())
            await upstream.drain()
        _close(device, upstream)

    def _denied(self, packet: Packet, connection: Connection, level: int) -> str | None:
        access = self.access
        if access is None:
            return "no access rules"
        if packet.kind == PUBLISH:
            size = publish_payload_size(packet, level)
            if size > IOT_MAX_PAYLOAD_BYTES:
                return f"a payload of {size} bytes is over IoT Core's limit of {IOT_MAX_PAYLOAD_BYTES}"
            topic = publish_topic(packet)
            if not self._decide(connection, "publish", topic, access.may_publish):
                return f"iot:Publish to '{topic}' is not allowed"
        elif packet.kind == SUBSCRIBE:
            for topic_filter in subscribe_filters(packet, level):
                if receives_basic_ingest(topic_filter):  # reserved on IoT Core, whatever the policy says
                    return (
                        f"'{topic_filter}' would receive Basic Ingest topics, which nothing may subscribe to"
                    )
                if not self._decide(connection, "subscribe", topic_filter, access.may_subscribe):
                    return f"iot:Subscribe to '{topic_filter}' is not allowed"
        elif packet.kind == CONNECT:
            return "a second CONNECT on one connection"
        return None

    def _decide(
        self, connection: Connection, action: str, topic: str, check: Callable[[Connection, str], bool]
    ) -> bool:
        key = (connection, action, topic)
        if key not in self._decisions:
            self._decisions[key] = check(connection, topic)
        return self._decisions[key]


async def _copy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError):
        while chunk := await reader.read(65536):
            writer.write(chunk)
            await writer.drain()
    writer.close()


def _close(*writers: asyncio.StreamWriter | None) -> None:
    for writer in writers:
        if writer is not None and not writer.is_closing():
            writer.close()


def log(message: str) -> None:
    print(f"iot-gateway: {message}", flush=True)


async def serve(config: GatewayConfig) -> None:
    gateway = Gateway(config)
    gateway.reload()
    server = await asyncio.start_server(gateway.handle, config.host, config.port, ssl=gateway.tls_context())
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    watcher = asyncio.create_task(gateway.watch_access())
    log(
        f"listening on {config.host}:{config.port} (mutual TLS), relaying to {config.upstream_host}:{config.upstream_port}"
    )
    async with server:
        await stop.wait()
    watcher.cancel()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local_aws.iot.endpoint", description=__doc__)
    parser.add_argument(
        "--config", type=Path, required=True, help="the gateway's JSON configuration (mode 0600)"
    )
    args = parser.parse_args(argv)
    config = GatewayConfig.model_validate(json.loads(args.config.read_text()))
    asyncio.run(serve(config))
    return 0


if __name__ == "__main__":
    sys.exit(main())
