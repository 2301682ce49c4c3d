"""The influxdb stack's `Store` parameter: the ECS store by default, as before; with `Store=timestream` a Timestream
for InfluxDB v2 instance and its start-up step, and no ECS store resource. Every reader and writer follows the one
`Url` export and its role's secret export, whichever the store.

Conditions are evaluated here as CloudFormation does (Fn::Equals/And/Or/Not/Condition on parameter values), so
"no ECS resource" is what a deployment with those parameter values would create."""

from __future__ import annotations

import json
from typing import Any

import pytest
from store_setup import constants as setup_constants

from catalog import load_catalog
from catalog.export import downsampled
from infrastructure.stacks import influxdb, influxdb_managed

ECS_STORE = {  # logical id -> type: what the influxdb stack deployed before the store became a choice
    "DiscoveryService": "AWS::ServiceDiscovery::Service",
    "InfluxdbLogGroup": "AWS::Logs::LogGroup",
    "InfluxdbExecutionRole": "AWS::IAM::Role",
    "InfluxdbTaskRole": "AWS::IAM::Role",
    "InfluxdbTaskDefinition": "AWS::ECS::TaskDefinition",
    "InfluxdbService": "AWS::ECS::Service",
    "TaskNotRunningAlarm": "AWS::CloudWatch::Alarm",
}
MANAGED = {influxdb.STORE_PARAMETER: influxdb.STORE_MANAGED}


def parameter_values(template: dict[str, Any], given: dict[str, str]) -> dict[str, Any]:
    values = {name: p.get("Default") for name, p in template.get("Parameters", {}).items()}
    return values | given


def evaluate(node: Any, template: dict[str, Any], values: dict[str, Any]) -> Any:
    """A condition's value, as CloudFormation evaluates it."""
    if isinstance(node, dict):
        ((function, argument),) = node.items()
        if function == "Ref":
            return values[argument]
        if function == "Condition":
            return evaluate(template["Conditions"][argument], template, values)
        if function == "Fn::Equals":
            left, right = (evaluate(a, template, values) for a in argument)
            return str(left) == str(right)
        if function == "Fn::And":
            return all(evaluate(a, template, values) for a in argument)
        if function == "Fn::Or":
            return any(evaluate(a, template, values) for a in argument)
        if function == "Fn::Not":
            return not evaluate(argument[0], template, values)
        raise AssertionError(f"unexpected {function} in a condition")
    return node


def deployed(template: dict[str, Any], given: dict[str, str] | None = None) -> dict[str, Any]:
    """The resources a deployment with these parameter values creates."""
    values = parameter_values(template, given or {})
    return {
        name: resource
        for name, resource in template["Resources"].items()
        if "Condition" not in resource or evaluate({"Condition": resource["Condition"]}, template, values)
    }


def resolve(node: Any, template: dict[str, Any], values: dict[str, Any]) -> Any:
    """Fn::If and parameter Refs resolved; everything else as it is."""
    if isinstance(node, dict):
        if set(node) == {"Fn::If"}:
            condition, yes, no = node["Fn::If"]
            chosen = yes if evaluate({"Condition": condition}, template, values) else no
            return resolve(chosen, template, values)
        if set(node) == {"Ref"} and node["Ref"] in template.get("Parameters", {}):
            return values[node["Ref"]]
        return {key: resolve(value, template, values) for key, value in node.items()}
    if isinstance(node, list):
        return [resolve(item, template, values) for item in node]
    return node


def output(template: dict[str, Any], name: str, given: dict[str, str] | None = None) -> Any:
    values = parameter_values(template, given or {})
    return resolve(template["Outputs"][name]["Value"], template, values)


