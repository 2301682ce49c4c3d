"""deploy --all with the managed store (`--param Store=timestream`) against moto's server, then destroy --all.

moto has no CloudFormation model for `AWS::Timestream::InfluxDBInstance` and skips the generic custom resource
(it would run a `Custom::` resource's function in Docker): the deploy tool's compatibility layer puts placeholders
in their attributes (infrastructure/compat.py), so every other resource of every stack is created and checked here.
"""

from __future__ import annotations

from typing import Any

import boto3

from infrastructure import compat
from infrastructure.cli import main
from infrastructure.stacks import influxdb, influxdb_managed
from tests.support.deployer import assert_destroyed, created_stacks

STACKS = ("network", "cluster", "storage", "edge", "influxdb", "grafana", "chronograf", "ingest", "webhook")


def test_every_stack_deploys_with_the_managed_store(endpoint: str) -> None:
    managed = f"--param={influxdb.STORE_PARAMETER}={influxdb.STORE_MANAGED}"
    assert main(["deploy", "--all", "--yes", "--endpoint-url", endpoint, managed]) == 0
    login = [  # Chronograf only with a login: --all leaves it out
        "--param=OAuthSecretArn=arn:aws:secretsmanager:us-east-1:123456789012:secret:demo/chronograf/oauth-AbCdEf",
        *(
            f"--param=OAuth{n}Url=https://login.example.com/oauth2/{n.lower()}"
            for n in ("Auth", "Token", "Api")
        ),
        "--param=OAuthDomains=example.com",
    ]
    assert main(["deploy", "chronograf", "--yes", "--endpoint-url", endpoint, *login]) == 0

    def client(name: str) -> Any:
        return boto3.client(name, endpoint_url=endpoint)  # type: ignore[call-overload]

    cloudformation = client("cloudformation")
    stacks = created_stacks(cloudformation, STACKS)
    store = stacks["demo-influxdb"]
    assert {p["ParameterKey"]: p["ParameterValue"] for p in store["Parameters"]}[
        influxdb.STORE_PARAMETER
    ] == (influxdb.STORE_MANAGED)
    outputs = {o["OutputKey"]: o["OutputValue"] for o in store["Outputs"]}
    endpoint_placeholder = f"{influxdb_managed.INSTANCE.lower()}.endpoint.local"
    assert outputs["Url"] == f"https://{endpoint_placeholder}:8086"
    assert (
        outputs["AdminSecretArn"]
        == f"{influxdb_managed.INSTANCE.lower()}.influxauthparameterssecretarn.local"
    )

    # No ECS store: the cluster runs Grafana and Chronograf only.
    services = client("ecs").list_services(cluster="demo-cluster")["serviceArns"]
    assert {arn.rsplit("/", 1)[-1] for arn in services} == {"grafana", "chronograf"}
    assert not [
        d for d in client("ecs").list_task_definitions()["taskDefinitionArns"] if "demo-influxdb" in d
    ]
    # The setup step's function exists (moto skips its custom resource), in the VPC, from the shared zip.
    setup = client("lambda").get_function(FunctionName="demo-store-setup")["Configuration"]
    assert setup["Handler"] == influxdb_managed.SETUP_HANDLER and setup["VpcConfig"]["SubnetIds"]
    # Every writer follows the one export.
    for name in ("demo-ingest", "demo-webhook"):
        variables = client("lambda").get_function(FunctionName=name)["Configuration"]["Environment"][
            "Variables"
        ]
        assert variables["INFLUXDB_URL"] == outputs["Url"], name
        assert variables["INFLUXDB_SECRET_ARN"] == outputs["WriterSecretArn"], name
    for service in ("grafana", "chronograf"):  # every reader follows the one export and the reader's secret
        (definition,) = [
            d for d in client("ecs").list_task_definitions()["taskDefinitionArns"] if f"demo-{service}" in d
        ]
        (container,) = [
            c
            for c in client("ecs").describe_task_definition(taskDefinition=definition)["taskDefinition"][
                "containerDefinitions"
            ]
            if c["name"] == service
        ]
        assert {e["name"]: e["value"] for e in container["environment"]}["INFLUXDB_URL"] == outputs["Url"]
        reader = {s["name"]: s["valueFrom"] for s in container["secrets"]}["INFLUXDB_READER"]
        assert reader == outputs["ReaderSecretArn"], service

    assert main(["destroy", "--all", "--yes", "--endpoint-url", endpoint]) == 0
    assert_destroyed(cloudformation, STACKS)


def test_the_managed_store_s_types_are_skipped_locally() -> None:
    assert {"AWS::Timestream::InfluxDBInstance", influxdb_managed.SETUP_TYPE} <= compat.MOTO_SKIPPED_TYPES
