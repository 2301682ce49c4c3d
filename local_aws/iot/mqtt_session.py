"""The rule runner's MQTT session: QoS 1 messages that are acknowledged only when the runner says so.

MQTT 5 with manual PUBACK control (awscrt): the callback takes each message's acknowledgement into its
own hands and passes it on, so the broker keeps a message until the rule runner has handed it to
something durable. The session is persistent (a fixed client id, rejoined on every connection, long
expiry): while the runner is away, or the broker restarts with persistence, the broker keeps what is
queued for it and sends again whatever was not acknowledged. The session keeps its subscriptions too, so
on every connection they are made the rules' topic filters again (`local_aws.iot.subscriptions`): a kind added or a
topic changed while the runner was away is subscribed, a filter no rule has any more is unsubscribed.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from awscrt import io, mqtt5

from local_aws.iot.mqtt_wire import CLIENT_ID_PROPERTY, PRINCIPAL_PROPERTY
from local_aws.iot.subscriptions import Reconciliation, SubscriptionRecord, reconcile
from reach.endpoints import Endpoints, mqtt_login

logger = logging.getLogger(__name__)

SESSION_EXPIRY_SECONDS = 7 * 24 * 3600
# How many unacknowledged messages the broker may send us; the rest waits in the broker, so a slow
# hand-off holds back the broker instead of filling the runner's memory, and a dropped connection
# makes the broker send again at most this many.
RECEIVE_MAXIMUM = 2_000
# A busy runner may read the broker's PINGRESP late (it is behind a burst of messages): wait long enough
# that a burst does not cut the connection.
PING_TIMEOUT_MS = 60_000
RETRY_SECONDS = 2.0  # before asking again when the broker refused a change of the subscriptions


@dataclass(frozen=True)
class BrokerMessage:
    topic: str
    payload: bytes
    ack: Callable[[], None]  # sends the PUBACK; the broker forgets the message
    # The publisher's MQTT client id (clientid()): the device endpoint stamps it on every message a device
    # publishes (local_aws/iot/mqtt_wire.py); None for a message published on the broker's plain listener, which
    # no device reaches (the operator's tools, with the broker's password): no IoT connection vouches for it.
    client_id: str | None = None
    # The publisher's principal (principal()): its certificate id, stamped the same way; None likewise.
    principal: str | None = None


class Intake:
    """Subscribes `topics` and passes every message to `on_delivery` (on awscrt's thread: keep it short).

    On every connection the session's subscriptions are made exactly `topics`, against `record` (what this
    client id subscribed before; `local_aws.iot.subscriptions`): a kept session may hold filters of rules that
    are gone, and lacks those of rules added since."""

    def __init__(
        self,
        endpoints: Endpoints,  # the broker's plain listener and its login
        client_id: str,
        topics: list[str],
        on_delivery: Callable[[BrokerMessage], None],
        record: SubscriptionRecord | None = None,
    ) -> None:
        username, password = mqtt_login(endpoints)
        self.topics, self.on_delivery, self.record = topics, on_delivery, record
        self.connected = threading.Event()  # connected, and subscribed as the rules say
        self.connected_to_broker = False
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
        properties = packet.user_properties or []
        client_id = next((p.value for p in properties if p.name == CLIENT_ID_PROPERTY), None)
        principal = next((p.value for p in properties if p.name == PRINCIPAL_PROPERTY), None)
        acquire = data.acquire_publish_acknowledgement_control
        if acquire is None:  # QoS 0: nothing to acknowledge
            self.on_delivery(
                BrokerMessage(packet.topic, bytes(packet.payload or b""), lambda: None, client_id, principal)
            )
            return
        handle = acquire()
        client = self.client

        def ack() -> None:
            client.invoke_publish_acknowledgement(handle)

        self.on_delivery(BrokerMessage(packet.topic, bytes(packet.payload or b""), ack, client_id, principal))

    def _on_connected(self, data: mqtt5.LifecycleConnectSuccessData) -> None:
        self.connections += 1
        self.connected_to_broker = True
        session_present = bool(data.connack_packet and data.connack_packet.session_present)
        logger.info("connected to the broker (session kept: %s)", session_present)
        self._reconcile(session_present, self.connections)

    def _reconcile(self, session_present: bool, connection: int) -> None:
        """Make the session's subscriptions the rules' filters (`local_aws.iot.subscriptions`); count as connected
        once the broker has acknowledged every change."""
        recorded = self.record.read() if self.record else None
        if session_present and self.record and recorded is None:
            logger.warning("the kept session has no record of its subscriptions: none can be removed")
        plan = reconcile(self.topics, recorded, session_present)
        if not self._write_record([*plan.subscribe, *plan.unsubscribe], plan, session_present, connection):
            return  # before asking: the record must never name fewer filters than the broker holds
        subscribed = self.client.subscribe(
            mqtt5.SubscribePacket(
                subscriptions=[
                    # A rule acts on a message as it is published: a retained copy is not published again.
                    mqtt5.Subscription(
                        t,
                        qos=mqtt5.QoS.AT_LEAST_ONCE,
                        retain_handling_type=mqtt5.RetainHandlingType.DONT_SEND,
                    )
                    for t in plan.subscribe
                ]
            )
        )
        waits: list[Future[Any]] = [subscribed]
        if plan.unsubscribe:
            waits.append(self.client.unsubscribe(mqtt5.UnsubscribePacket(topic_filters=plan.unsubscribe)))
        remaining = [len(waits)]
        lock = threading.Lock()

        def answered(_: Future[Any]) -> None:
            with lock:
                remaining[0] -= 1
                if remaining[0]:
                    return
            self._reconciled(plan, waits, session_present, connection)

        for future in waits:
            future.add_done_callback(answered)

    def _reconciled(
        self, plan: Reconciliation, answers: list[Future[Any]], session_present: bool, connection: int
    ) -> None:
        problem = _refusal(answers)
        if problem is None:
            if not self._write_record(plan.subscribe, plan, session_present, connection):
                return
            if plan.unsubscribe:
                logger.info("unsubscribed filters no rule reads any more: %s", plan.unsubscribe)
            logger.info("subscribed: %s", plan.subscribe)
            self._connected()
            return
        self._failed(problem, plan, session_present, connection)

    def _write_record(
        self, filters: list[str], plan: Reconciliation, session_present: bool, connection: int
    ) -> bool:
        if self.record is None:
            return True
        try:
            self.record.write(filters)
        except OSError as error:
            self._failed(
                f"cannot record the subscriptions in {self.record.path}: {error}",
                plan,
                session_present,
                connection,
            )
            return False
        return True

    def _failed(self, problem: str, plan: Reconciliation, session_present: bool, connection: int) -> None:
        """The first connection fails the start; a later one tries again while it lasts (a new one reconciles)."""
        logger.error("making the subscriptions %s failed: %s", plan.subscribe, problem)
        if not self._first_connection.done():
            self._first_connection.set_exception(RuntimeError(problem))
            return

        def again() -> None:
            if self.connections == connection and self.connected_to_broker:
                self._reconcile(session_present, connection)

        timer = threading.Timer(RETRY_SECONDS, again)
        timer.daemon = True
        timer.start()

    def _connected(self) -> None:
        self.connected.set()
        if not self._first_connection.done():
            self._first_connection.set_result(None)

    def _on_disconnected(self, data: mqtt5.LifecycleDisconnectData) -> None:
        self.connected_to_broker = False
        self.connected.clear()
        logger.warning("the broker connection dropped (%s); reconnecting", data.exception)


_SUBSCRIBED = {
    mqtt5.SubackReasonCode.GRANTED_QOS_0,
    mqtt5.SubackReasonCode.GRANTED_QOS_1,
    mqtt5.SubackReasonCode.GRANTED_QOS_2,
}
_UNSUBSCRIBED = {mqtt5.UnsubackReasonCode.SUCCESS, mqtt5.UnsubackReasonCode.NO_SUBSCRIPTION_EXISTED}


def _refusal(answers: list[Future[Any]]) -> str | None:
    """Why the broker did not make every change asked (an error, or a refusing reason code); None if it did."""
    for future in answers:
        error = future.exception()
        if error is not None:
            return str(error) or type(error).__name__
        answer = future.result()
        accepted = _SUBSCRIBED if isinstance(answer, mqtt5.SubackPacket) else _UNSUBSCRIBED
        refused = [code for code in answer.reason_codes if code not in accepted]
        if refused:
            return f"the broker answered {', '.join(code.name for code in refused)}"
    return None
