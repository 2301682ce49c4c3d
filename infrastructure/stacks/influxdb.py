"""influxdb: the store every reader and writer follows through one export (`Url`) and one secret per role
(writer, reader, admin), and its security groups: port 8086 open only to the ingest function, Grafana and
Chronograf (each carries one of the client groups this stack exports).

`Store` chooses the store (docs/scaling.md, "Choosing the store"):
- `ecs` (the default): InfluxDB 1.8 as exactly one task on its EFS access point, named `influx.<env>` in Cloud Map,
  its users' credentials generated in Secrets Manager (influxdb_ecs.py). It serves HTTPS only, with a certificate
  for `influx.<env>` signed by the environment's own CA, which the deploy tool makes and keeps in Secrets Manager
  (infrastructure/influx_tls.py) and passes here as two parameters: the task's secret (TlsSecretArn) and the CA's
  certificate (TlsCaCertificate), exported as CaCertificate for the clients that verify the server with it. `GraphiteListener=true` also opens
  InfluxDB's Graphite listener on 2003 to the VPC (statsd, collectd; services/influxdb/task.yaml).
- `timestream`: an Amazon Timestream for InfluxDB v2 DB instance in the private subnets, and the start-up step that
  puts the writer's and reader's tokens into their secrets (influxdb_managed.py). No ECS resource is created then.
  It serves HTTPS with an AWS certificate, which its clients verify against the system's roots (the exported
  CaCertificate says `system-roots` then).
"""

from __future__ import annotations

from ingest_to_influxdb.constants import SYSTEM_ROOTS
from store_setup import constants as store_constants
from troposphere import And, Condition, Equals, If, Ref, Template, ec2, secretsmanager, sns

from infrastructure import influx_tls
from infrastructure.common import (
    add_choice_parameter,
    add_flag_parameter,
    add_output,
    add_string_parameter,
    add_user_secrets,
    new_template,
    tcp_ingress,
    tcp_rule,
)
from infrastructure.ecs_service import CPU_PARAMETER, MEMORY_PARAMETER, create_parameters
from infrastructure.names import ENVIRONMENT_PARAMETER, Export
from infrastructure.notifications import create_topic
from infrastructure.registry import StackDefinition
from infrastructure.stacks import cluster, influxdb_ecs, influxdb_managed, network, storage

NAME = "influxdb"
PORT = 8086
ROLES = {"admin": "admin", "writer": "writer", "reader": "reader"}  # role -> InfluxDB user name
CLIENTS = ("ingest", "grafana", "chronograf")
GRAPHITE_PORT = 2003
HAS_GRAPHITE = "HasGraphiteListener"
URL = Export(NAME, "Url")
SECURITY_GROUP = Export(NAME, "SecurityGroupId")
ALARM_TOPIC_ARN = Export(NAME, "AlarmTopicArn")
# The CA certificate (PEM) the ECS store's certificate is verified against; SYSTEM_ROOTS with the managed store.
CA_CERTIFICATE = Export(NAME, "CaCertificate")
# The parameters the deploy tool sets from infrastructure/influx_tls.py (Deployer.parameters).
TLS_SECRET_PARAMETER = "TlsSecretArn"
CA_CERTIFICATE_PARAMETER = "TlsCaCertificate"
TLS_SECRET = influx_tls.tls_secret_name("${EnvironmentName}")  # as services/influxdb/task.yaml names it
# The store and its size: parameters of this stack that the capacity model (benchmarks/capacity) sets.
STORE_PARAMETER = "Store"
STORE_ECS = "ecs"  # InfluxDB 1.8 as one ECS task on EFS (the default)
STORE_MANAGED = "timestream"  # Amazon Timestream for InfluxDB
MANAGED_CLASS_PARAMETER = "TimestreamInstanceClass"
MANAGED_STORAGE_TYPE_PARAMETER = "DbStorageType"  # storage tier, with its included IOPS
MANAGED_STORAGE_PARAMETER = "AllocatedStorage"  # GiB
MANAGED_DEPLOYMENT_PARAMETER = "DeploymentType"  # SINGLE_AZ or WITH_MULTIAZ_STANDBY
TASK_CPU_PARAMETER = CPU_PARAMETER  # the ECS store's task
TASK_MEMORY_PARAMETER = MEMORY_PARAMETER
IS_ECS_STORE = "IsEcsStore"
IS_MANAGED_STORE = "IsManagedStore"
DATABASE = "telemetry"  # the 1.x database; on the managed store the bucket its DBRP mapping names
ORGANIZATION = "iot-telemetry"  # the managed store's InfluxDB organization
RAW_RETENTION_DAYS = store_constants.RAW_RETENTION_DAYS  # as init-influxdb.sh keeps raw readings


