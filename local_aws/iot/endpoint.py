"""`python -m local_aws.iot.endpoint`: the local stand-in for AWS IoT Core's device endpoint, in front of mosquitto.

What IoT Core does and mosquitto 2.0 cannot do by configuration alone is done here:

- mutual TLS (1.2 or newer): a device must present a certificate signed by the sandbox's CA
  (local_aws/iot/ca.py); without one, or with another authority's, the handshake fails;
- iot:Connect: the certificate must be registered and ACTIVE in the IoT registry, and its policies
  must allow `client/<client id>`; with the project's device policy that pins the client id to a
  thing attached to the certificate. Otherwise CONNACK "not authorized" and the connection closes
  (mosquitto's `use_username_as_clientid` would rename such a client and let it in);
- the Last Will is checked at CONNECT as IoT Core checks it: iot:Publish on its topic (and iot:RetainPublish
  for a retained will), with `LastWill` (and `PersistentConnect` for a kept session) in iot:Connect's
  iot:ConnectAttributes; a will the policies do not allow refuses the connection ("not authorized");
- iot:Publish and iot:Subscribe are checked on every PUBLISH and SUBSCRIBE, and iot:RetainPublish on a
  PUBLISH with the retain flag; a denied one is not passed on and the connection is closed, as IoT Core
  closes it (mosquitto would acknowledge a denied QoS 1 publish to an MQTT 3.1.1 client and drop it
  silently); a subscription that would receive Basic Ingest topics (`$aws/rules/...`, which only the rules
  engine takes) is refused the same way;
- a PUBLISH whose payload is over IoT Core's 128 KB is refused the same way, never passed on (a packet over the
  broker's limit is not even read into memory);
- the access rules are reloaded when the access file changes (local_aws/iot/access.py), and a
  connected device that may no longer connect (deprovisioned, certificate revoked) is disconnected; an access
  file with a policy that cannot be evaluated as IoT Core does (local_aws/iot/policy.py) lets nobody in.

An allowed connection is relayed to mosquitto's plain listener under the gateway's own user, with the
device's client id, always in MQTT 5 (local_aws/iot/mqtt_wire.py translates a 3.1.1 device's packets): every
message the device publishes, and its will, carries its client id in a user property the device cannot set
itself, which the rules engine reads as `clientid()`, and its principal (the certificate id: the hex SHA-256 of
the client certificate's DER), read as `principal()`. Messages from the broker to the device are relayed as
they are (iot:Receive is not checked: the device policies grant no subscription, so no device receives
anything).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import signal
import ssl
import sys
from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from local_aws.iot.access import Access, Will
from local_aws.iot.mqtt_wire import (
    CONNECT,
    MQTT5,
    MQTT311,
    PUBLISH,
    SUBSCRIBE,
    Connect,
    Packet,
    ProtocolError,
    Publish,
    read_packet,
    subscribe_filters,
    to_mqtt5,
    to_mqtt311,
)
from local_aws.iot.policy import Connection
from local_aws.iot.sql import receives_basic_ingest
from local_aws.limits import IOT_MAX_PAYLOAD_BYTES, MQTT_MAX_PACKET_BYTES

RELOAD_SECONDS = 0.5
CONNECT_TIMEOUT_SECONDS = 10


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
        try:
            self.access = Access.load(self.config.access_file)
            count = len(self.access.principals) if self.access else 0
            log(f"access rules loaded: {count} certificates")
        except ValueError as error:  # a policy it cannot evaluate as IoT Core does: nobody gets in
            self.access = None
            log(f"access rules refused, every device is refused until they are fixed: {error}")
        self._decisions.clear()
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
            connection, principal, level, (upstream_reader, upstream_writer) = upstream
            self._sessions[writer] = (connection, upstream_writer)
            await asyncio.gather(
                self._device_to_broker(reader, upstream_writer, writer, connection, principal, level),
                _broker_to_device(upstream_reader, writer, level),
            )
        except (TimeoutError, ProtocolError, OSError) as error:
            log(f"connection from {writer.get_extra_info('peername')}: {type(error).__name__}: {error}")
        finally:
            self._sessions.pop(writer, None)
            _close(writer, upstream_writer)

    async def _admit(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> tuple[Connection, str, int, tuple[asyncio.StreamReader, asyncio.StreamWriter]] | None:
        packet = await asyncio.wait_for(read_packet(reader), CONNECT_TIMEOUT_SECONDS)
        if packet is None:
            return None
        connect = Connect.parse(packet)
        ssl_object = writer.get_extra_info("ssl_object")
        der = ssl_object.getpeercert(binary_form=True) if ssl_object else None
        principal = principal_of(der) if der is not None else None
        if principal is None or self.access is None:
            reason = "no client certificate" if der is None else "no access rules yet (nothing provisioned)"
            connection, why = None, reason
        else:
            subject = dict(item[0] for item in ssl_object.getpeercert().get("subject", ()))
            peer = writer.get_extra_info("peername")
            will = Will(connect.will_topic, connect.will_retain) if connect.will_topic is not None else None
            connection, why = self.access.connect(
                principal,
                connect.client_id,
                subject.get("commonName"),
                source_ip=peer[0] if peer else None,
                will=will,
                persistent=connect.persistent,
            )
        if connection is None or principal is None:
            log(f"refused client id '{connect.client_id}': {why}")
            writer.write(connect.refusal())
            await writer.drain()
            return None
        upstream = await asyncio.open_connection(self.config.upstream_host, self.config.upstream_port)
        upstream[1].write(connect.upstream(self.config.username, self.config.password, principal).encode())
        await upstream[1].drain()
        return connection, principal, connect.level, upstream

    async def _device_to_broker(
        self,
        reader: asyncio.StreamReader,
        upstream: asyncio.StreamWriter,
        device: asyncio.StreamWriter,
        connection: Connection,
        principal: str,
        level: int,
    ) -> None:
        while (packet := await read_packet(reader)) is not None:
            relayed, denied = self._relayed(packet, connection, principal, level)
            if denied:
                log(f"{connection.client_id}: {denied}; disconnected, as IoT Core does")
                break
            upstream.write(relayed.encode())
            await upstream.drain()
        _close(device, upstream)

    def _relayed(
        self, packet: Packet, connection: Connection, principal: str, level: int
    ) -> tuple[Packet, str | None]:
        """The packet as the broker gets it (MQTT 5; a PUBLISH stamped with the client id and the principal), or
        why it is denied."""
        access = self.access
        if access is None:
            return packet, "no access rules"
        if packet.kind == PUBLISH:
            publish = Publish.parse(packet, level)
            if len(publish.payload) > IOT_MAX_PAYLOAD_BYTES:
                return packet, (
                    f"a payload of {len(publish.payload)} bytes is over IoT Core's limit of {IOT_MAX_PAYLOAD_BYTES}"
                )
            topic = publish.topic
            if not self._decide(connection, "publish", topic, access.may_publish):
                return packet, f"iot:Publish to '{topic}' is not allowed"
            if publish.retain and not self._decide(connection, "retain", topic, _may_retain(access)):
                return (
                    packet,
                    f"a retained publish to '{topic}' needs iot:RetainPublish, which is not allowed",
                )
            relayed = publish.stamped(packet.first, connection.client_id, principal)
            # What the broker would close the connection for (its limit counts the fixed header, at most 5 bytes).
            if len(relayed.body) + 5 > MQTT_MAX_PACKET_BYTES:
                return packet, "the publish is over the broker's packet size once stamped with the client id"
            return relayed, None
        if packet.kind == SUBSCRIBE:
            for topic_filter in subscribe_filters(packet, level):
                if receives_basic_ingest(topic_filter):  # reserved on IoT Core, whatever the policy says
                    return packet, (
                        f"'{topic_filter}' would receive Basic Ingest topics, which nothing may subscribe to"
                    )
                if not self._decide(connection, "subscribe", topic_filter, access.may_subscribe):
                    return packet, f"iot:Subscribe to '{topic_filter}' is not allowed"
        elif packet.kind == CONNECT:
            return packet, "a second CONNECT on one connection"
        return (to_mqtt5(packet) if level == MQTT311 else packet), None

    def _decide(
        self, connection: Connection, action: str, topic: str, check: Callable[[Connection, str], bool]
    ) -> bool:
        key = (connection, action, topic)
        if key not in self._decisions:
            self._decisions[key] = check(connection, topic)
        return self._decisions[key]


def principal_of(der: bytes) -> str:
    """AWS IoT's `principal()` for a connection with this X.509 certificate (DER): the certificate id, the hex
    SHA-256 of the DER, which is also what the access rules key a certificate by."""
    return hashlib.sha256(der).hexdigest()


def _may_retain(access: Access) -> Callable[[Connection, str], bool]:
    return lambda connection, topic: access.may_publish(connection, topic, retain=True)


async def _broker_to_device(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, level: int) -> None:
    """What the broker sends, as it is to an MQTT 5 device, translated to MQTT 3.1.1 for the others."""
    with contextlib.suppress(OSError, ProtocolError):
        if level == MQTT5:
            while chunk := await reader.read(65536):
                writer.write(chunk)
                await writer.drain()
        else:
            while (packet := await read_packet(reader, 2 * MQTT_MAX_PACKET_BYTES)) is not None:
                translated = to_mqtt311(packet)
                if translated is None:
                    break  # the broker's DISCONNECT: MQTT 3.1.1 just closes the connection
                writer.write(translated.encode())
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
