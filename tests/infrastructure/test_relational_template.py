"""The relational stack (the SQL sink) and the functions' wiring to it, on the synthesized templates: of a catalog in
which kinds write to SQL (tests/support/sql_catalog.py), and of the repository's own (no SQL: nothing changes)."""

from __future__ import annotations

import json
import string
from pathlib import Path
from typing import Any

import pytest
from ingest_to_influxdb import environment, sql_schema
from sql_setup import constants as setup
from sql_setup import setup as setup_steps

from catalog.loader import FOLDER_VARIABLE
from infrastructure import compat
from infrastructure.checks import import_problems
from infrastructure.registry import all_stacks, deploy_order
from infrastructure.stacks import network, relational, relational_quicksight
from tests.support.sql_catalog import write_sql_catalog
from tests.support.templates import of_type, one

pytestmark = pytest.mark.pure

IMPORT = "Fn::ImportValue"


def imported(export: Any) -> dict[str, Any]:
    return {IMPORT: {"Fn::Sub": export.template_name}}


@pytest.fixture(scope="module")
def sql_catalog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_sql_catalog(tmp_path_factory.mktemp("sql_catalog"))


@pytest.fixture(scope="module")
def sql_texts(sql_catalog: Path) -> dict[str, str]:
    """Every stack's template over the SQL catalog, built once for the module (each test reads its own copy)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(FOLDER_VARIABLE, str(sql_catalog))
        return {name: stack.build().to_json() for name, stack in all_stacks().items()}


@pytest.fixture
def sql_templates(
    sql_catalog: Path, sql_texts: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> dict[str, dict[str, Any]]:
    monkeypatch.setenv(FOLDER_VARIABLE, str(sql_catalog))
    return {name: json.loads(text) for name, text in sql_texts.items()}


@pytest.fixture(scope="module")
def plain_texts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The repository's kinds with none writing to SQL, whatever another fixture of the test chose: built once
    for the module (each test reads its own copy)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(FOLDER_VARIABLE, str(write_sql_catalog(tmp_path_factory.mktemp("plain"), ())))
        return {name: all_stacks()[name].build().to_json() for name in ("relational", "ingest", "webhook")}


@pytest.fixture
def plain(plain_texts: dict[str, str]) -> dict[str, dict[str, Any]]:
    return {name: json.loads(text) for name, text in plain_texts.items()}


def statements(template: dict[str, Any], role: str) -> list[dict[str, Any]]:
    (policy,) = template["Resources"][role]["Properties"]["Policies"]
    return policy["PolicyDocument"]["Statement"]  # type: ignore[no-any-return]


def test_the_cluster_is_aurora_mysql_serverless_v2_with_the_data_api_private_and_encrypted(
    plain: dict[str, dict[str, Any]],
) -> None:
    template = plain["relational"]
    cluster = template["Resources"][relational.CLUSTER]
    properties = cluster["Properties"]
    assert properties["Engine"] == "aurora-mysql" and properties["EngineVersion"].startswith(
        "8.0.mysql_aurora.3."
    )
    assert properties["EnableHttpEndpoint"] is True and properties["EnableIAMDatabaseAuthentication"] is True
    assert properties["StorageEncrypted"] is True
    assert properties["KmsKeyId"] == imported(network.DATA_KEY_ARN)
    assert properties["DatabaseName"] == setup.DATABASE
    assert properties["MasterUsername"] == setup.ROLES["master"]
    assert "resolve:secretsmanager" in properties["MasterUserPassword"]["Fn::Sub"][0]
    assert set(properties["EnableCloudwatchLogsExports"]) == {"audit", "error", "slowquery"}
    assert properties["DeletionProtection"] == {"Ref": relational.DELETION_PROTECTION_PARAMETER}
    assert (cluster["DeletionPolicy"], cluster["UpdateReplacePolicy"]) == ("Snapshot", "Snapshot")
    scaling = properties["ServerlessV2ScalingConfiguration"]
    assert template["Parameters"][relational.MIN_CAPACITY_PARAMETER]["Default"] == "0"  # pauses when idle
    assert scaling["SecondsUntilAutoPause"]["Fn::If"][0] == relational.PAUSES
    subnets = one(template, "AWS::RDS::DBSubnetGroup")["SubnetIds"]
    assert subnets == [imported(s) for s in network.PRIVATE_SUBNETS]
    writer = one(template, "AWS::RDS::DBInstance")
    assert writer["DBInstanceClass"] == "db.serverless" and writer["PubliclyAccessible"] is False
    # Nothing reaches the cluster on 3306 but QuickSight's connection (the functions use the Data API).
    group = template["Resources"]["ClusterSecurityGroup"]["Properties"]
    assert "SecurityGroupIngress" not in group
    (ingress,) = of_type(template, "AWS::EC2::SecurityGroupIngress").values()
    assert ingress["Condition"] == relational_quicksight.IS_ON
    parameters = one(template, "AWS::RDS::DBClusterParameterGroup")["Parameters"]
    assert parameters["require_secure_transport"] == "ON"
    for log_group in of_type(template, "AWS::Logs::LogGroup").values():
        assert log_group["Properties"]["KmsKeyId"] == imported(network.DATA_KEY_ARN)


def test_the_three_secrets_are_named_once_and_their_passwords_fit_the_set_up_step(
    plain: dict[str, dict[str, Any]],
) -> None:
    secrets = of_type(plain["relational"], "AWS::SecretsManager::Secret")
    assert {s["Properties"]["Name"]["Fn::Sub"] for s in secrets.values()} == {
        relational.secret_name(role) for role in setup.ROLES
    }
    for secret in secrets.values():
        generated = secret["Properties"]["GenerateSecretString"]
        assert set(generated["ExcludeCharacters"]) >= set("'\"\\` ")
        assert json.loads(generated["SecretStringTemplate"])[setup.USERNAME_KEY] in setup.ROLES.values()
        assert generated["GenerateStringKey"] == setup.PASSWORD_KEY
        assert secret["Properties"]["KmsKeyId"] == imported(network.DATA_KEY_ARN)
        # Every character Secrets Manager may draw is one the set-up step takes into a statement's quotes.
        drawn = "".join(c for c in string.printable.strip() if c not in generated["ExcludeCharacters"])
        assert setup_steps._PASSWORD.fullmatch(drawn)


def test_the_set_up_step_gets_the_declared_properties_and_least_privilege(
    plain: dict[str, dict[str, Any]],
) -> None:
    template = plain["relational"]
    resource = template["Resources"][relational.SETUP]
    assert resource["Type"] == relational.SETUP_TYPE
    properties = resource["Properties"]
    assert set(setup.REQUIRED) <= set(properties)
    assert properties[setup.SCHEMA_VERSION] == str(sql_schema.VERSION)
    assert properties[setup.RESOURCE_ARN] == {"Fn::GetAtt": [relational.CLUSTER, "DBClusterArn"]}
    function = template["Resources"]["SqlSetupFunction"]["Properties"]
    assert function["Handler"] == setup.HANDLER
    assert function["VpcConfig"]["SubnetIds"] == [imported(s) for s in network.PRIVATE_SUBNETS]
    granted = {
        action: statement["Resource"]
        for statement in statements(template, "SqlSetupRole")
        for action in statement["Action"]
    }
    assert granted["rds-data:ExecuteStatement"] == [{"Fn::GetAtt": [relational.CLUSTER, "DBClusterArn"]}]
    assert granted["rds-data:BatchExecuteStatement"] == [{"Fn::GetAtt": [relational.CLUSTER, "DBClusterArn"]}]
    assert granted["secretsmanager:GetSecretValue"] == [
        {"Ref": f"{role.capitalize()}Secret"} for role in setup.ROLES
    ]
    assert not [
        a
        for a in granted
        if a.startswith(("rds-data:", "secretsmanager:"))
        and not a.endswith(("ExecuteStatement", "GetSecretValue"))
    ]


def test_quicksight_only_when_its_parameter_is_on(sql_templates: dict[str, dict[str, Any]]) -> None:
    template = sql_templates["relational"]
    quicksight = {n: r for n, r in template["Resources"].items() if r["Type"].startswith("AWS::QuickSight::")}
    assert {r["Type"] for r in quicksight.values()} == {
        "AWS::QuickSight::VPCConnection",
        "AWS::QuickSight::DataSource",
        "AWS::QuickSight::DataSet",
        "AWS::QuickSight::Dashboard",
    }
    assert all(r["Condition"] == relational_quicksight.IS_ON for r in quicksight.values())
    assert template["Parameters"][relational_quicksight.PARAMETER]["Default"] == "false"
    off = compat.without_false_conditions(template, {"QuickSight": "false", "QuickSightPrincipal": ""})
    assert not [r for r in off["Resources"].values() if r["Type"].startswith("AWS::QuickSight::")]
    on = compat.without_false_conditions(template, {"QuickSight": "true", "QuickSightPrincipal": ""})
    assert {n for n, r in on["Resources"].items() if r["Type"].startswith("AWS::QuickSight::")} == set(
        quicksight
    )
    source = one(on, "AWS::QuickSight::DataSource")
    assert source["Type"] == "AURORA"
    assert source["Credentials"] == {
        "SecretArn": {"Ref": "ReaderSecret"}
    }  # the read-only user, never the writer
    assert "VpcConnectionArn" in source["VpcConnectionProperties"]
    # the button kind arrives through the webhook and writes to SQL: its presses have a data set and a chart
    sets = {
        r["Properties"]["PhysicalTableMap"].popitem()[0]
        for r in of_type(on, "AWS::QuickSight::DataSet").values()
    }
    assert sets == {relational_quicksight.HOURLY, relational_quicksight.PRESSES}
    visuals = one(on, "AWS::QuickSight::Dashboard")["Definition"]["Sheets"][0]["Visuals"]
    assert len(visuals) == 2


def test_the_hourly_data_set_groups_by_the_function_s_own_hour() -> None:
    sql = relational_quicksight.hourly_sql(("button",))
    assert sql.startswith(f"SELECT {relational_quicksight.HOUR_EXPRESSION} AS hour")
    assert relational_quicksight.HOUR_EXPRESSION in sql_schema.HOURLY
    assert "WHERE board IN ('button')" in sql


@pytest.mark.parametrize(
    "stack,role,function",
    [("ingest", "FunctionRole", "IngestFunction"), ("webhook", "FunctionRole", "WebhookFunction")],
)
def test_a_sql_kind_wires_the_functions_to_the_relational_stack_and_nothing_more(
    sql_templates: dict[str, dict[str, Any]],
    plain: dict[str, dict[str, Any]],
    stack: str,
    role: str,
    function: str,
) -> None:
    variables = sql_templates[stack]["Resources"][function]["Properties"]["Environment"]["Variables"]
    assert variables[environment.SQL_RESOURCE_ARN] == imported(relational.CLUSTER_ARN)
    assert variables[environment.SQL_SECRET_ARN] == imported(relational.WRITER_SECRET_ARN)
    assert variables[environment.SQL_DATABASE] == imported(relational.DATABASE_NAME)
    assert environment.DEAD_LETTER_QUEUE_URL in variables  # the readings some sinks miss
    before = statements(plain[stack], role)
    after = statements(sql_templates[stack], role)
    added = [s for s in after if s not in before]
    assert [s for s in before if s not in after] == []
    assert added == [
        {
            "Action": ["rds-data:ExecuteStatement", "rds-data:BatchExecuteStatement"],
            "Effect": "Allow",
            "Resource": [imported(relational.CLUSTER_ARN)],
        },
        {
            "Action": ["secretsmanager:GetSecretValue"],
            "Effect": "Allow",
            "Resource": [imported(relational.WRITER_SECRET_ARN)],
        },
    ]
    stacks = all_stacks()
    assert relational.NAME in stacks[stack].dependencies()
    order = deploy_order(stacks)
    assert order.index(relational.NAME) < order.index(stack)
    assert stacks[relational.NAME].left_out_now() == ""  # deploy --all deploys it


def test_without_a_sql_kind_nothing_depends_on_it_and_deploy_all_leaves_it_out(
    plain: dict[str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(FOLDER_VARIABLE, str(write_sql_catalog(tmp_path / "plain", ())))
    stacks = all_stacks()
    assert relational.NAME not in stacks["ingest"].dependencies() + stacks["webhook"].dependencies()
    assert "no kind of the catalog writes to SQL" in stacks[relational.NAME].left_out_now()
    for stack, function in (("ingest", "IngestFunction"), ("webhook", "WebhookFunction")):
        variables = plain[stack]["Resources"][function]["Properties"]["Environment"]["Variables"]
        assert not [name for name in variables if name.startswith("SQL_")]
    assert (
        environment.DEAD_LETTER_QUEUE_URL
        not in plain["ingest"]["Resources"]["IngestFunction"]["Properties"]["Environment"]["Variables"]
    )


def test_every_import_of_the_sql_catalog_s_stacks_is_a_declared_dependency_s_export(
    sql_templates: dict[str, dict[str, Any]],
) -> None:
    assert import_problems(all_stacks(), sql_templates) == []


def test_moto_s_missing_types_are_named() -> None:
    assert {
        "AWS::RDS::DBCluster",
        "AWS::RDS::DBInstance",
        "AWS::QuickSight::VPCConnection",
        "AWS::QuickSight::DataSource",
        "AWS::QuickSight::DataSet",
        "AWS::QuickSight::Dashboard",
    } <= compat.MOTO_SKIPPED_TYPES
    assert "AWS::RDS::DBCluster" in (compat.__doc__ or "") and "QuickSight" in (compat.__doc__ or "")
