"""relational: the SQL sink (docs/sql-sink.md). An Aurora MySQL Serverless v2 cluster (MySQL 8.0, Aurora 3) with the
RDS Data API, its writer instance in the private subnets, encrypted with the environment's key; the three users'
secrets (`<env>/sql/master`, `<env>/sql/writer`, `<env>/sql/reader`); the set-up step that creates the database,
the schema's pending migrations and the writer and reader users (lambda/sql_setup/, a custom resource run on
create, on a new schema version and on a new `SetupRun`); and, behind `QuickSight=true`, QuickSight's VPC connection, data source, data sets and dashboard
(relational_quicksight.py).

Why Aurora Serverless v2 with the Data API and not RDS MySQL behind RDS Proxy (figures in docs/sql-sink.md,
prices in benchmarks/prices.yaml):
- idle cost: `MinCapacity` 0 (Aurora MySQL 3.08 and later) pauses the writer after `SecondsUntilAutoPause` without
  a connection, and a paused instance costs nothing but storage ($1.20 a month for the three secrets, storage
  aside); the smallest RDS MySQL instance with a proxy costs its hours and the proxy's (at least 2 vCPUs billed)
  whether readings come or not ($48.76 a month: make cost).
- connections: each concurrent Lambda environment would hold a MySQL connection of its own; with the Data API the
  function holds none (HTTPS calls, the service pools the connections), so `ReservedConcurrency` is not bounded by
  `max_connections`, and no VPC route to port 3306 is needed.
- latency: a Data API call adds tens of milliseconds to a driver's statement, and a paused writer takes about 15
  seconds to resume (the function's retries and the dead letters cover it); a batch of readings is one
  BatchExecuteStatement, so the cost is per batch, not per reading.

The cluster is taken in a final snapshot when the stack is deleted or an update replaces it, and deletion
protection (the `DeletionProtection` parameter) refuses a delete until it is turned off.
"""

from __future__ import annotations

from typing import Any

from awacs.aws import Statement
from ingest_to_influxdb import environment, sql_schema
from sql_setup import constants as setup
from troposphere import Equals, GetAtt, If, Ref, Sub, Template, ec2, rds, secretsmanager
from troposphere.cloudformation import CustomResource

from catalog import Catalog, load_catalog
from catalog.schema import Sink
from infrastructure.common import (
    add_choice_parameter,
    add_code_parameters,
    add_number_parameter,
    add_output,
    add_string_parameter,
    add_user_secrets,
    allow,
    checkov_skip,
    create_log_group,
    guard_skip,
    new_template,
    setup_function,
    tags,
    vpc_function_role,
    write_logs,
)
from infrastructure.names import ENVIRONMENT_PARAMETER, Export
from infrastructure.registry import StackDefinition
from infrastructure.stacks import network, relational_quicksight

NAME = "relational"
PORT = 3306
DATABASE = setup.DATABASE
ROLES = setup.ROLES  # role -> MySQL user name
ENGINE = "aurora-mysql"
# Aurora MySQL 3.08.0 (MySQL 8.0.39) is the first release whose Serverless v2 instances scale to 0 ACU and pause
# (Aurora User Guide, "Scaling to Zero ACUs with automatic pause and resume").
ENGINE_VERSION = "8.0.mysql_aurora.3.08.0"
PARAMETER_FAMILY = "aurora-mysql8.0"
INSTANCE_CLASS = "db.serverless"
CLUSTER = "Cluster"  # logical ids
WRITER = "WriterInstance"
SETUP = "SqlSetup"
# The generic custom-resource type (see influxdb_managed.SETUP_TYPE: moto skips it, infrastructure/compat.py).
SETUP_TYPE = "AWS::CloudFormation::CustomResource"
MIN_CAPACITY_PARAMETER = "MinCapacity"
MAX_CAPACITY_PARAMETER = "MaxCapacity"
AUTO_PAUSE_PARAMETER = "SecondsUntilAutoPause"
DELETION_PROTECTION_PARAMETER = "DeletionProtection"
BACKUP_DAYS_PARAMETER = "BackupRetentionDays"
# CloudFormation runs the set-up step on create and when one of its properties changes (a new SchemaVersion); a
# new value of this parameter runs it again, e.g. to set a user's password after it was put in its secret. The
# step reads only the properties it declares (sql_setup.constants.REQUIRED): this one only changes the resource.
SETUP_RUN_PARAMETER = "SetupRun"
SETUP_RUN_PROPERTY = "Run"
PAUSES = "PausesWhenIdle"
# ACU steps offered: 0 pauses when idle (no compute charge), 0.5 is the smallest that never pauses.
MIN_CAPACITIES = ("0", "0.5", "1", "2", "4", "8")
MAX_CAPACITIES = ("1", "2", "4", "8", "16", "32", "64")
# What a generated password leaves out: quotes, backslash and backtick (the set-up step puts the writer's and the
# reader's passwords in a statement's quotes), space, and '/' and '@', which RDS refuses in a master password.
PASSWORD_EXCLUDED = "\"'\\`/@ "
PASSWORD_LENGTH = 32
LOG_EXPORTS = ("audit", "error", "slowquery")
# The cluster's parameters: TLS only, the slow-query log (over 2 s) and the audit log of connections and of what
# changes the schema or the grants (not of every query: that would be one line a reading).
CLUSTER_PARAMETERS = {
    "require_secure_transport": "ON",
    "slow_query_log": "1",
    "long_query_time": "2",
    "server_audit_logging": "1",
    "server_audit_events": "CONNECT,QUERY_DDL,QUERY_DCL",
}

