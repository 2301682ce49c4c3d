"""The ECS store of the influxdb stack (`Store=ecs`, the default): InfluxDB 1.8 as exactly one task on its EFS
access point, named `influx.<env>` in Cloud Map, and the alarm when no task runs. Every resource here carries the
stack's ECS-store condition, so none exists with the managed store."""

from __future__ import annotations

from typing import Any

from troposphere import Sub, Template, servicediscovery

from infrastructure import influx_tls, service_files
from infrastructure.ecs_service import ServiceWiring, create_service, create_task_definition
from infrastructure.notifications import add_alarm
from infrastructure.service_files import TaskSpec
from infrastructure.stacks import cluster, influxdb_backup

DISCOVERY = "DiscoveryService"


def load_spec() -> TaskSpec:
    return service_files.load("influxdb")


def url(port: int) -> Sub:
    """The task's Cloud Map name inside the VPC, over HTTPS: the certificate names it (infrastructure/influx_tls.py)."""
    return Sub(f"https://{influx_tls.host_name('${EnvironmentName}')}:{port}")


def create_discovery(template: Template) -> servicediscovery.Service:
    return template.add_resource(
        servicediscovery.Service(
            DISCOVERY,
            Name=influx_tls.HOST_PREFIX,
            NamespaceId=cluster.NAMESPACE_ID.imported(),
            DnsConfig=servicediscovery.DnsConfig(
                RoutingPolicy="MULTIVALUE", DnsRecords=[servicediscovery.DnsRecord(Type="A", TTL=10)]
            ),
            HealthCheckCustomConfig=servicediscovery.HealthCheckCustomConfig(FailureThreshold=1),
        )
    )


def create_task_alarm(template: Template, service: str, topic: Any, condition: str) -> None:
    """The one InfluxDB task is not running (Container Insights counts it): nothing is written or shown.
    Its runbook line is in docs/operations.md ("When an alarm fires")."""
    add_alarm(
        template,
        "TaskNotRunningAlarm",
        "No InfluxDB task has run for 3 minutes: readings go to the dead letters and the dashboards are empty",
        (
            "ECS/ContainerInsights",
            "RunningTaskCount",
            {"ClusterName": cluster.CLUSTER_NAME.imported(), "ServiceName": service},
        ),
        "Minimum",
        "LessThanThreshold",
        1,
        topic,
        evaluation_periods=3,
        missing_data="breaching",  # no count at all: no task (or no service) to count
        condition=condition,
    )


def create_store(
    template: Template,
    spec: TaskSpec,
    secret_arns: dict[str, Any],
    server_group: Any,
    topic: Any,
    condition: str,
) -> None:
    """The discovery name, task definition (its roles and log group), service and task alarm, all under
    `condition`."""
    before = set(template.resources)
    create_discovery(template)
    wiring = ServiceWiring(
        secret_arns=secret_arns,
        security_groups=[server_group],
        # The ARN built from the service id: the same value as GetAtt Arn.
        registry_arn=Sub(
            "arn:${AWS::Partition}:servicediscovery:${AWS::Region}:${AWS::AccountId}:service/"
            f"${{{DISCOVERY}}}"
        ),
    )
    definition = create_task_definition(template, spec, wiring)
    create_service(template, spec, definition, wiring)
    for name in set(template.resources) - before:
        template.resources[name].Condition = condition
    influxdb_backup.add(template, spec, definition)  # its bucket and alarm take the task's condition
    create_task_alarm(template, spec.service, topic, condition)
