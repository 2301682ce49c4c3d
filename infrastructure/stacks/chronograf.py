"""chronograf: Chronograf at /chronograf behind the load balancer, connected to InfluxDB as the reader, so
nobody can write, drop or administer anything through it."""

from __future__ import annotations

from troposphere import Template

from infrastructure.registry import StackDefinition
from infrastructure.stacks import cluster, edge, influxdb, network, storage
from infrastructure.web_service import build_web_service, reader_secret

NAME = "chronograf"


def build() -> Template:
    return build_web_service(
        NAME,
        "Chronograf at /chronograf, reading InfluxDB as the reader user",
        priority=20,
        secret_arns=reader_secret(),
    )


STACK = StackDefinition(
    name=NAME,
    build=build,
    depends_on=(network.NAME, cluster.NAME, storage.NAME, edge.NAME, influxdb.NAME),
)