# Why the instance rules of the Guard registry do not apply to the writer: it is a member of an Aurora cluster.
CLUSTER_MEMBER = (
    "a member of an Aurora cluster: backups, encryption, deletion protection, log exports and the master user are "
    "the cluster's properties (set there), which RDS refuses on its instances"
)
CLUSTER_ARN = Export(NAME, "ClusterArn")
WRITER_SECRET_ARN = Export(NAME, "WriterSecretArn")
READER_SECRET_ARN = Export(NAME, "ReaderSecretArn")
DATABASE_NAME = Export(NAME, "DatabaseName")
ENDPOINT = Export(NAME, "ClusterEndpoint")


def writes_to_sql(catalog: Catalog) -> bool:
    """Whether a kind of the catalog writes to the SQL sink: then the functions' stacks depend on this one."""
    return any(Sink.SQL in kind.sinks for kind in catalog)


def secret_name(role: str, environment: str = f"${{{ENVIRONMENT_PARAMETER}}}") -> str:
    """`<env>/sql/<role>`, beside `<env>/influxdb/<role>` (by default the template's `Sub` text)."""
    return f"{environment}/sql/{role}"


def cluster_identifier() -> Sub:
    return Sub(f"${{{ENVIRONMENT_PARAMETER}}}-sql")


def cluster_arn() -> GetAtt:
    return GetAtt(CLUSTER, "DBClusterArn")


def create_parameters(template: Template) -> None:
    add_choice_parameter(
        template,
        MIN_CAPACITY_PARAMETER,
        "0",
        MIN_CAPACITIES,
        "Least ACUs of the writer; 0: it pauses after SecondsUntilAutoPause without a connection "
        "(no compute charge; the next statement waits about 15 s for it to resume)",
    )
    add_choice_parameter(
        template,
        MAX_CAPACITY_PARAMETER,
        "4",
        MAX_CAPACITIES,
        "Most ACUs of the writer (1 ACU: about 2 GiB of memory)",
    )
    add_number_parameter(
        template,
        AUTO_PAUSE_PARAMETER,
        600,
        300,
        86400,
        "MinCapacity 0: seconds without a connection before the writer pauses",
    )
    add_choice_parameter(
        template,
        DELETION_PROTECTION_PARAMETER,
        "true",
        ("true", "false"),
        "true: RDS refuses to delete the cluster (deploy with false before destroy; a final snapshot is taken "
        "then)",
    )
    add_number_parameter(
        template, BACKUP_DAYS_PARAMETER, 7, 1, 35, "Days of continuous backup (point-in-time restore)"
    )
    add_string_parameter(
        template,
        SETUP_RUN_PARAMETER,
        "Any new value runs the set-up step again (after a password was put in a user's secret)",
        default="1",
    )
    add_code_parameters(template)
    template.add_condition(PAUSES, Equals(Ref(MIN_CAPACITY_PARAMETER), "0"))


