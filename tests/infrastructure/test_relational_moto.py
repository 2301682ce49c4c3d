"""deploy --all of a catalog whose kinds write to SQL against moto's server (network → ... → relational → ingest →
webhook), then destroy --all. moto's server plays the AWS cloud; it cannot play the cluster itself.

moto has no CloudFormation model for the Aurora cluster, its parameter group or QuickSight, and models a clustered
DB instance as a stand-alone one: the compatibility layer leaves them out and puts placeholders in their attributes
(infrastructure/compat.py), so every other resource of the relational stack (its subnet group, security group, log
groups, the set-up function and role) is created here, and the functions take its exports.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3
import pytest
from ingest_to_influxdb import environment
from sql_setup import constants as setup

from catalog.loader import FOLDER_VARIABLE
from infrastructure.cli import main
from infrastructure.stacks import relational, relational_quicksight
from reach.endpoints import Endpoints
from tests.support.deployer import assert_destroyed, created_stacks
from tests.support.sql_catalog import write_sql_catalog

STACKS = ("network", "cluster", "storage", "edge", "influxdb", "grafana", "relational", "ingest", "webhook")


@pytest.fixture
def endpoint(endpoints: Endpoints, aws_env: dict[str, str], moto_reset: None) -> str:
    return endpoints.aws.endpoint_url


def test_the_relational_stack_deploys_and_the_functions_follow_its_exports(
    endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(FOLDER_VARIABLE, str(write_sql_catalog(tmp_path)))
    assert main(["deploy", "--all", "--yes", "--endpoint-url", endpoint]) == 0

    def client(name: str) -> Any:
        return boto3.client(name, endpoint_url=endpoint)  # type: ignore[call-overload]

    cloudformation = client("cloudformation")
    stacks = created_stacks(cloudformation, STACKS)
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stacks["demo-relational"]["Outputs"]}
    assert outputs[relational.CLUSTER_ARN.output] == f"{relational.CLUSTER.lower()}.dbclusterarn.local"
    assert outputs[relational.DATABASE_NAME.output] == setup.DATABASE
    # What moto models is there: the subnet group over the private subnets, and the set-up function in the VPC.
    (group,) = client("rds").describe_db_subnet_groups()["DBSubnetGroups"]
    assert len(group["Subnets"]) == 2
    function = client("lambda").get_function(FunctionName="demo-sql-setup")["Configuration"]
    assert function["Handler"] == setup.HANDLER and function["VpcConfig"]["SubnetIds"]
    # Both functions follow the stack's exports.
    for name in ("demo-ingest", "demo-webhook"):
        variables = client("lambda").get_function(FunctionName=name)["Configuration"]["Environment"][
            "Variables"
        ]
        assert variables[environment.SQL_RESOURCE_ARN] == outputs[relational.CLUSTER_ARN.output], name
        assert variables[environment.SQL_SECRET_ARN] == outputs[relational.WRITER_SECRET_ARN.output], name
        assert variables[environment.SQL_DATABASE] == setup.DATABASE, name

    # QuickSight on: its types are left out locally, what moto models (its group, the cluster's ingress rule from
    # it, the VPC connection's role) is created.
    on = [f"--param={relational_quicksight.PARAMETER}=true"]
    assert main(["deploy", relational.NAME, "--yes", "--endpoint-url", endpoint, *on]) == 0
    groups = client("ec2").describe_security_groups()["SecurityGroups"]
    assert [g for g in groups if g["Description"].startswith("QuickSight VPC connection")]

    assert main(["destroy", "--all", "--yes", "--endpoint-url", endpoint]) == 0
    assert_destroyed(cloudformation, STACKS)
