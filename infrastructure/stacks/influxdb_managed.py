"""The managed store of the influxdb stack (`Store=timestream`): an Amazon Timestream for InfluxDB DB instance and
the start-up step that makes its users' tokens, buckets, DBRP mappings and retention.

Which resource makes which engine (AWS CloudFormation template reference, read 2026-12):
- `AWS::Timestream::InfluxDBInstance` is an InfluxDB **v2** DB instance ("organizations and buckets for the case of
  InfluxDB 2.x"): one node, Single-AZ or with a synchronous Multi-AZ standby that serves no reads. It serves
  InfluxQL through DBRP mappings (so Grafana's InfluxQL dashboards and alert rules work unchanged with a token),
  InfluxDB tasks (the continuous queries' equivalent for downsampling) and buckets with retention. This is what
  this module creates.
- `AWS::Timestream::InfluxDBCluster` makes the engine its DB parameter group names: an InfluxDB v2 read-replica
  cluster (one writer, asynchronous readers; InfluxData's Read Replica add-on from AWS Marketplace) or InfluxDB 3
  Core / Enterprise (up to 15 nodes, Parquet on S3, no continuous queries or tasks). troposphere's class carries the
  v2-shaped properties (Organization, Bucket) for both. docs/scaling.md names it as the step beyond one instance.

No KMS key: the instance takes none (its storage is encrypted with a key Timestream owns) and its own secret of
admin credentials (`InfluxAuthParametersSecretArn`, JSON organization, bucket, username, password) is created by the
service. No engine-log delivery: it takes only an S3 bucket whose policy lets the service write, and the
environment's logs bucket is the edge stack's, above this one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from awacs.aws import Statement
from store_setup import constants as setup
from troposphere import GetAtt, Ref, Sub, Template, ec2, timestream
from troposphere.cloudformation import CustomResource

from catalog import load_catalog
from catalog.export import downsampled
from infrastructure.common import (
    add_choice_parameter,
    add_code_parameters,
    add_number_parameter,
    allow,
    create_log_group,
    setup_function,
    tags,
    tcp_ingress,
    tcp_rule,
    vpc_function_role,
    write_logs,
)
from infrastructure.notifications import add_alarm
from infrastructure.stacks import network

INSTANCE = "InfluxdbInstance"
SETUP = "StoreSetup"
# The generic custom-resource type, which CloudFormation treats as `Custom::<name>`: moto would run a `Custom::`
# resource's function (in Docker) and leave the stack in progress until it answers; this type it skips, and the
# deploy tool's compatibility layer (infrastructure/compat.py) puts placeholders in the references to it.
SETUP_TYPE = "AWS::CloudFormation::CustomResource"
# The setup step's code: lambda/store_setup/, shipped in the same zip as the ingest function (infrastructure/
# artifacts.py); the deploy tool fills in CodeBucket and CodeKey of every stack that declares both.
SETUP_HANDLER = setup.HANDLER

# The custom resource's properties: the names the set-up function declares (store_setup.constants).
PROPERTY_URL = setup.URL
PROPERTY_ADMIN_SECRET_ARN = setup.ADMIN_SECRET_ARN
PROPERTY_ORGANIZATION = setup.ORGANIZATION
PROPERTY_DATABASE = setup.DATABASE
PROPERTY_WRITER_SECRET_ARN = setup.WRITER_SECRET_ARN
PROPERTY_READER_SECRET_ARN = setup.READER_SECRET_ARN
PROPERTY_RETENTION_DAYS = setup.RETENTION_DAYS
PROPERTY_DOWNSAMPLED = setup.DOWNSAMPLED

ADMIN_USERNAME = "admin"
# Instance classes, smallest first (Timestream for InfluxDB API reference, DbInstanceType; vCPU and GiB from the
# developer guide's instance-class table): the capacity model picks one.
INSTANCE_CLASSES = (
    "db.influx.medium",  # 1 vCPU, 8 GiB
    "db.influx.large",  # 2 vCPU, 16 GiB
    "db.influx.xlarge",  # 4 vCPU, 32 GiB
    "db.influx.2xlarge",  # 8 vCPU, 64 GiB
    "db.influx.4xlarge",  # 16 vCPU, 128 GiB
    "db.influx.8xlarge",  # 32 vCPU, 256 GiB
    "db.influx.12xlarge",  # 48 vCPU, 384 GiB
    "db.influx.16xlarge",  # 64 vCPU, 512 GiB
    "db.influx.24xlarge",  # 96 vCPU, 768 GiB
)
DEFAULT_CLASS = "db.influx.medium"
# Storage tiers with their included IOPS: T1 3,000, T2 12,000, T3 16,000; T2 and T3 need at least 400 GiB.
STORAGE_TYPES = ("InfluxIOIncludedT1", "InfluxIOIncludedT2", "InfluxIOIncludedT3")
MIN_STORAGE_GIB, MAX_STORAGE_GIB = 20, 16384
DEPLOYMENT_TYPES = ("SINGLE_AZ", "WITH_MULTIAZ_STANDBY")
# Namespace and dimension of the instance's metrics: the service-linked role's policy
# (AmazonTimestreamInfluxDBServiceRolePolicy) may put metrics only into this namespace, and the developer guide's
# "Monitoring and configuration optimization" table keys every metric by DbInstanceName.
METRICS_NAMESPACE = "AWS/Timestream/InfluxDB"
METRICS_DIMENSION = "DbInstanceName"
DISK_ALARM_PERCENT = 80  # the same guide's production threshold for DiskUtilization


@dataclass(frozen=True)
class ManagedStore:
    """What the stack's parameters, secrets and groups give the managed store."""

    condition: str
    port: int
    organization: str
    database: str
    retention_days: int
    instance_class: Any
    storage_type: Any
    storage_gib: Any
    deployment_type: Any
    writer_secret: Any  # Ref of the writer's secret
    reader_secret: Any
    admin_password_secret: (
        Any  # Ref of the generated admin secret: the instance's initial password comes from it
    )
    server_group: Any  # Ref of the store's security group
    alarm_topic: Any