def secret_arn(role: str) -> Export:
    return Export(NAME, f"{role.capitalize()}SecretArn")


def client_security_group(client: str) -> Export:
    return Export(NAME, f"{client.capitalize()}ClientSecurityGroupId")


def secret_name(role: str, environment: str = f"${{{ENVIRONMENT_PARAMETER}}}") -> str:
    """As services/influxdb/task.yaml names it: `<env>/influxdb/<role>` (by default the template's `Sub` text)."""
    return f"{environment}/influxdb/{role}"


def create_secrets(template: Template) -> dict[str, secretsmanager.Secret]:
    return add_user_secrets(
        template,
        ROLES,
        secret_name,
        "InfluxDB user {username} ({role}); JSON username and password",
        network.DATA_KEY_ARN.imported(),
        ("username", "password"),
        {
            "PasswordLength": 32,
            "ExcludePunctuation": True,
        },  # the password travels in shell variables and URLs
        # The users live on the retained file system: their passwords must outlive the stack too.
        DeletionPolicy="Retain",
        UpdateReplacePolicy="Retain",
    )


def create_security_groups(template: Template) -> tuple[ec2.SecurityGroup, dict[str, ec2.SecurityGroup]]:
    clients = {
        client: template.add_resource(
            network.https_out_group(
                f"{client.capitalize()}ClientSecurityGroup",
                f"{client}: may reach InfluxDB on {PORT}",
                f"{client}-influx-client",
                "AWS APIs and image registries over HTTPS",
                tcp_rule(PORT, "InfluxDB in the VPC", CidrIp=network.VPC_CIDR.imported()),
            )
        )
        for client in CLIENTS
    }
    server = template.add_resource(
        network.https_out_group(
            "InfluxdbSecurityGroup",
            f"InfluxDB: {PORT} only from the ingest function, Grafana and Chronograf",
            "influxdb",
            "AWS APIs and the image registry over HTTPS",
            SecurityGroupIngress=[
                tcp_rule(PORT, f"InfluxDB from {client}", SourceSecurityGroupId=Ref(group))
                for client, group in clients.items()
            ],
        )
    )
    template.add_resource(
        tcp_ingress(
            "GraphiteIngress",
            Ref(server),
            GRAPHITE_PORT,
            "Graphite plaintext from inside the VPC (it has no authentication)",
            Condition=HAS_GRAPHITE,
            CidrIp=network.VPC_CIDR.imported(),
        )
    )
    return server, clients


def create_alarm_topic(template: Template) -> sns.Topic:
    """The topic of the store's alarms (the task alarm, or the managed store's): exported whatever the store."""
    topic = create_topic(
        template,
        "AlarmTopic",
        "influxdb-alarms",
        "AlarmEmail",
        "Address the InfluxDB alarms are sent to",
        network.DATA_KEY_ARN.imported(),
    )
    add_output(template, ALARM_TOPIC_ARN, Ref(topic), "Topic of the InfluxDB alarms")
    return topic


def add_store_parameters(template: Template) -> None:
    add_choice_parameter(
        template,
        STORE_PARAMETER,
        STORE_ECS,
        (STORE_ECS, STORE_MANAGED),
        f"{STORE_ECS}: InfluxDB 1.8 as one ECS task on EFS; {STORE_MANAGED}: an Amazon Timestream for InfluxDB "
        "v2 DB instance (docs/scaling.md)",
    )
    template.add_condition(IS_ECS_STORE, Equals(Ref(STORE_PARAMETER), STORE_ECS))
    template.add_condition(IS_MANAGED_STORE, Equals(Ref(STORE_PARAMETER), STORE_MANAGED))
    influxdb_managed.add_parameters(
        template,
        MANAGED_CLASS_PARAMETER,
        MANAGED_STORAGE_TYPE_PARAMETER,
        MANAGED_STORAGE_PARAMETER,
        MANAGED_DEPLOYMENT_PARAMETER,
    )


