"""A fleet of simulated devices: each its own MQTT connection and client id, all in one process.

awscrt is asynchronous: connections and publishes are futures served by its event loop, so a
thousand devices cost no thousand threads. A reading counts as sent when it is published and as
acknowledged when its PUBACK arrives (QoS 1). A lost connection is re-established with backoff by
awscrt, which publishes again what was not acknowledged; a publish that still fails (times out) is
queued and published again by the publishing thread, so a reading is retried, never dropped.
Only the caller's thread publishes: awscrt's event-loop threads only count and queue.

A publish the broker's policy denies is answered as IoT Core answers it over MQTT 3.1.1: the broker
closes the connection, and awscrt would reconnect and publish it again without end. A device whose
connection is closed DENIED_AFTER_HANGUPS times in a row with nothing acknowledged is cut off: its
readings in flight and to come count as denied (not delivered), and it disconnects.
"""

from __future__ import annotations

import contextlib
import json
import math
import random
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from awscrt import io, mqtt

from catalog.generators import Clock, Stream
from simulator.device_types import DeviceType

OPERATION_TIMEOUT_MS = 10_000  # a publish not acknowledged by then is published again
MAX_ATTEMPTS = 20  # with the timeout above: a reading is given up after several minutes without a PUBACK
CONNECT_TIMEOUT_S = 10
POLL_S = 0.05  # how often the publishing thread looks for readings due to be published again
# A broker restart or a network cut closes a connection once; a denied publish closes it at every resend.
DENIED_AFTER_HANGUPS = 3


class BrokerUnreachable(ConnectionError):
    """The devices could not connect; the message says where they tried and what to check."""


# (client_id, on_resumed, on_interrupted) -> connection
ConnectionFactory = Callable[[str, Callable[..., None], Callable[..., None]], mqtt.Connection]


@dataclass(frozen=True)
class Target:
    """Where devices connect: the local broker (plain TCP) or AWS IoT Core (mutual TLS, `make_connection`)."""

    host: str
    port: int
    make_connection: ConnectionFactory | None = None
    username: str | None = None  # the local broker's login (its plain listener refuses anonymous clients)
    password: str | None = None
    reconnect_min_seconds: int = 1  # awscrt doubles the wait after each failed attempt, up to the max
    reconnect_max_seconds: int = 16

    def connection(
        self, client_id: str, on_resumed: Callable[..., None], on_interrupted: Callable[..., None]
    ) -> mqtt.Connection:
        if self.make_connection is not None:
            return self.make_connection(client_id, on_resumed, on_interrupted)
        return mqtt.Connection(
            client=mqtt.Client(io.ClientBootstrap.get_or_create_static_default()),
            host_name=self.host,
            port=self.port,
            client_id=client_id,
            username=self.username,
            password=self.password,
            disable_metrics=True,  # awscrt would append its metrics to the user name
            clean_session=False,  # unacknowledged publishes are resent when the connection comes back
            keep_alive_secs=30,
            reconnect_min_timeout_secs=self.reconnect_min_seconds,
            reconnect_max_timeout_secs=self.reconnect_max_seconds,
            protocol_operation_timeout_ms=OPERATION_TIMEOUT_MS,
            on_connection_resumed=on_resumed,
            on_connection_interrupted=on_interrupted,
        )


@dataclass
class Counters:
    sent: int = 0
    acknowledged: int = 0
    failed: int = 0
    retried: int = 0
    reconnects: int = 0
    disconnects: int = 0  # connections the broker or the network closed
    denied: int = 0  # publishes the broker refused (it closed the connection each time): not delivered
    by_type: dict[str, int] = field(default_factory=dict)  # acknowledged, per device type
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, **amounts: int) -> None:
        with self.lock:
            for name, amount in amounts.items():
                setattr(self, name, getattr(self, name) + amount)

    def acknowledge(self, type_name: str) -> None:
        with self.lock:
            self.acknowledged += 1
            self.by_type[type_name] = self.by_type.get(type_name, 0) + 1