def add_parameters(template: Template, class_parameter: str, storage: str, gib: str, deployment: str) -> None:
    add_choice_parameter(
        template,
        class_parameter,
        DEFAULT_CLASS,
        INSTANCE_CLASSES,
        "Store=timestream: the DB instance class (db.influx.medium: 1 vCPU, 8 GiB)",
    )
    add_choice_parameter(
        template,
        storage,
        STORAGE_TYPES[0],
        STORAGE_TYPES,
        "Store=timestream: storage tier (IOPS included: T1 3,000, T2 12,000, T3 16,000; T2/T3 need 400 GiB or "
        "more)",
    )
    add_number_parameter(
        template, gib, MIN_STORAGE_GIB, MIN_STORAGE_GIB, MAX_STORAGE_GIB, "Store=timestream: storage in GiB"
    )
    add_choice_parameter(
        template,
        deployment,
        DEPLOYMENT_TYPES[0],
        DEPLOYMENT_TYPES,
        "Store=timestream: SINGLE_AZ, or WITH_MULTIAZ_STANDBY (a synchronous standby in a second zone that takes "
        "over on failure; it serves no reads)",
    )
    add_code_parameters(template)


def instance_name() -> Sub:
    return Sub("${EnvironmentName}-influxdb")


def url(port: int) -> Sub:
    """The instance's HTTPS endpoint (Timestream for InfluxDB serves TLS only). A GetAtt, not a name inside the
    text, so a local deploy can replace it (infrastructure/compat.py)."""
    return Sub(f"https://${{Endpoint}}:{port}", Endpoint=GetAtt(INSTANCE, "Endpoint"))


def create_instance(template: Template, store: ManagedStore) -> timestream.InfluxDBInstance:
    return template.add_resource(
        timestream.InfluxDBInstance(
            INSTANCE,
            Condition=store.condition,
            Name=instance_name(),
            DbInstanceType=store.instance_class,
            DbStorageType=store.storage_type,
            AllocatedStorage=store.storage_gib,
            DeploymentType=store.deployment_type,
            PubliclyAccessible=False,
            VpcSubnetIds=[subnet.imported() for subnet in network.PRIVATE_SUBNETS],
            VpcSecurityGroupIds=[store.server_group],
            Organization=store.organization,
            Bucket=store.database,
            Username=ADMIN_USERNAME,
            # A dynamic reference: the password is never in the template. The generated admin secret has letters
            # and digits only, 32 long, as the instance's Password pattern requires (^[a-zA-Z0-9]+$, 8-64).
            Password=Sub(
                "{{resolve:secretsmanager:${Secret}:SecretString:password}}",
                Secret=store.admin_password_secret,
            ),
            Tags=tags("influxdb"),
        )
    )


def admin_secret_arn() -> GetAtt:
    return GetAtt(INSTANCE, "InfluxAuthParametersSecretArn")