def create_secrets(template: Template) -> dict[str, secretsmanager.Secret]:
    """The three users' secrets, {"username", "password"} as the Data API reads them. Not retained: the users
    live in the cluster, and the set-up step sets each password again from its secret on every deploy."""
    return add_user_secrets(
        template,
        ROLES,
        secret_name,
        "MySQL user {username} of the SQL sink ({role}); JSON username and password",
        network.DATA_KEY_ARN.imported(),
        (setup.USERNAME_KEY, setup.PASSWORD_KEY),
        {"PasswordLength": PASSWORD_LENGTH, "ExcludeCharacters": PASSWORD_EXCLUDED},
    )


def create_network(template: Template) -> tuple[ec2.SecurityGroup, rds.DBSubnetGroup]:
    """The cluster's group lets nothing in but QuickSight's VPC connection (when it is on): the functions and the
    set-up step reach it through the Data API, not on port 3306."""
    group = template.add_resource(
        network.security_group(
            "ClusterSecurityGroup",
            f"Aurora MySQL of the SQL sink: {PORT} only from the QuickSight VPC connection",
            "sql",
            # No egress: the database calls out to nothing (this rule matches no traffic).
            SecurityGroupEgress=[
                ec2.SecurityGroupRule(
                    IpProtocol="icmp",
                    FromPort=252,
                    ToPort=86,
                    CidrIp="255.255.255.255/32",
                    Description="no egress",
                )
            ],
        )
    )
    guard_skip(
        group,
        SECURITY_GROUP_EGRESS_PORT_RANGE_RULE="a rule that matches no traffic (ICMP type 252, code 86 to "
        "255.255.255.255): the group lets nothing out",
    )
    subnets = template.add_resource(
        rds.DBSubnetGroup(
            "ClusterSubnetGroup",
            DBSubnetGroupDescription="The private subnets of the SQL sink's cluster",
            SubnetIds=[subnet.imported() for subnet in network.PRIVATE_SUBNETS],
            Tags=tags("sql"),
        )
    )
    return group, subnets


def create_log_groups(template: Template) -> list[str]:
    """The groups RDS exports the cluster's logs to, made first so they expire and use the environment's key."""
    names = []
    for log in LOG_EXPORTS:
        logical = f"Cluster{log.capitalize()}LogGroup"
        create_log_group(
            template,
            logical,
            Sub(f"/aws/rds/cluster/${{{ENVIRONMENT_PARAMETER}}}-sql/{log}"),
            network.DATA_KEY_ARN.imported(),
        )
        names.append(logical)
    return names


def create_cluster(
    template: Template,
    secrets: dict[str, secretsmanager.Secret],
    group: ec2.SecurityGroup,
    subnets: rds.DBSubnetGroup,
    log_groups: list[str],
) -> rds.DBCluster:
    parameters = template.add_resource(
        rds.DBClusterParameterGroup(
            "ClusterParameterGroup",
            Description="SQL sink: TLS only, slow-query and audit logs",
            Family=PARAMETER_FAMILY,
            Parameters=CLUSTER_PARAMETERS,
            Tags=tags("sql"),
        )
    )
    guard_skip(
        parameters,
        RDS_STORAGE_ENCRYPTED="a parameter group holds no data; the cluster's storage is encrypted",
    )
    return template.add_resource(
        rds.DBCluster(
            CLUSTER,
            DBClusterIdentifier=cluster_identifier(),
            Engine=ENGINE,
            EngineVersion=ENGINE_VERSION,
            DatabaseName=DATABASE,
            MasterUsername=ROLES["master"],
            # A dynamic reference: the password is never in the template.
            MasterUserPassword=Sub(
                f"{{{{resolve:secretsmanager:${{Secret}}:SecretString:{setup.PASSWORD_KEY}}}}}",
                Secret=Ref(secrets["master"]),
            ),
            DBClusterParameterGroupName=Ref(parameters),
            DBSubnetGroupName=Ref(subnets),
            VpcSecurityGroupIds=[Ref(group)],
            Port=PORT,
            StorageEncrypted=True,
            KmsKeyId=network.DATA_KEY_ARN.imported(),
            EnableHttpEndpoint=True,  # the RDS Data API
            EnableIAMDatabaseAuthentication=True,
            BackupRetentionPeriod=Ref(BACKUP_DAYS_PARAMETER),
            PreferredBackupWindow="03:00-04:00",
            PreferredMaintenanceWindow="sun:04:30-sun:05:30",
            CopyTagsToSnapshot=True,
            DeletionProtection=Ref(DELETION_PROTECTION_PARAMETER),
            EnableCloudwatchLogsExports=list(LOG_EXPORTS),
            AutoMinorVersionUpgrade=True,
            ServerlessV2ScalingConfiguration=rds.ServerlessV2ScalingConfiguration(
                MinCapacity=Ref(MIN_CAPACITY_PARAMETER),
                MaxCapacity=Ref(MAX_CAPACITY_PARAMETER),
                SecondsUntilAutoPause=If(PAUSES, Ref(AUTO_PAUSE_PARAMETER), Ref("AWS::NoValue")),
            ),
            Tags=tags("sql"),
            DependsOn=log_groups,
            DeletionPolicy="Snapshot",
            UpdateReplacePolicy="Snapshot",
        )
    )