def add_tls_parameters(template: Template) -> None:
    add_string_parameter(
        template,
        TLS_SECRET_PARAMETER,
        "Secret of InfluxDB's server certificate, key and CA (the deploy tool makes it: "
        "infrastructure/influx_tls.py)",
        pattern="arn:aws[a-z-]*:secretsmanager:.+",
    )
    add_string_parameter(
        template,
        CA_CERTIFICATE_PARAMETER,
        "PEM of the CA that signed InfluxDB's certificate (the deploy tool sets it)",
    )


def create_managed_store(
    template: Template, secrets: dict[str, secretsmanager.Secret], server: ec2.SecurityGroup, topic: sns.Topic
) -> None:
    store = influxdb_managed.ManagedStore(
        condition=IS_MANAGED_STORE,
        port=PORT,
        organization=ORGANIZATION,
        database=DATABASE,
        retention_days=RAW_RETENTION_DAYS,
        instance_class=Ref(MANAGED_CLASS_PARAMETER),
        storage_type=Ref(MANAGED_STORAGE_TYPE_PARAMETER),
        storage_gib=Ref(MANAGED_STORAGE_PARAMETER),
        deployment_type=Ref(MANAGED_DEPLOYMENT_PARAMETER),
        writer_secret=Ref(secrets["writer"]),
        reader_secret=Ref(secrets["reader"]),
        admin_password_secret=Ref(secrets["admin"]),
        server_group=Ref(server),
        alarm_topic=Ref(topic),
    )
    influxdb_managed.create_instance(template, store)
    influxdb_managed.create_setup(template, store)
    influxdb_managed.create_alarms(template, store)


def build() -> Template:
    template = new_template(
        "InfluxDB: one ECS task on EFS (Store=ecs) or a Timestream for InfluxDB instance (Store=timestream), "
        "credentials in Secrets Manager, 8086 for its clients only"
    )
    spec = influxdb_ecs.load_spec()
    create_parameters(template, spec, cpu=1024, memory=2048)
    add_flag_parameter(
        template,
        "GraphiteListener",
        f"true: InfluxDB also takes Graphite plaintext on {GRAPHITE_PORT}, from inside the VPC only "
        f"(Store={STORE_ECS} only)",
    )
    add_store_parameters(template)
    add_tls_parameters(template)
    template.add_condition(
        HAS_GRAPHITE, And(Equals(Ref("GraphiteListener"), "true"), Condition(IS_ECS_STORE))
    )
    secrets = create_secrets(template)
    server, clients = create_security_groups(template)
    topic = create_alarm_topic(template)
    influxdb_ecs.create_store(
        template,
        spec,
        {
            **{secret_name(role): Ref(secret) for role, secret in secrets.items()},
            TLS_SECRET: Ref(TLS_SECRET_PARAMETER),
        },
        Ref(server),
        Ref(topic),
        IS_ECS_STORE,
    )
    create_managed_store(template, secrets, server, topic)
    add_output(
        template,
        URL,
        If(IS_MANAGED_STORE, influxdb_managed.url(PORT), influxdb_ecs.url(PORT)),
        "The store's URL inside the VPC (the managed store: its HTTPS endpoint)",
    )
    add_output(
        template,
        CA_CERTIFICATE,
        If(IS_MANAGED_STORE, SYSTEM_ROOTS, Ref(CA_CERTIFICATE_PARAMETER)),
        f"PEM of the CA the ECS store's certificate is verified against ({SYSTEM_ROOTS}: the managed store's "
        "public certificate, against the system's roots)",
    )
    add_output(template, SECURITY_GROUP, Ref(server), "InfluxDB's security group")
    for role, secret in secrets.items():
        value = Ref(secret)
        if (
            role == "admin"
        ):  # the managed store's admin is the instance's own secret of its initial credentials
            value = If(IS_MANAGED_STORE, influxdb_managed.admin_secret_arn(), Ref(secret))
        add_output(template, secret_arn(role), value, f"Secret of the InfluxDB {role}")
    for client, group in clients.items():
        add_output(
            template, client_security_group(client), Ref(group), f"Group that lets {client} reach InfluxDB"
        )
    return template


STACK = StackDefinition(name=NAME, build=build, depends_on=(network.NAME, cluster.NAME, storage.NAME))