@dataclass(frozen=True)
class FleetSummary:
    devices: int
    sent: int
    acknowledged: int
    failed: int
    retried: int
    reconnects: int
    by_type: dict[str, int]
    seconds: float
    interrupted: bool = False
    unacknowledged: int = 0  # neither acknowledged nor given up when the wait for acknowledgements ended
    denied: int = 0  # refused by the broker (IoT Core closes the connection on a publish its policy denies)
    disconnects: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {**self.__dict__}


class Device:
    def __init__(
        self, device_type: DeviceType, index: int, rng: random.Random, clock: Clock, metakey: str | None
    ):
        self.type = device_type
        self.client_id = f"{device_type.name}-{index:04d}"
        self.streams: dict[str, Stream] = {
            name: spec.stream(rng, clock, index) for name, spec in device_type.attributes.items()
        }
        self.metakey = metakey
        self.connection: mqtt.Connection | None = None
        self.hangups = 0  # connections closed since the last acknowledgement
        self.cut_off = False  # the broker keeps refusing its publishes (see the module's docstring)
        self.in_flight: set[int] = set()  # publishes awaiting their PUBACK

    def reading(self) -> dict[str, Any]:
        values = {name: stream() for name, stream in self.streams.items()}
        if self.metakey is not None:
            values["metakey"] = self.metakey
        return values