def test_the_ecs_store_is_the_default_and_deploys_what_it_did(templates: dict[str, Any]) -> None:
    template = templates["influxdb"]
    assert template["Parameters"][influxdb.STORE_PARAMETER]["Default"] == influxdb.STORE_ECS
    resources = deployed(template)
    assert {name: resources[name]["Type"] for name in ECS_STORE} == ECS_STORE
    assert not [r for r in resources.values() if r["Type"].startswith(("AWS::Timestream", "AWS::Lambda"))]
    assert not [r for r in resources.values() if r["Type"] == influxdb_managed.SETUP_TYPE]
    assert output(template, "Url") == {"Fn::Sub": "https://influx.${EnvironmentName}:8086"}
    assert output(template, "AdminSecretArn") == {"Ref": "AdminSecret"}


def test_the_managed_store_creates_no_ecs_store_resource(templates: dict[str, Any]) -> None:
    template = templates["influxdb"]
    resources = deployed(template, MANAGED)
    assert not set(ECS_STORE) & set(resources)
    assert not [
        name for name, r in resources.items() if r["Type"].startswith(("AWS::ECS", "AWS::ServiceDiscovery"))
    ]
    text = json.dumps(resources)
    assert "AccessPoint" not in text and "FileSystem" not in text  # no use of the EFS access point
    assert "GraphiteIngress" not in resources  # the Graphite listener is the ECS store's
    types = {r["Type"] for r in resources.values()}
    assert {
        "AWS::Timestream::InfluxDBInstance",
        "AWS::Lambda::Function",
        influxdb_managed.SETUP_TYPE,
    } <= types
    # What both stores share: the role's secrets, the groups, the alarm topic.
    assert {"AdminSecret", "WriterSecret", "ReaderSecret", "InfluxdbSecurityGroup", "AlarmTopic"} <= set(
        resources
    )


@pytest.mark.parametrize(
    ("size", "deployment"),
    [("db.influx.medium", "SINGLE_AZ"), ("db.influx.4xlarge", "WITH_MULTIAZ_STANDBY")],
)
def test_the_instance_has_the_chosen_class_storage_and_deployment(
    templates: dict[str, Any], size: str, deployment: str
) -> None:
    template = templates["influxdb"]
    given = MANAGED | {
        influxdb.MANAGED_CLASS_PARAMETER: size,
        influxdb.MANAGED_STORAGE_TYPE_PARAMETER: "InfluxIOIncludedT2",
        influxdb.MANAGED_STORAGE_PARAMETER: "400",
        influxdb.MANAGED_DEPLOYMENT_PARAMETER: deployment,
    }
    values = parameter_values(template, given)
    (instance,) = [
        r for r in deployed(template, given).values() if r["Type"] == "AWS::Timestream::InfluxDBInstance"
    ]
    properties = resolve(instance["Properties"], template, values)
    assert (
        properties["DbInstanceType"],
        properties["DbStorageType"],
        properties["AllocatedStorage"],
        properties["DeploymentType"],
    ) == (size, "InfluxIOIncludedT2", "400", deployment)
    assert properties["PubliclyAccessible"] is False
    assert properties["VpcSecurityGroupIds"] == [{"Ref": "InfluxdbSecurityGroup"}]
    assert [s["Fn::ImportValue"]["Fn::Sub"] for s in properties["VpcSubnetIds"]] == [
        "${EnvironmentName}-network-PrivateSubnet1Id",
        "${EnvironmentName}-network-PrivateSubnet2Id",
    ]
    assert (properties["Organization"], properties["Bucket"]) == (influxdb.ORGANIZATION, influxdb.DATABASE)
    # The password is a dynamic reference to the generated admin secret, never a value in the template.
    assert properties["Password"]["Fn::Sub"][0].startswith("{{resolve:secretsmanager:${Secret}")
    assert properties["Password"]["Fn::Sub"][1] == {"Secret": {"Ref": "AdminSecret"}}


