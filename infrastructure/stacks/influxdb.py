"""influxdb: InfluxDB 1.8 as exactly one task on its EFS access point, named `influx.<env>` in Cloud Map, its
users' credentials generated in Secrets Manager, port 8086 open only to the ingest function, Grafana and
Chronograf (each carries one of the client groups this stack exports). `GraphiteListener=true` also opens
InfluxDB's Graphite listener on 2003 to the VPC (statsd, collectd; services/influxdb/task.yaml)."""

from __future__ import annotations

import json

from troposphere import Equals, Parameter, Ref, Sub, Template, ec2, secretsmanager, servicediscovery

from infrastructure import service_files
from infrastructure.common import OPEN_HTTPS_EGRESS, add_output, cfn_nag_skip, new_template, tags, tcp_rule
from infrastructure.ecs_service import (
    CPU_PARAMETER,
    MEMORY_PARAMETER,
    ServiceWiring,
    create_parameters,
    create_service,
    create_task_definition,
)
from infrastructure.names import Export
from infrastructure.notifications import add_alarm, create_topic
from infrastructure.registry import StackDefinition
from infrastructure.stacks import cluster, influxdb_backup, network, storage

NAME = "influxdb"
PORT = 8086
ROLES = {"admin": "admin", "writer": "writer", "reader": "reader"}  # role -> InfluxDB user name
CLIENTS = ("ingest", "grafana", "chronograf")
GRAPHITE_PORT = 2003
HAS_GRAPHITE = "HasGraphiteListener"
URL = Export(NAME, "Url")
SECURITY_GROUP = Export(NAME, "SecurityGroupId")
ALARM_TOPIC_ARN = Export(NAME, "AlarmTopicArn")
# The store and its size: parameters of this stack that the capacity model (benchmarks/capacity) sets.
STORE_PARAMETER = "Store"
STORE_ECS = "ecs"  # InfluxDB 1.8 as one ECS task on EFS (the default)
STORE_MANAGED = "timestream"  # Amazon Timestream for InfluxDB
MANAGED_CLASS_PARAMETER = "TimestreamInstanceClass"
TASK_CPU_PARAMETER = CPU_PARAMETER  # the ECS store's task
TASK_MEMORY_PARAMETER = MEMORY_PARAMETER


def secret_arn(role: str) -> Export:
    return Export(NAME, f"{role.capitalize()}SecretArn")


def client_security_group(client: str) -> Export:
    return Export(NAME, f"{client.capitalize()}ClientSecurityGroupId")


def secret_name(role: str) -> str:
    """As services/influxdb/task.yaml names it: `<env>/influxdb/<role>`."""
    return f"${{EnvironmentName}}/influxdb/{role}"


def create_secrets(template: Template) -> dict[str, secretsmanager.Secret]:
    found = {}
    for role, username in ROLES.items():
        secret = template.add_resource(
            secretsmanager.Secret(
                f"{role.capitalize()}Secret",
                Name=Sub(secret_name(role)),
                Description=f"InfluxDB user {username} ({role}); JSON username and password",
                KmsKeyId=network.DATA_KEY_ARN.imported(),
                GenerateSecretString=secretsmanager.GenerateSecretString(
                    SecretStringTemplate=json.dumps({"username": username}),
                    GenerateStringKey="password",
                    PasswordLength=32,
                    ExcludePunctuation=True,  # the password travels in shell variables and URLs
                ),
            )
        )
        found[role] = secret
    return found


def create_security_groups(template: Template) -> tuple[ec2.SecurityGroup, dict[str, ec2.SecurityGroup]]:
    clients = {
        client: cfn_nag_skip(
            template.add_resource(
                ec2.SecurityGroup(
                    f"{client.capitalize()}ClientSecurityGroup",
                    GroupDescription=f"{client}: may reach InfluxDB on {PORT}",
                    VpcId=network.VPC_ID.imported(),
                    SecurityGroupEgress=[
                        tcp_rule(443, "AWS APIs and image registries over HTTPS", CidrIp="0.0.0.0/0"),
                        tcp_rule(PORT, "InfluxDB in the VPC", CidrIp=network.VPC_CIDR.imported()),
                    ],
                    Tags=tags(f"{client}-influx-client"),
                )
            ),
            W5=OPEN_HTTPS_EGRESS,
        )
        for client in CLIENTS
    }
    server = template.add_resource(
        ec2.SecurityGroup(
            "InfluxdbSecurityGroup",
            GroupDescription=f"InfluxDB: {PORT} only from the ingest function, Grafana and Chronograf",
            VpcId=network.VPC_ID.imported(),
            SecurityGroupIngress=[
                tcp_rule(PORT, f"InfluxDB from {client}", SourceSecurityGroupId=Ref(group))
                for client, group in clients.items()
            ],
            SecurityGroupEgress=[
                tcp_rule(443, "AWS APIs and the image registry over HTTPS", CidrIp="0.0.0.0/0"),
            ],
            Tags=tags("influxdb"),
        )
    )
    cfn_nag_skip(server, W5=OPEN_HTTPS_EGRESS)
    template.add_resource(
        ec2.SecurityGroupIngress(
            "GraphiteIngress",
            Condition=HAS_GRAPHITE,
            GroupId=Ref(server),
            IpProtocol="tcp",
            FromPort=GRAPHITE_PORT,
            ToPort=GRAPHITE_PORT,
            CidrIp=network.VPC_CIDR.imported(),
            Description="Graphite plaintext from inside the VPC (it has no authentication)",
        )
    )
    return server, clients


