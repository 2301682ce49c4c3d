"""Which device a reading is from: the connection's word, not the payload's.

Every rule adds `clientid() AS connection_clientid` (infrastructure/stacks/ingest.py builds the SQL from
`CONNECTION_FIELD`). On AWS IoT that is the MQTT client id of the connection that published, which the device
policy pins to the device's thing name. The thing becomes the reading's sensor id: whatever `deviceid` and
`clientid` the payload names is not used, so a device can write only as itself. A payload that sets
`connection_clientid` itself is overwritten by the rule's column.

Every rule also adds `principal() AS connection_principal` (`PRINCIPAL_FIELD`): for a device's X.509 certificate,
the certificate id (the hex SHA-256 of its DER). It is kept for audit only: a rejected reading carries it to the
rejected-readings queue with the rest of the reading, and it is never written to InfluxDB (not a tag, not a field).

- `"n/a"`: IoT's value for a message that did not come over MQTT (an HTTPS publish); no thing vouches for it, so
  the reading is rejected (`no_identity`).
- absent or null: no broker stood behind the reading: a rule from before this column, a reading stored before
  it and replayed, or the local sandbox, whose broker (mosquitto) does not tell subscribers who published. Only
  then the sensor id is the payload's `<deviceid>-<clientid>`, as it always was.

The metadata item follows the same word: a reading a broker vouches for takes its thing's item (the thing name is
the key), so a payload's `metakey` cannot pick another device's tags; only a reading no broker stood behind still
names its item by `metakey`.

A webhook reading is named by its LwM2M endpoint, which the device-management service vouches for, in a namespace
of its own (`lwm2m/<endpoint>`): a thing name cannot hold "/" (AWS IoT thing names are `[a-zA-Z0-9:_-]+`,
https://docs.aws.amazon.com/iot/latest/apireference/API_CreateThing.html), so an endpoint can never be written
as an MQTT thing's sensor id, whatever it is called.
"""

from __future__ import annotations

from typing import Any

from ingest_to_influxdb.constants import MAX_IDENTIFIER_LENGTH
from ingest_to_influxdb.errors import InvalidReading
from ingest_to_influxdb.line_protocol import unrepresentable

CONNECTION_FIELD = "connection_clientid"
PRINCIPAL_FIELD = "connection_principal"  # principal(): the certificate id, for audit only
NOT_OVER_MQTT = "n/a"  # what IoT's clientid() returns for a message not published over MQTT
ENDPOINT_NAMESPACE = "lwm2m/"  # before a webhook reading's endpoint name: never a thing name


def endpoint_identity(endpoint: str) -> str:
    """The sensor id of a webhook reading from this LwM2M endpoint."""
    return ENDPOINT_NAMESPACE + endpoint


def vouched(document: dict[str, Any]) -> bool:
    """Whether a broker vouches for the reading's client id (then the thing keys its metadata too)."""
    return document.get(CONNECTION_FIELD) is not None


def connection_client_id(document: dict[str, Any]) -> str | None:
    """The client id the broker vouches for (the sensor id), None when no broker stood behind the reading."""
    value = document.get(CONNECTION_FIELD)
    if value is None:
        return None
    if value == NOT_OVER_MQTT:
        raise InvalidReading(
            "no_identity",
            "the reading did not come over an MQTT connection (clientid() is 'n/a'), so no device vouches "
            "for it; devices publish over MQTT with their own certificate",
        )
    if not isinstance(value, str):
        raise InvalidReading(
            "bad_identifier", f"{CONNECTION_FIELD} must be a string, not a {type(value).__name__}"
        )
    if len(value) > MAX_IDENTIFIER_LENGTH:
        raise InvalidReading(
            "bad_identifier",
            f"{CONNECTION_FIELD} is {len(value)} characters long; the limit is {MAX_IDENTIFIER_LENGTH}",
        )
    problem = unrepresentable(value)
    if problem:
        raise InvalidReading("bad_identifier", f"{CONNECTION_FIELD} {problem}")
    return value
