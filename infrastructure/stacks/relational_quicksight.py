"""QuickSight over the SQL sink, behind the relational stack's `QuickSight` parameter (default `false`: QuickSight
needs the account's subscription, which a template cannot make).

QuickSight reaches the private cluster through a QuickSight VPC connection (network interfaces in the private
subnets, its own security group) and logs in as the read-only reader (`<env>/sql/reader`: QuickSight reads the
secret itself, which the account's QuickSight settings must allow), never through the Data API. Then:
- a data set of readings per hour (`hourly`): per kind (`board`) and sensor, the readings (one a sensor and time)
  and the hour computed as the function's own hourly query does (sql_schema.HOURLY), read live (DIRECT_QUERY);
- a data set of button presses per hour per endpoint (`presses`): the same, over the kinds that arrive through the
  webhook (an `lwm2m` section) and write to SQL, when there are any;
- a dashboard with a line chart of readings per hour per sensor and a bar chart of presses per hour per endpoint.
`QuickSightPrincipal` (a QuickSight user's or group's ARN) is given the data source, data sets and dashboard.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ingest_to_influxdb import sql_schema
from troposphere import And, Equals, GetAtt, If, Not, Ref, Sub, Template, ec2, quicksight

from catalog import Catalog
from catalog.schema import Sink
from infrastructure.common import (
    add_flag_parameter,
    add_string_parameter,
    allow,
    assume_role,
    cfn_nag_skip,
    checkov_skip,
    guard_skip,
    role_with_policy,
    tcp_ingress,
    tcp_rule,
)
from infrastructure.names import ENVIRONMENT_PARAMETER
from infrastructure.stacks import network

PARAMETER = "QuickSight"
PRINCIPAL_PARAMETER = "QuickSightPrincipal"
IS_ON = "HasQuickSight"
HAS_PRINCIPAL = "HasQuickSightPrincipal"
HOURLY = "hourly"  # the data sets' identifiers in the dashboard
PRESSES = "presses"
# The hour of a reading, as the function's hourly query computes it (one expression, sql_schema.HOURLY's).
HOUR_EXPRESSION = sql_schema.HOURLY.removeprefix("SELECT ").split(" AS hour", 1)[0]
COLUMNS = (("hour", "DATETIME"), ("board", "STRING"), ("sensor", "STRING"), ("readings", "INTEGER"))
# Network interfaces QuickSight makes in the subnets for its VPC connection (QuickSight User Guide, "IAM
# configuration for VPC connections"): EC2 has no resource-level permission for these.
VPC_CONNECTION_ACTIONS = (
    "CreateNetworkInterface",
    "ModifyNetworkInterfaceAttribute",
    "DeleteNetworkInterface",
    "DescribeSubnets",
    "DescribeSecurityGroups",
)
DATA_SOURCE_ACTIONS = (
    "quicksight:DescribeDataSource",
    "quicksight:DescribeDataSourcePermissions",
    "quicksight:PassDataSource",
)
DATA_SET_ACTIONS = (
    "quicksight:DescribeDataSet",
    "quicksight:DescribeDataSetPermissions",
    "quicksight:PassDataSet",
    "quicksight:DescribeIngestion",
    "quicksight:ListIngestions",
)
DASHBOARD_ACTIONS = (
    "quicksight:DescribeDashboard",
    "quicksight:ListDashboardVersions",
    "quicksight:QueryDashboard",
)


@dataclass(frozen=True)
class Database:
    """What QuickSight needs of the relational stack."""

    cluster_security_group: Any
    host: Any
    port: int
    database: str
    reader_secret: Any


def hourly_sql(boards: tuple[str, ...] = ()) -> str:
    """Readings per hour per kind and sensor (one reading: one time of one sensor of a kind); only `boards` when
    given (catalog names: letters, digits, '-' and '_', nothing to escape)."""
    where = f"WHERE board IN ({', '.join(repr(b) for b in boards)}) " if boards else ""
    return (
        f"SELECT {HOUR_EXPRESSION} AS hour, board, sensor, COUNT(DISTINCT ts) AS readings "
        f"FROM {sql_schema.EVENTS} {where}GROUP BY hour, board, sensor"
    )


def webhook_kinds(catalog: Catalog) -> tuple[str, ...]:
    """The kinds that arrive through the webhook (button presses) and write to SQL."""
    return tuple(kind.name for kind in catalog if kind.lwm2m is not None and Sink.SQL in kind.sinks)


def add_parameters(template: Template) -> None:
    add_flag_parameter(
        template,
        PARAMETER,
        "true: QuickSight's VPC connection, data source, data sets and dashboard (the account must have a "
        "QuickSight subscription)",
    )
    add_string_parameter(
        template,
        PRINCIPAL_PARAMETER,
        "The QuickSight user or group ARN given the data source, data sets and dashboard",
        default="",
        pattern=r"^$|^arn:aws[a-z-]*:quicksight:.+",
    )
    template.add_condition(IS_ON, Equals(Ref(PARAMETER), "true"))
    template.add_condition(
        HAS_PRINCIPAL, And(Equals(Ref(PARAMETER), "true"), Not(Equals(Ref(PRINCIPAL_PARAMETER), "")))
    )


def permissions(actions: tuple[str, ...]) -> Any:
    return If(
        HAS_PRINCIPAL,
        [quicksight.ResourcePermission(Principal=Ref(PRINCIPAL_PARAMETER), Actions=list(actions))],
        Ref("AWS::NoValue"),
    )


def named(id_property: str, identifier: str, name: str) -> dict[str, Any]:
    """What each QuickSight resource here has: it is there when QuickSight is on, in this account, with its id and
    name after the environment's."""
    return {
        "Condition": IS_ON,
        "AwsAccountId": Ref("AWS::AccountId"),
        id_property: Sub(f"${{{ENVIRONMENT_PARAMETER}}}-{identifier}"),
        "Name": Sub(f"${{{ENVIRONMENT_PARAMETER}}} {name}"),
    }