class Fleet:
    def __init__(
        self,
        groups: list[tuple[DeviceType, int]],
        target: Target,
        seed: int | None = None,
        metakey: str | None = None,
        clock: Clock = time.time,
    ) -> None:
        self.target = target
        self.counters = Counters()
        self.devices: list[Device] = []
        for device_type, count in groups:
            for index in range(count):
                # With a seed every device draws the same values in every run (timestamps come from the clock).
                rng = (
                    random.Random(f"{seed}/{device_type.name}/{index}")
                    if seed is not None
                    else random.Random()
                )
                self.devices.append(Device(device_type, index, rng, clock, metakey))
        self._pending = 0
        self._pending_lock = threading.Condition()
        self._lock = threading.Lock()  # each device's publishes in flight, and whether it is cut off
        # Readings whose publish failed: (when to publish again, device, payload, attempt), appended by awscrt's
        # threads and published again by the publishing thread.
        self._retries: deque[tuple[float, Device, bytes, int]] = deque()

    # -- connections -------------------------------------------------------------------------------
    def connect(self) -> None:
        def resumed(*_: Any, **__: Any) -> None:
            self.counters.add(reconnects=1)

        def interrupted_for(device: Device) -> Callable[..., None]:
            def interrupted(*_: Any, **__: Any) -> None:
                self.counters.add(disconnects=1)
                with self._lock:
                    device.hangups += 1
                    if device.cut_off or device.hangups < DENIED_AFTER_HANGUPS:
                        return
                    device.cut_off = True
                    denied, device.in_flight = len(device.in_flight), set()
                self.counters.add(denied=denied)
                for _reading in range(denied):
                    self._settle()
                if device.connection is not None:
                    device.connection.disconnect()  # stop publishing what the broker refuses

            return interrupted

        futures = []
        for device in self.devices:
            device.connection = self.target.connection(device.client_id, resumed, interrupted_for(device))
            futures.append((device, device.connection.connect()))
        for device, future in futures:
            try:
                future.result(timeout=CONNECT_TIMEOUT_S)
            except Exception as error:
                self.disconnect()
                raise BrokerUnreachable(
                    f"device {device.client_id} cannot connect to {self.target.host}:{self.target.port} "
                    f"({type(error).__name__}: {error}); is the broker running? Locally: 'make demo' or "
                    "'python -m sandbox up'"
                ) from error

    def disconnect(self) -> None:
        futures = [d.connection.disconnect() for d in self.devices if d.connection is not None]
        for future in futures:
            with contextlib.suppress(Exception):  # already gone: nothing more to release
                future.result(timeout=5)

    # -- publishing --------------------------------------------------------------------------------
    def _publish(self, device: Device, payload: bytes, attempt: int = 1) -> None:
        assert device.connection is not None
        with self._lock:
            if device.cut_off:
                self.counters.add(denied=1)
                self._settle()
                return
            future, _ = device.connection.publish(device.type.topic, payload, mqtt.QoS.AT_LEAST_ONCE)
            token = id(future)
            device.in_flight.add(token)

        def done(finished: Future[Any]) -> None:
            with self._lock:
                if token not in device.in_flight:
                    return  # already counted as denied
                device.in_flight.discard(token)
                if finished.exception() is None:
                    device.hangups = 0
            if finished.exception() is None:
                self.counters.acknowledge(device.type.name)
                self._settle()
            elif attempt < MAX_ATTEMPTS:
                self.counters.add(retried=1)
                self._retries.append(
                    (time.monotonic() + min(0.2 * attempt, 2.0), device, payload, attempt + 1)
                )
            else:
                self.counters.add(failed=1)
                self._settle()

        future.add_done_callback(done)

    def _publish_due_retries(self) -> None:
        now = time.monotonic()
        for _ in range(len(self._retries)):
            due, device, payload, attempt = self._retries.popleft()
            if due <= now:
                self._publish(device, payload, attempt)
            else:
                self._retries.append((due, device, payload, attempt))

    def _wait(self, seconds: float, stop: threading.Event | None) -> None:
        """Sleep, publishing again whatever falls due meanwhile; returns early when `stop` is set."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0 and not (stop is not None and stop.is_set()):
            self._publish_due_retries()
            if stop is not None:
                stop.wait(min(left, POLL_S))
            else:
                time.sleep(min(left, POLL_S))

    def _settle(self) -> None:
        with self._pending_lock:
            self._pending -= 1
            self._pending_lock.notify_all()

    def run(
        self,
        rate: float,
        count: int | None = None,
        duration: float | None = None,
        on_tick: Callable[[Counters], None] | None = None,
        stop: threading.Event | None = None,
    ) -> FleetSummary:
        """Every device publishes `rate` readings a second, `count` each or for `duration` seconds."""
        if rate <= 0:
            raise ValueError("rate must be positive (readings per second per device)")
        ticks = count if count is not None else max(1, math.ceil((duration or 0) * rate))
        started = time.monotonic()
        interrupted = False
        try:
            for tick in range(ticks):
                if stop is not None and stop.is_set():
                    interrupted = True
                    break
                for device in self.devices:
                    payload = json.dumps(device.reading()).encode()
                    with self._pending_lock:
                        self._pending += 1
                    self.counters.add(sent=1)
                    self._publish(device, payload)
                if on_tick is not None:
                    on_tick(self.counters)
                self._publish_due_retries()
                if tick + 1 < ticks:
                    self._wait(started + (tick + 1) / rate - time.monotonic(), stop)
        except KeyboardInterrupt:
            interrupted = True
        self.wait_for_acknowledgements(on_tick)
        return FleetSummary(
            devices=len(self.devices),
            sent=self.counters.sent,
            acknowledged=self.counters.acknowledged,
            failed=self.counters.failed,
            retried=self.counters.retried,
            reconnects=self.counters.reconnects,
            by_type=dict(self.counters.by_type),
            denied=self.counters.denied,
            disconnects=self.counters.disconnects,
            seconds=round(time.monotonic() - started, 3),
            interrupted=interrupted,
            unacknowledged=self._pending,
        )

    def wait_for_acknowledgements(
        self, on_tick: Callable[[Counters], None] | None = None, timeout: float = 300.0
    ) -> None:
        """Until every reading is acknowledged or given up (publishing again what fails meanwhile)."""
        deadline = time.monotonic() + timeout
        last_tick = 0.0
        while time.monotonic() < deadline:
            with self._pending_lock:
                if self._pending <= 0:
                    return
                self._pending_lock.wait(POLL_S)
            self._publish_due_retries()
            if on_tick is not None and time.monotonic() - last_tick >= 0.25:
                on_tick(self.counters)
                last_tick = time.monotonic()
