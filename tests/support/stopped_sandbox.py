"""The endpoints of a sandbox that is not running: every address is 127.0.0.1's discard port, where nothing listens."""

from __future__ import annotations

from infrastructure.stacks import influxdb
from reach.endpoints import AwsEndpoint, Endpoints, InfluxEndpoint, InfluxUser, InfluxUsers, MqttEndpoint

NOTHING_LISTENS = "http://127.0.0.1:9"  # the discard port: connections are refused at once


def stopped_endpoints() -> Endpoints:
    user = InfluxUser(username="u", password="p")
    return Endpoints(
        mqtt=MqttEndpoint(host="127.0.0.1", port=9, username="u", password="p"),
        influxdb=InfluxEndpoint(
            url=NOTHING_LISTENS,
            database=influxdb.DATABASE,
            users=InfluxUsers(admin=user, writer=user, reader=user),
        ),
        aws=AwsEndpoint(endpoint_url=NOTHING_LISTENS, region="us-east-1", account_id="123456789012"),
    )
