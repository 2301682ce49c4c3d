"""A delivery of the device-management service as readings for the ingest core: pure, no AWS.

A delivery (`PUT` to the callback) holds `notifications` (a resource's new value, base64 in `payload`) and
other news: `registrations`, `reg-updates`, `de-registrations`, `registrations-expired`, `async-responses`.
Only notifications carry readings; the rest is counted. The notifications of one endpoint and kind become
one reading (the shelf's count and product id arrive as two resources); a resource notified twice in one
delivery starts another reading, one millisecond later, so neither overwrites the other in InfluxDB.
Notifications carry no time: a reading is timed when the delivery arrives, and that time goes into the
reading, so a replay of it overwrites instead of duplicating. The endpoint name is both the sensor id and the
key of the device's metadata item.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from ingest_to_influxdb.constants import MAX_IDENTIFIER_LENGTH, METAKEY
from ingest_to_influxdb.errors import InvalidReading
from ingest_to_influxdb.rejections import Rejection
from ingest_to_influxdb.validation import ENDPOINT

from webhook_to_influxdb.mapping import Resource, decode_value

OTHER_NEWS = ("registrations", "reg-updates", "de-registrations", "registrations-expired", "async-responses")
MAX_DELIVERY_BYTES = 6 * 1024 * 1024  # Lambda's synchronous payload limit


@dataclass
class Delivery:
    readings: list[dict[str, Any]] = field(default_factory=list)  # documents for the ingest core
    rejections: list[Rejection] = field(default_factory=list)  # notifications that can never be read
    notifications: int = 0
    unknown_paths: Counter[str] = field(default_factory=Counter)  # notified, but no kind maps them: ignored
    other: Counter[str] = field(default_factory=Counter)  # registrations, async responses, ...
    metrics: Counter[tuple[str, str]] = field(default_factory=Counter)  # (metric, endpoint) -> notifications


class BadDelivery(InvalidReading):
    """The body is not a delivery at all (not JSON, not an object)."""


def parse_body(body: str | bytes) -> dict[str, Any]:
    size = len(body.encode() if isinstance(body, str) else body)
    if size > MAX_DELIVERY_BYTES:
        raise BadDelivery("too_large", f"the delivery is {size} bytes; the limit is {MAX_DELIVERY_BYTES}")
    if not body.strip():
        return {}  # the service's check of the callback URL, or an empty batch
    try:
        document = json.loads(body)
    except (ValueError, RecursionError) as error:
        raise BadDelivery("not_json", f"the delivery is not JSON: {error}") from None
    if not isinstance(document, dict):
        raise BadDelivery("not_object", f"the delivery is a JSON {type(document).__name__}, not an object")
    return document


def _rejection(code: str, reason: str, notification: object, resource: Resource | None) -> Rejection:
    return Rejection(
        code=code,
        reason=reason,
        kind=resource.kind if resource else "unknown",
        topic=resource.topic if resource else None,
        original=notification,
    )


def readings_of(document: dict[str, Any], mapping: dict[str, Resource], now_ms: int) -> Delivery:
    delivery = Delivery()
    for name in OTHER_NEWS:
        entries = document.get(name)
        if isinstance(entries, list) and entries:
            delivery.other[name] += len(entries)
    notifications = document.get("notifications") or []
    if not isinstance(notifications, list):
        delivery.rejections.append(
            _rejection("bad_delivery", "notifications must be a list", notifications, None)
        )
        return delivery
    current: dict[tuple[str, str], dict[str, Any]] = {}  # (endpoint, kind) -> the reading being filled
    for notification in notifications:
        delivery.notifications += 1
        if not isinstance(notification, dict):
            delivery.rejections.append(
                _rejection("bad_notification", "a notification must be an object", notification, None)
            )
            continue
        path, endpoint = notification.get("path"), notification.get("ep")
        resource = mapping.get(path) if isinstance(path, str) else None
        if resource is None:
            delivery.unknown_paths[str(path)[:64]] += 1
            continue
        if not isinstance(endpoint, str) or not endpoint or len(endpoint) > MAX_IDENTIFIER_LENGTH:
            delivery.rejections.append(
                _rejection(
                    "bad_identifier",
                    f"ep (the endpoint name) must be text of 1 to {MAX_IDENTIFIER_LENGTH} characters",
                    notification,
                    resource,
                )
            )
            continue
        try:
            value = decode_value(notification.get("payload"), resource.decode)
        except InvalidReading as invalid:
            reason = f"{resource.path} of {endpoint}: {invalid.reason}"
            delivery.rejections.append(_rejection(invalid.code, reason, notification, resource))
            continue
        key = (endpoint, resource.kind)
        reading = current.get(key)
        if reading is None:
            reading = {
                "topic": resource.topic,
                ENDPOINT: endpoint,
                METAKEY: endpoint,
                "sensordatetime": now_ms,
            }
        elif resource.attribute in reading:  # notified again: a new reading, the other values carried on
            reading = {**reading, "sensordatetime": int(reading["sensordatetime"]) + 1}
        if current.get(key) is not reading:
            delivery.readings.append(reading)
            current[key] = reading
        reading[resource.attribute] = value
        if resource.metric:
            delivery.metrics[(resource.metric, endpoint)] += 1
    return delivery