def create_setup_group(template: Template, store: ManagedStore) -> ec2.SecurityGroup:
    """The setup function's group: HTTPS to Secrets Manager (through the NAT gateways) and the store's port in
    the VPC; the store's group lets it in."""
    group = template.add_resource(
        network.https_out_group(
            "StoreSetupSecurityGroup",
            f"store setup: may reach the managed InfluxDB on {store.port}",
            "store-setup",
            "Secrets Manager over HTTPS",
            tcp_rule(store.port, "the managed InfluxDB in the VPC", CidrIp=network.VPC_CIDR.imported()),
            Condition=store.condition,
        )
    )
    template.add_resource(
        tcp_ingress(
            "StoreSetupIngress",
            store.server_group,
            store.port,
            "InfluxDB from the store setup function",
            Condition=store.condition,
            SourceSecurityGroupId=Ref(group),
        )
    )
    return group


def setup_statements(log_group: Any, store: ManagedStore) -> list[Statement]:
    """Least privilege: read the admin's secret, read and write the writer's and reader's."""
    return [
        write_logs(log_group),
        allow("secretsmanager", ("GetSecretValue",), [admin_secret_arn()]),
        allow(
            "secretsmanager", ("GetSecretValue", "PutSecretValue"), [store.writer_secret, store.reader_secret]
        ),
        # The writer's and reader's secrets and the function's environment use the environment's key.
        allow("kms", ("Decrypt", "GenerateDataKey"), [network.DATA_KEY_ARN.imported()]),
    ]


def create_setup(template: Template, store: ManagedStore) -> CustomResource:
    """The start-up step: a function in the VPC behind a custom resource, run by every create and update of the
    stack (idempotent, as init-influxdb.sh is for the ECS store)."""
    log_group = create_log_group(
        template,
        "StoreSetupLogGroup",
        Sub("/aws/lambda/${EnvironmentName}-store-setup"),
        network.DATA_KEY_ARN.imported(),
    )
    log_group.Condition = store.condition
    role = vpc_function_role("store-setup", setup_statements(log_group, store))
    role.title = "StoreSetupRole"
    role.Condition = store.condition
    template.add_resource(role)
    group = create_setup_group(template, store)
    function = setup_function(
        "StoreSetupFunction",
        Sub("${EnvironmentName}-store-setup"),
        "Makes the managed InfluxDB's buckets, DBRP mappings, retention and the writer's and "
        "reader's tokens (idempotent)",
        SETUP_HANDLER,
        role,
        group,
        log_group,
        network.DATA_KEY_ARN.imported(),
        [subnet.imported() for subnet in network.PRIVATE_SUBNETS],
    )
    function.Condition = store.condition
    template.add_resource(function)
    return template.add_resource(
        CustomResource(
            SETUP,
            Condition=store.condition,
            ServiceToken=GetAtt(function, "Arn"),
            ServiceTimeout=600,  # seconds: a setup that never answers fails the stack in 10 minutes, not an hour
            **{
                PROPERTY_URL: url(store.port),
                PROPERTY_ADMIN_SECRET_ARN: admin_secret_arn(),
                PROPERTY_ORGANIZATION: store.organization,
                PROPERTY_DATABASE: store.database,
                PROPERTY_WRITER_SECRET_ARN: store.writer_secret,
                PROPERTY_READER_SECRET_ARN: store.reader_secret,
                PROPERTY_RETENTION_DAYS: str(store.retention_days),
                # The downsampling the ECS store's continuous queries do, from the same catalog text.
                PROPERTY_DOWNSAMPLED: downsampled(load_catalog()),
            },
        )
    )


def create_alarms(template: Template, store: ManagedStore) -> None:
    """The managed store's equivalents of the task alarm: the instance reports no metric (it is down, or gone), and
    its storage is nearly full (writes will fail). Runbook lines: docs/operations.md."""
    dimensions = {METRICS_DIMENSION: instance_name()}
    add_alarm(
        template,
        "StoreNotReportingAlarm",
        "The managed InfluxDB has reported no CPU figure for 3 minutes: it is down or unreachable, readings go to "
        "the dead letters and the dashboards are empty",
        (METRICS_NAMESPACE, "CPUUtilization", dimensions),
        "SampleCount",
        "LessThanThreshold",
        1,
        store.alarm_topic,
        evaluation_periods=3,
        missing_data="breaching",
        condition=store.condition,
    )
    add_alarm(
        template,
        "StoreDiskNearlyFullAlarm",
        f"The managed InfluxDB's storage is over {DISK_ALARM_PERCENT} % full: raise AllocatedStorage before "
        "writes fail",
        (METRICS_NAMESPACE, "DiskUtilization", dimensions),
        "Maximum",
        "GreaterThanThreshold",
        DISK_ALARM_PERCENT,
        store.alarm_topic,
        evaluation_periods=5,
        condition=store.condition,
    )
