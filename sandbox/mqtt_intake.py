"""The rule runner's MQTT session: QoS 1 messages that are acknowledged only when the runner says so.

MQTT 5 with manual PUBACK control (awscrt): the callback takes each message's acknowledgement into its
own hands and passes it on, so the broker keeps a message until the rule runner has handed it to
something durable. The session is persistent (a fixed client id, rejoined on every connection, long
expiry): while the runner is away, or the broker restarts with persistence, the broker keeps what is
queued for it and sends again whatever was not acknowledged.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass

from awscrt import io, mqtt5

from sandbox.endpoints import Endpoints, mqtt_login

logger = logging.getLogger(__name__)

SESSION_EXPIRY_SECONDS = 7 * 24 * 3600
# How many unacknowledged messages the broker may send us; the rest waits in the broker, so a slow
# hand-off holds back the broker instead of filling the runner's memory, and a dropped connection
# makes the broker send again at most this many.
RECEIVE_MAXIMUM = 2_000
# A busy runner may read the broker's PINGRESP late (it is behind a burst of messages): wait long enough
# that a burst does not cut the connection.
PING_TIMEOUT_MS = 60_000


@dataclass(frozen=True)
class Delivery:
    topic: str
    payload: bytes
    ack: Callable[[], None]  # sends the PUBACK; the broker forgets the message
    # The publisher's MQTT client id; mosquitto never tells a subscriber, so locally None (clientid() is null).
    client_id: str | None = None


class Intake:
    """Subscribes `topics` and passes every message to `on_delivery` (on awscrt's thread: keep it short)."""

    def __init__(
        self,
        endpoints: Endpoints,  # the broker's plain listener and its login
        client_id: str,
        topics: list[str],
        on_delivery: Callable[[Delivery], None],
    ) -> None:
        username, password = mqtt_login(endpoints)
        self.topics, self.on_delivery = topics, on_delivery
        self.connected = threading.Event()
        self._first_connection: Future[None] = Future()
        self.connections = 0
        options = mqtt5.ClientOptions(
            host_name=endpoints.mqtt.host,
            port=endpoints.mqtt.port,
            bootstrap=io.ClientBootstrap.get_or_create_static_default(),
            connect_options=mqtt5.ConnectPacket(
                client_id=client_id,
                username=username,
                password=password,
                keep_alive_interval_sec=60,
                session_expiry_interval_sec=SESSION_EXPIRY_SECONDS,
                receive_maximum=RECEIVE_MAXIMUM,
            ),
            session_behavior=mqtt5.ClientSessionBehaviorType.REJOIN_ALWAYS,
            ping_timeout_ms=PING_TIMEOUT_MS,
            min_reconnect_delay_ms=200,
            max_reconnect_delay_ms=2000,
            on_publish_callback_fn=self._on_publish,
            on_lifecycle_event_connection_success_fn=self._on_connected,
            on_lifecycle_event_disconnection_fn=self._on_disconnected,
            disable_metrics=True,  # the SDK would otherwise append its metrics to the CONNECT user name
        )
        self.client = mqtt5.Client(options)

    def start(self, timeout: float = 30.0) -> None:
        self.client.start()
        self._first_connection.result(timeout=timeout)

    def stop(self) -> None:
        """Disconnect: what was not acknowledged stays with the broker for the next connection."""
        self.client.stop()

    def _on_publish(self, data: mqtt5.PublishReceivedData) -> None:
        packet = data.publish_packet
        acquire = data.acquire_publish_acknowledgement_control
        if acquire is None:  # QoS 0: nothing to acknowledge
            self.on_delivery(Delivery(packet.topic, bytes(packet.payload or b""), lambda: None))
            return
        handle = acquire()
        client = self.client

        def ack() -> None:
            client.invoke_publish_acknowledgement(handle)

        self.on_delivery(Delivery(packet.topic, bytes(packet.payload or b""), ack))

    def _on_connected(self, data: mqtt5.LifecycleConnectSuccessData) -> None:
        self.connections += 1
        session_present = bool(data.connack_packet and data.connack_packet.session_present)
        logger.info("connected to the broker (session kept: %s)", session_present)
        if session_present:
            self._connected()
            return
        # A new session (first start, or the broker lost it): subscribe, then count as connected.
        packet = mqtt5.SubscribePacket(
            subscriptions=[mqtt5.Subscription(t, qos=mqtt5.QoS.AT_LEAST_ONCE) for t in self.topics]
        )
        future = self.client.subscribe(packet)
        future.add_done_callback(lambda f: self._subscribed(f))

    def _subscribed(self, future: Future[mqtt5.SubackPacket]) -> None:
        error = future.exception()
        if error is not None:
            logger.error("subscribing %s failed: %s", self.topics, error)
            if not self._first_connection.done():
                self._first_connection.set_exception(error)
            return
        self._connected()

    def _connected(self) -> None:
        self.connected.set()
        if not self._first_connection.done():
            self._first_connection.set_result(None)

    def _on_disconnected(self, data: mqtt5.LifecycleDisconnectData) -> None:
        self.connected.clear()
        logger.warning("the broker connection dropped (%s); reconnecting", data.exception)
