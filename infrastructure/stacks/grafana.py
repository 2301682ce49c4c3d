"""grafana: Grafana at /grafana behind the load balancer, its admin password generated in Secrets Manager,
the InfluxDB data source provisioned from the repository's files and the dashboards from S3.

The dashboards (ingest health and one per device kind) do not ride in the task definition, whose size ECS
limits to 64 KiB: the deploy tool stores them in the artifacts bucket under a prefix holding their content hash
(`DashboardsPrefix`), and an init container of the official AWS CLI image copies them into a task volume that
Grafana's dashboard provider reads. It is the standard ECS pattern for files a stock image needs at start (no
image to build and push, nothing on the instance; EFS would keep stale files between deploys). New dashboards
mean a new prefix, hence a new task definition and a rolling of the one task.
"""

from __future__ import annotations

import json
from typing import Any

from awacs.aws import Action as AwacsAction
from awacs.aws import Allow, Statement
from troposphere import Parameter, Ref, Sub, Template, secretsmanager

from infrastructure.common import MANUAL_ROTATION, add_output, guard_skip
from infrastructure.ecs_service import FetchedFiles
from infrastructure.names import Export
from infrastructure.notifications import allow_publish, create_topic
from infrastructure.registry import StackDefinition
from infrastructure.stacks import cluster, edge, influxdb, network, storage
from infrastructure.web_service import build_web_service, reader_secret

NAME = "grafana"
DASHBOARDS_PATH = "/var/lib/grafana/dashboards/iot-telemetry"  # options.path of provisioning/dashboards.yaml
ADMIN_SECRET_NAME = "${EnvironmentName}/grafana/admin"
ADMIN_SECRET_ARN = Export(NAME, "AdminSecretArn")
# Grafana's alerts (grafana/alert_rules.py) go to this topic; services/grafana/task.yaml hands its ARN over.
ALERT_TOPIC = "AlertTopic"
ALERT_TOPIC_ARN = Export(NAME, "AlertTopicArn")
# The AWS-managed SNS key: a publisher in the account needs no key permission, so sns:Publish on the topic is
# the task role's only addition. (The CloudWatch alarms' topics use the data key, whose policy lets CloudWatch in.)
SNS_MANAGED_KEY = "alias/aws/sns"


def create_file_parameters(template: Template) -> None:
    template.add_parameter(
        Parameter(
            "ProvisioningBucket",
            Type="String",
            MinLength=3,
            Description="Bucket of the dashboards (the deploy tool fills it in: the artifacts bucket)",
        )
    )
    template.add_parameter(
        Parameter(
            "DashboardsPrefix",
            Type="String",
            AllowedPattern=r"^[A-Za-z0-9/_.-]+/$",
            Description="Key prefix of the dashboards, ending in / (the deploy tool fills it in)",
        )
    )


def prepare(template: Template) -> dict[str, Any]:
    create_file_parameters(template)
    return create_admin_secret(template)


def create_admin_secret(template: Template) -> dict[str, Any]:
    secret = template.add_resource(
        secretsmanager.Secret(
            "AdminSecret",
            Name=Sub(ADMIN_SECRET_NAME),
            Description="Grafana's admin user; JSON username and password",
            KmsKeyId=network.DATA_KEY_ARN.imported(),
            GenerateSecretString=secretsmanager.GenerateSecretString(
                SecretStringTemplate=json.dumps({"username": "admin"}),
                GenerateStringKey="password",
                PasswordLength=32,
                ExcludePunctuation=True,
            ),
        )
    )
    guard_skip(secret, SECRETSMANAGER_ROTATION_ENABLED_CHECK=MANUAL_ROTATION)
    add_output(template, ADMIN_SECRET_ARN, Ref(secret), "Secret of Grafana's admin user")
    return {ADMIN_SECRET_NAME: Ref(secret)}


def add_alerting(template: Template) -> None:
    """The alert topic (AlertEmail subscribes an address) and the task role's permission to publish to it."""
    topic = create_topic(
        template,
        ALERT_TOPIC,
        "grafana-alerts",
        "AlertEmail",
        "Address Grafana's device alerts go to",
        SNS_MANAGED_KEY,
    )
    allow_publish(template, "GrafanaTaskRole", topic, "publish-alerts")
    add_output(template, ALERT_TOPIC_ARN, Ref(topic), "Topic of Grafana's alerts (readings, silent devices)")


def build() -> Template:
    # CloudWatch's read actions (for the dead-letter panel) have no resource-level permissions: "*" is required.
    read_metrics = Statement(
        Effect=Allow,
        Action=[
            AwacsAction("cloudwatch", a) for a in ("GetMetricData", "ListMetrics", "GetMetricStatistics")
        ],
        Resource=["*"],
    )
    template = build_web_service(
        NAME,
        "Grafana at /grafana: provisioned data source and dashboards, admin password in Secrets Manager",
        priority=10,
        secret_arns=reader_secret(),
        # The store's one URL export, whichever store it is (services/grafana/task.yaml's ${InfluxdbUrl}).
        substitutions={
            "PublicDomain": edge.DISTRIBUTION_DOMAIN.imported(),
            "InfluxdbUrl": influxdb.URL.imported(),
            "InfluxdbCaCertificate": influxdb.CA_CERTIFICATE.imported(),  # the data source verifies the store with it
        },
        task_statements=[read_metrics],
        prepare=prepare,
        fetched=FetchedFiles(Ref("ProvisioningBucket"), Ref("DashboardsPrefix"), DASHBOARDS_PATH),
    )
    add_alerting(template)
    return template


STACK = StackDefinition(
    name=NAME,
    build=build,
    depends_on=(network.NAME, cluster.NAME, storage.NAME, edge.NAME, influxdb.NAME),
)