def create_writer(template: Template) -> rds.DBInstance:
    writer = template.add_resource(
        rds.DBInstance(
            WRITER,
            DBClusterIdentifier=Ref(CLUSTER),
            DBInstanceClass=INSTANCE_CLASS,
            Engine=ENGINE,
            PubliclyAccessible=False,
            AutoMinorVersionUpgrade=True,
            Tags=tags("sql-writer"),
        )
    )
    cost = (
        "Performance Insights and Enhanced Monitoring keep a Serverless v2 instance from scaling to 0 ACU and "
        "pausing, which is this stack's idle cost; CloudWatch's own RDS metrics and the exported logs remain"
    )
    checkov_skip(writer, CKV_AWS_118=cost, CKV_AWS_353=cost)
    guard_skip(
        writer,
        RDS_ENHANCED_MONITORING_ENABLED=cost,
        RDS_MULTI_AZ_SUPPORT="one writer: the storage keeps six copies over three zones, and a failed writer is "
        "replaced in minutes; a reader in a second zone would double the compute cost for a sink that may lag",
        **dict.fromkeys(
            (
                "DB_INSTANCE_BACKUP_ENABLED",
                "RDS_INSTANCE_DELETION_PROTECTION_ENABLED",
                "RDS_INSTANCE_LOGGING_ENABLED",
                "RDS_MASTER_USER_NAME_NO_PLAINTEXT_PASSWORD",
                "RDS_MASTER_USER_PASSWORD_NO_PLAINTEXT_PASSWORD",
                "RDS_STORAGE_ENCRYPTED",
            ),
            CLUSTER_MEMBER,
        ),
    )
    return writer


def setup_statements(log_group: object, secrets: dict[str, secretsmanager.Secret]) -> list[Statement]:
    """Least privilege: run statements on this cluster only, read the three users' secrets (the Data API reads
    the master's with the caller's rights; the set-up reads the writer's and the reader's to create them)."""
    return [
        write_logs(log_group),
        allow("rds-data", ("ExecuteStatement", "BatchExecuteStatement"), [cluster_arn()]),
        allow("secretsmanager", ("GetSecretValue",), [Ref(secrets[role]) for role in ROLES]),
        allow("kms", ("Decrypt",), [network.DATA_KEY_ARN.imported()]),
    ]