def create_network(template: Template, database: Database) -> ec2.SecurityGroup:
    group = template.add_resource(
        network.security_group(
            "QuickSightSecurityGroup",
            "QuickSight VPC connection: MySQL to the SQL sink cluster only",
            "quicksight",
            Condition=IS_ON,
            SecurityGroupEgress=[
                tcp_rule(
                    database.port,
                    "MySQL on the cluster",
                    DestinationSecurityGroupId=database.cluster_security_group,
                ),
            ],
            # QuickSight's network interfaces are not stateful: the answers need a rule of their own.
            SecurityGroupIngress=[
                ec2.SecurityGroupRule(
                    IpProtocol="tcp",
                    FromPort=0,
                    ToPort=65535,
                    SourceSecurityGroupId=database.cluster_security_group,
                    Description="answers of the cluster (QuickSight interfaces are not stateful)",
                )
            ],
        )
    )
    guard_skip(
        group,
        SECURITY_GROUP_INGRESS_PORT_RANGE_RULE="QuickSight's network interfaces are not stateful: the cluster's "
        "answers come back on any port, and only from the cluster's group (QuickSight User Guide, VPC connections)",
    )
    template.add_resource(
        tcp_ingress(
            "ClusterFromQuickSightIngress",
            database.cluster_security_group,
            database.port,
            "MySQL from the QuickSight VPC connection",
            Condition=IS_ON,
            SourceSecurityGroupId=Ref(group),
        )
    )
    return group


def create_vpc_connection(template: Template, group: ec2.SecurityGroup) -> quicksight.VPCConnection:
    role = template.add_resource(
        role_with_policy(
            "QuickSightVpcRole",
            assume_role("quicksight.amazonaws.com"),
            "vpc-connection-interfaces",
            [allow("ec2", VPC_CONNECTION_ACTIONS, ["*"])],
            Condition=IS_ON,
        )
    )
    reason = "QuickSight's network-interface actions: EC2 has no resource-level permission for them"
    checkov_skip(role, CKV_AWS_111=reason)
    cfn_nag_skip(role, W11=reason)
    return template.add_resource(
        quicksight.VPCConnection(
            "QuickSightVpcConnection",
            **named("VPCConnectionId", "sql", "SQL sink"),
            RoleArn=GetAtt(role, "Arn"),
            SecurityGroupIds=[Ref(group)],
            SubnetIds=[subnet.imported() for subnet in network.PRIVATE_SUBNETS],
        )
    )


def create_data_source(
    template: Template, database: Database, connection: quicksight.VPCConnection
) -> quicksight.DataSource:
    return template.add_resource(
        quicksight.DataSource(
            "QuickSightDataSource",
            **named("DataSourceId", "sql", "SQL sink"),
            Type="AURORA",
            DataSourceParameters=quicksight.DataSourceParameters(
                AuroraParameters=quicksight.AuroraParameters(
                    Host=database.host, Port=database.port, Database=database.database
                )
            ),
            Credentials=quicksight.DataSourceCredentials(SecretArn=database.reader_secret),
            VpcConnectionProperties=quicksight.VpcConnectionProperties(
                VpcConnectionArn=GetAtt(connection, "Arn")
            ),
            SslProperties=quicksight.SslProperties(DisableSsl=False),
            Permissions=permissions(DATA_SOURCE_ACTIONS),
        )
    )