def test_the_parameters_offer_what_the_service_offers(templates: dict[str, Any]) -> None:
    parameters = templates["influxdb"]["Parameters"]
    assert parameters[influxdb.MANAGED_CLASS_PARAMETER]["AllowedValues"] == list(
        influxdb_managed.INSTANCE_CLASSES
    )
    assert parameters[influxdb.MANAGED_STORAGE_TYPE_PARAMETER]["AllowedValues"] == [
        "InfluxIOIncludedT1",
        "InfluxIOIncludedT2",
        "InfluxIOIncludedT3",
    ]
    storage = parameters[influxdb.MANAGED_STORAGE_PARAMETER]
    assert (storage["MinValue"], storage["MaxValue"]) == (20, 16384)
    assert parameters[influxdb.MANAGED_DEPLOYMENT_PARAMETER]["AllowedValues"] == [
        "SINGLE_AZ",
        "WITH_MULTIAZ_STANDBY",
    ]


def test_the_one_url_export_is_the_https_endpoint_and_the_admin_the_instance_s_secret(
    templates: dict[str, Any],
) -> None:
    template = templates["influxdb"]
    assert output(template, "Url", MANAGED) == {
        "Fn::Sub": [
            "https://${Endpoint}:8086",
            {"Endpoint": {"Fn::GetAtt": ["InfluxdbInstance", "Endpoint"]}},
        ]
    }
    assert output(template, "AdminSecretArn", MANAGED) == {
        "Fn::GetAtt": ["InfluxdbInstance", "InfluxAuthParametersSecretArn"]
    }
    assert output(template, "WriterSecretArn", MANAGED) == {"Ref": "WriterSecret"}
    assert output(template, "ReaderSecretArn", MANAGED) == {"Ref": "ReaderSecret"}


def test_the_setup_step_gets_its_inputs_and_least_privilege(templates: dict[str, Any]) -> None:
    resources = deployed(templates["influxdb"], MANAGED)
    (setup,) = [r for r in resources.values() if r["Type"] == influxdb_managed.SETUP_TYPE]
    properties = setup["Properties"]
    assert properties["ServiceToken"] == {"Fn::GetAtt": ["StoreSetupFunction", "Arn"]}
    assert properties[influxdb_managed.PROPERTY_ADMIN_SECRET_ARN] == {
        "Fn::GetAtt": ["InfluxdbInstance", "InfluxAuthParametersSecretArn"]
    }
    assert properties[influxdb_managed.PROPERTY_WRITER_SECRET_ARN] == {"Ref": "WriterSecret"}
    assert properties[influxdb_managed.PROPERTY_READER_SECRET_ARN] == {"Ref": "ReaderSecret"}
    assert properties[influxdb_managed.PROPERTY_DATABASE] == influxdb.DATABASE
    assert properties[influxdb_managed.PROPERTY_ORGANIZATION] == influxdb.ORGANIZATION
    assert properties[influxdb_managed.PROPERTY_RETENTION_DAYS] == str(influxdb.RAW_RETENTION_DAYS)
    assert properties[influxdb_managed.PROPERTY_URL] == output(templates["influxdb"], "Url", MANAGED)
    # The downsampling the ECS task's continuous queries are made from: the set-up step makes its tasks from it.
    assert properties[influxdb_managed.PROPERTY_DOWNSAMPLED] == downsampled(load_catalog())
    assert downsampled(load_catalog())  # the catalog downsamples something, so the property is not vacuous
    # Every property the set-up function requires is given.
    assert set(setup_constants.REQUIRED + setup_constants.PRESENT) <= set(properties)
    function = resources["StoreSetupFunction"]["Properties"]
    assert function["Handler"] == influxdb_managed.SETUP_HANDLER
    assert function["Code"] == {"S3Bucket": {"Ref": "CodeBucket"}, "S3Key": {"Ref": "CodeKey"}}
    assert function["VpcConfig"]["SecurityGroupIds"] == [{"Ref": "StoreSetupSecurityGroup"}]
    statements = resources["StoreSetupRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    secrets = {
        json.dumps(resource, sort_keys=True): sorted(s["Action"])
        for s in statements
        for resource in s["Resource"]
        if any(a.startswith("secretsmanager:") for a in s["Action"])
    }
    assert secrets == {
        json.dumps({"Fn::GetAtt": ["InfluxdbInstance", "InfluxAuthParametersSecretArn"]}, sort_keys=True): [
            "secretsmanager:GetSecretValue"
        ],
        json.dumps({"Ref": "WriterSecret"}): [
            "secretsmanager:GetSecretValue",
            "secretsmanager:PutSecretValue",
        ],
        json.dumps({"Ref": "ReaderSecret"}): [
            "secretsmanager:GetSecretValue",
            "secretsmanager:PutSecretValue",
        ],
    }
    ingress = resources["StoreSetupIngress"]["Properties"]
    assert (ingress["GroupId"], ingress["SourceSecurityGroupId"], ingress["FromPort"]) == (
        {"Ref": "InfluxdbSecurityGroup"},
        {"Ref": "StoreSetupSecurityGroup"},
        8086,
    )