def create_discovery(template: Template) -> servicediscovery.Service:
    return template.add_resource(
        servicediscovery.Service(
            "DiscoveryService",
            Name="influx",
            NamespaceId=cluster.NAMESPACE_ID.imported(),
            DnsConfig=servicediscovery.DnsConfig(
                RoutingPolicy="MULTIVALUE", DnsRecords=[servicediscovery.DnsRecord(Type="A", TTL=10)]
            ),
            HealthCheckCustomConfig=servicediscovery.HealthCheckCustomConfig(FailureThreshold=1),
        )
    )


def create_task_alarm(template: Template, service: str) -> None:
    """The one InfluxDB task is not running (Container Insights counts it): nothing is written or shown.
    Its runbook line is in docs/operations.md ("When an alarm fires")."""
    topic = create_topic(
        template,
        "AlarmTopic",
        "influxdb-alarms",
        "AlarmEmail",
        "Address the InfluxDB alarms are sent to",
        network.DATA_KEY_ARN.imported(),
    )
    add_alarm(
        template,
        "TaskNotRunningAlarm",
        Sub("${EnvironmentName}-influxdb-TaskNotRunning"),
        "No InfluxDB task has run for 3 minutes: readings go to the dead letters and the dashboards are empty",
        (
            "ECS/ContainerInsights",
            "RunningTaskCount",
            {"ClusterName": cluster.CLUSTER_NAME.imported(), "ServiceName": service},
        ),
        "Minimum",
        "LessThanThreshold",
        1,
        Ref(topic),
        evaluation_periods=3,
        missing_data="breaching",  # no count at all: no task (or no service) to count
    )
    add_output(template, ALARM_TOPIC_ARN, Ref(topic), "Topic of the InfluxDB alarms")


def build() -> Template:
    template = new_template(
        "InfluxDB 1.8: one task on EFS, credentials in Secrets Manager, 8086 for its clients only"
    )
    spec = service_files.load("influxdb")
    create_parameters(template, spec, cpu=1024, memory=2048)
    template.add_parameter(
        Parameter(
            "GraphiteListener",
            Type="String",
            Default="false",
            AllowedValues=["false", "true"],
            Description=f"true: InfluxDB also takes Graphite plaintext on {GRAPHITE_PORT}, from inside the VPC only",
        )
    )
    template.add_condition(HAS_GRAPHITE, Equals(Ref("GraphiteListener"), "true"))
    secrets = create_secrets(template)
    server, clients = create_security_groups(template)
    create_discovery(template)
    wiring = ServiceWiring(
        secret_arns={secret_name(role): Ref(secret) for role, secret in secrets.items()},
        security_groups=[Ref(server)],
        # The ARN built from the service id: the same value as GetAtt Arn.
        registry_arn=Sub(
            "arn:${AWS::Partition}:servicediscovery:${AWS::Region}:${AWS::AccountId}:service/${DiscoveryService}"
        ),
    )
    definition = create_task_definition(template, spec, wiring)
    influxdb_backup.add(template, spec, definition)
    create_service(template, spec, definition, wiring)
    create_task_alarm(template, spec.service)
    add_output(template, URL, Sub(f"http://influx.${{EnvironmentName}}:{PORT}"), "InfluxDB inside the VPC")
    add_output(template, SECURITY_GROUP, Ref(server), "InfluxDB's security group")
    for role, secret in secrets.items():
        add_output(template, secret_arn(role), Ref(secret), f"Secret of the InfluxDB {role}")
    for client, group in clients.items():
        add_output(
            template, client_security_group(client), Ref(group), f"Group that lets {client} reach InfluxDB"
        )
    return template


STACK = StackDefinition(name=NAME, build=build, depends_on=(network.NAME, cluster.NAME, storage.NAME))
