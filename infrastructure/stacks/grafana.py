"""grafana: Grafana at /grafana behind the load balancer, its admin password generated in Secrets Manager,
the InfluxDB data source and the dashboards provisioned from the repository's files."""

from __future__ import annotations

import json
from typing import Any

from awacs.aws import Action as AwacsAction
from awacs.aws import Allow, Statement
from troposphere import Ref, Sub, Template, secretsmanager

from infrastructure.common import add_output
from infrastructure.names import Export
from infrastructure.registry import StackDefinition
from infrastructure.stacks import cluster, edge, influxdb, network, storage
from infrastructure.web_service import build_web_service, reader_secret

NAME = "grafana"
ADMIN_SECRET_NAME = "${EnvironmentName}/grafana/admin"
ADMIN_SECRET_ARN = Export(NAME, "AdminSecretArn")


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
    add_output(template, ADMIN_SECRET_ARN, Ref(secret), "Secret of Grafana's admin user")
    return {ADMIN_SECRET_NAME: Ref(secret)}


def build() -> Template:
    # CloudWatch's read actions (for the dead-letter panel) have no resource-level permissions: "*" is required.
    read_metrics = Statement(
        Effect=Allow,
        Action=[
            AwacsAction("cloudwatch", a) for a in ("GetMetricData", "ListMetrics", "GetMetricStatistics")
        ],
        Resource=["*"],
    )
    return build_web_service(
        NAME,
        "Grafana at /grafana: provisioned data source and dashboards, admin password in Secrets Manager",
        priority=10,
        secret_arns=reader_secret(),
        substitutions={"PublicDomain": edge.DISTRIBUTION_DOMAIN.imported()},
        task_statements=[read_metrics],
        prepare=create_admin_secret,
    )


STACK = StackDefinition(
    name=NAME,
    build=build,
    depends_on=(network.NAME, cluster.NAME, storage.NAME, edge.NAME, influxdb.NAME),
)