def test_the_managed_store_has_its_alarms(templates: dict[str, Any]) -> None:
    resources = deployed(templates["influxdb"], MANAGED)
    alarms = {name: r["Properties"] for name, r in resources.items() if r["Type"] == "AWS::CloudWatch::Alarm"}
    assert set(alarms) == {"StoreNotReportingAlarm", "StoreDiskNearlyFullAlarm"}
    for alarm in alarms.values():
        assert alarm["Namespace"] == influxdb_managed.METRICS_NAMESPACE
        assert alarm["Dimensions"] == [
            {"Name": "DbInstanceName", "Value": {"Fn::Sub": "${EnvironmentName}-influxdb"}}
        ]
        assert alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}]
    assert alarms["StoreNotReportingAlarm"]["TreatMissingData"] == "breaching"


# -- every consumer reads the one export and its role's secret -------------------------------------------------------
def imported(name: str) -> dict[str, Any]:
    return {"Fn::ImportValue": {"Fn::Sub": f"${{EnvironmentName}}-influxdb-{name}"}}


@pytest.mark.parametrize("stack", ["ingest", "webhook"])
def test_the_functions_read_the_url_export_and_the_writer_secret(
    templates: dict[str, Any], stack: str
) -> None:
    functions = [
        r["Properties"]
        for r in templates[stack]["Resources"].values()
        if r["Type"] == "AWS::Lambda::Function" and "INFLUXDB_URL" in json.dumps(r)
    ]
    assert functions
    for function in functions:
        variables = function["Environment"]["Variables"]
        assert variables["INFLUXDB_URL"] == imported("Url")
        assert variables["INFLUXDB_SECRET_ARN"] == imported("WriterSecretArn")


@pytest.mark.parametrize("stack", ["grafana", "chronograf"])
def test_the_web_services_read_the_url_export_and_the_reader_secret(
    templates: dict[str, Any], stack: str
) -> None:
    (container,) = [
        c
        for r in templates[stack]["Resources"].values()
        if r["Type"] == "AWS::ECS::TaskDefinition"
        for c in r["Properties"]["ContainerDefinitions"]
        if c["Essential"]
    ]
    environment = {e["Name"]: e["Value"] for e in container["Environment"]}
    text, variables = environment["INFLUXDB_URL"]["Fn::Sub"]
    assert (text, variables["InfluxdbUrl"]) == ("${InfluxdbUrl}", imported("Url"))
    if stack == "chronograf":  # its v2 connection names the managed store's organization
        assert (
            environment["INFLUXDB_ORGANIZATION"]["Fn::Sub"][1]["StoreOrganization"] == influxdb.ORGANIZATION
        )
    secrets = {s["Name"]: s["ValueFrom"] for s in container["Secrets"]}
    assert secrets["INFLUXDB_READER"] == imported(
        "ReaderSecretArn"
    )  # the whole secret: token or user/password
    assert not [name for name in secrets if name.startswith("INFLUXDB_") and name != "INFLUXDB_READER"]


def test_no_consumer_names_the_ecs_store_itself(templates: dict[str, Any]) -> None:
    for stack in ("ingest", "webhook", "grafana", "chronograf"):
        assert "influx.${EnvironmentName}" not in json.dumps(templates[stack]), stack