def create_data_set(
    template: Template, logical: str, identifier: str, title: str, sql: str, source: quicksight.DataSource
) -> quicksight.DataSet:
    return template.add_resource(
        quicksight.DataSet(
            logical,
            **named("DataSetId", f"sql-{identifier}", title),
            ImportMode="DIRECT_QUERY",
            PhysicalTableMap={
                identifier: quicksight.PhysicalTable(
                    CustomSql=quicksight.CustomSql(
                        DataSourceArn=GetAtt(source, "Arn"),
                        Name=identifier,
                        SqlQuery=sql,
                        Columns=[quicksight.InputColumn(Name=n, Type=t) for n, t in COLUMNS],
                    )
                )
            },
            Permissions=permissions(DATA_SET_ACTIONS),
        )
    )


def _column(data_set: str, name: str) -> dict[str, str]:
    return {"DataSetIdentifier": data_set, "ColumnName": name}


def _title(text: str) -> dict[str, Any]:
    return {"Visibility": "VISIBLE", "FormatText": {"PlainText": text}}


def hourly_visual(data_set: str, visual: str, title: str, color: str, kind: str) -> dict[str, Any]:
    """A chart of readings per hour (X: the hour; colour: `color`), line or bar (`kind`)."""
    wells = {
        "Category": [
            {
                "DateDimensionField": {
                    "FieldId": f"{visual}-hour",
                    "Column": _column(data_set, "hour"),
                    "DateGranularity": "HOUR",
                }
            }
        ],
        "Values": [
            {
                "NumericalMeasureField": {
                    "FieldId": f"{visual}-readings",
                    "Column": _column(data_set, "readings"),
                    "AggregationFunction": {"SimpleNumericalAggregation": "SUM"},
                }
            }
        ],
        "Colors": [
            {
                "CategoricalDimensionField": {
                    "FieldId": f"{visual}-{color}",
                    "Column": _column(data_set, color),
                }
            }
        ],
    }
    if kind == "line":
        return {
            "LineChartVisual": {
                "VisualId": visual,
                "Title": _title(title),
                "ChartConfiguration": {"FieldWells": {"LineChartAggregatedFieldWells": wells}},
            }
        }
    return {
        "BarChartVisual": {
            "VisualId": visual,
            "Title": _title(title),
            "ChartConfiguration": {
                "Orientation": "VERTICAL",
                "BarsArrangement": "STACKED",
                "FieldWells": {"BarChartAggregatedFieldWells": wells},
            },
        }
    }


def dashboard_definition(data_sets: dict[str, Any]) -> quicksight.DashboardVersionDefinition:
    visuals = [hourly_visual(HOURLY, "readings-per-sensor", "Readings per hour per sensor", "sensor", "line")]
    if PRESSES in data_sets:
        visuals.append(
            hourly_visual(
                PRESSES, "presses-per-endpoint", "Button presses per hour per endpoint", "sensor", "bar"
            )
        )
    return quicksight.DashboardVersionDefinition.from_dict(
        None,
        {
            "DataSetIdentifierDeclarations": [
                {"Identifier": identifier, "DataSetArn": arn} for identifier, arn in data_sets.items()
            ],
            "Sheets": [{"SheetId": "hourly", "Name": "Per hour", "Visuals": visuals}],
        },
    )


def create(template: Template, catalog: Catalog, database: Database) -> None:
    add_parameters(template)
    group = create_network(template, database)
    connection = create_vpc_connection(template, group)
    source = create_data_source(template, database, connection)
    sets = {
        HOURLY: create_data_set(template, "HourlyDataSet", HOURLY, "readings per hour", hourly_sql(), source)
    }
    pressed = webhook_kinds(catalog)
    if pressed:
        sets[PRESSES] = create_data_set(
            template, "PressesDataSet", PRESSES, "button presses per hour", hourly_sql(pressed), source
        )
    definition = dashboard_definition({name: GetAtt(data_set, "Arn") for name, data_set in sets.items()})
    template.add_resource(
        quicksight.Dashboard(
            "QuickSightDashboard",
            **named("DashboardId", "sql-hourly", "readings per hour"),
            Definition=definition,
            Permissions=permissions(DASHBOARD_ACTIONS),
        )
    )