def create_setup(template: Template, secrets: dict[str, secretsmanager.Secret]) -> CustomResource:
    """The set-up step: a function in the VPC (it calls the Data API and Secrets Manager over HTTPS, through the
    NAT gateways) behind a custom resource, run by every create and update (idempotent; lambda/sql_setup/)."""
    log_group = create_log_group(
        template,
        "SqlSetupLogGroup",
        Sub(f"/aws/lambda/${{{ENVIRONMENT_PARAMETER}}}-sql-setup"),
        network.DATA_KEY_ARN.imported(),
    )
    role = vpc_function_role("sql-setup", setup_statements(log_group, secrets))
    role.title = "SqlSetupRole"
    template.add_resource(role)
    group = template.add_resource(
        network.https_out_group(
            "SqlSetupSecurityGroup",
            "SQL set-up: HTTPS to the RDS Data API and Secrets Manager only",
            "sql-setup",
            "the RDS Data API and Secrets Manager over HTTPS",
        )
    )
    function = setup_function(
        "SqlSetupFunction",
        Sub(f"${{{ENVIRONMENT_PARAMETER}}}-sql-setup"),
        "Creates the SQL sink's database, migrates its schema and makes the writer and reader "
        "users (idempotent)",
        setup.HANDLER,
        role,
        group,
        log_group,
        network.DATA_KEY_ARN.imported(),
        [subnet.imported() for subnet in network.PRIVATE_SUBNETS],
    )
    template.add_resource(function)
    return template.add_resource(
        CustomResource(
            SETUP,
            ServiceToken=GetAtt(function, "Arn"),
            ServiceTimeout=600,  # seconds: a set-up that never answers fails the stack in 10 minutes
            DependsOn=[WRITER],  # the Data API needs the writer instance
            **{
                setup.RESOURCE_ARN: cluster_arn(),
                setup.MASTER_SECRET_ARN: Ref(secrets["master"]),
                setup.WRITER_SECRET_ARN: Ref(secrets["writer"]),
                setup.READER_SECRET_ARN: Ref(secrets["reader"]),
                setup.SCHEMA_VERSION: str(sql_schema.VERSION),
                SETUP_RUN_PROPERTY: Ref(SETUP_RUN_PARAMETER),
            },
        )
    )


def build() -> Template:
    catalog = load_catalog()
    template = new_template(
        "SQL sink: Aurora MySQL Serverless v2 with the Data API, its users' secrets, the schema's set-up step and "
        "(QuickSight=true) QuickSight's data source, data sets and dashboard"
    )
    create_parameters(template)
    secrets = create_secrets(template)
    group, subnets = create_network(template)
    log_groups = create_log_groups(template)
    create_cluster(template, secrets, group, subnets, log_groups)
    create_writer(template)
    create_setup(template, secrets)
    relational_quicksight.create(
        template,
        catalog,
        relational_quicksight.Database(
            cluster_security_group=Ref(group),
            host=GetAtt(CLUSTER, "Endpoint.Address"),
            port=PORT,
            database=DATABASE,
            reader_secret=Ref(secrets["reader"]),
        ),
    )
    add_output(template, CLUSTER_ARN, cluster_arn(), "The Aurora cluster the RDS Data API reaches")
    add_output(
        template, WRITER_SECRET_ARN, Ref(secrets["writer"]), "Secret of the SQL sink's writer (the functions)"
    )
    add_output(
        template,
        READER_SECRET_ARN,
        Ref(secrets["reader"]),
        "Secret of the SQL sink's reader (analysts, BI tools)",
    )
    add_output(template, DATABASE_NAME, DATABASE, "The SQL sink's database")
    add_output(
        template, ENDPOINT, GetAtt(CLUSTER, "Endpoint.Address"), "The cluster's writer endpoint in the VPC"
    )
    return template


def _no_sql_kind() -> str:
    if writes_to_sql(load_catalog()):
        return ""
    return "no kind of the catalog writes to SQL (sinks: [influxdb, sql] in device-kinds/<kind>.yaml)"


def function_statements() -> list[Statement]:
    """What a function that writes to SQL may do, and nothing more: run statements on the cluster through the Data
    API and read the writer's secret (the Data API reads it with the caller's rights; the environment's key,
    which the functions may already use, decrypts it)."""
    return [
        allow("rds-data", ("ExecuteStatement", "BatchExecuteStatement"), [CLUSTER_ARN.imported()]),
        allow("secretsmanager", ("GetSecretValue",), [WRITER_SECRET_ARN.imported()]),
    ]


def function_variables() -> dict[str, Any]:
    """The SQL sink's variables of a function (environment.py names), from this stack's exports."""
    return {
        environment.SQL_RESOURCE_ARN: CLUSTER_ARN.imported(),
        environment.SQL_SECRET_ARN: WRITER_SECRET_ARN.imported(),
        environment.SQL_DATABASE: DATABASE_NAME.imported(),
    }


def sql_dependency() -> tuple[str, ...]:
    """The functions' stacks depend on this one when a kind writes to SQL."""
    return (NAME,) if writes_to_sql(load_catalog()) else ()


STACK = StackDefinition(name=NAME, build=build, depends_on=(network.NAME,), left_out_when=_no_sql_kind)
