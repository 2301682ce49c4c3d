"""MQTT clients of the local broker's plain listener: its login, and publishing a few readings at QoS 1."""

from __future__ import annotations

from typing import Any

from awscrt import io, mqtt

from reach.endpoints import Endpoints, mqtt_login


def plain_connection(
    endpoints: Endpoints, client_id: str, login: tuple[str | None, str | None] | None = None, **options: Any
) -> mqtt.Connection:
    """A connection to the plain listener with the sandbox's login (the broker takes no anonymous client), or with
    the user and password of `login` (None for none: what the broker must refuse)."""
    username, password = mqtt_login(endpoints) if login is None else login
    return mqtt.Connection(
        client=mqtt.Client(io.ClientBootstrap.get_or_create_static_default()),
        host_name=endpoints.mqtt.host,
        port=endpoints.mqtt.port,
        client_id=client_id,
        username=username,
        password=password,
        disable_metrics=True,  # awscrt would append its metrics to the user name, and the login would fail
        **options,
    )


def publish_all(endpoints: Endpoints, topic: str, payloads: list[bytes], client_id: str) -> None:
    """Publish raw payloads at QoS 1 and wait for every PUBACK."""
    connection = plain_connection(endpoints, client_id)
    connection.connect().result(timeout=10)
    try:
        for future in [connection.publish(topic, p, mqtt.QoS.AT_LEAST_ONCE)[0] for p in payloads]:
            future.result(timeout=30)
    finally:
        connection.disconnect().result(timeout=10)
