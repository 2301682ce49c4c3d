"""ingest: the device metadata table, the ingest function in the private subnets, an IoT topic rule per reading
kind with its error action, the dead-letter, rejected-readings and (queued path) ingest queues, and alarms.

`IngestPath` chooses how a rule reaches the function: `direct` (each reading invokes it asynchronously; what
keeps failing goes to the on-failure destination), `queued` (the rule sends to the ingest queue, which the
function consumes in batches, reporting partial failures; the redrive policy moves what keeps failing) or `stream`
(the rule puts to a Kinesis data stream the function reads in batches: infrastructure/stacks/ingest_stream.py).

`<Kind>BasicIngest` (per kind, default `false`) lets that kind's devices publish straight to its rule through
AWS IoT's Basic Ingest topic `$aws/rules/<rule name>/...` (no messaging charge): the function then takes the
readings that come through that rule as the kind's (`KIND_RULES`); with it off they are rejected with the reason.

Device policies are code too: one `AWS::IoT::Policy` per kind, `<env>-<kind>-device-policy`, which the simulator
attaches to each device's certificate (its name is the stack's `<Kind>DevicePolicyName` output). A device may
connect only as the thing its certificate is attached to and publish only to its kind's topic of this
environment (and, with Basic Ingest on, to that kind's rule of this environment), nothing else: no subscription,
no retained message. How environments stay apart: by their topics. One environment keeps the catalog's topics
(the parameters' defaults); every further environment in the same account and region gives its kinds topics of
its own (`--param PressureTopic=/staging/pressure/data`), and the deploy tool refuses an ingest stack whose topics
another environment's rules already read. So one environment's devices can publish only where only its own rules
listen.
"""

from __future__ import annotations

from awacs.aws import Action as AwacsAction
from awacs.aws import Allow, Statement
from ingest_to_influxdb import basic_ingest, environment, kinds
from ingest_to_influxdb.identity import CONNECTION_FIELD, PRINCIPAL_FIELD
from troposphere import (
    AWSHelperFn,
    Equals,
    FindInMap,
    GetAtt,
    If,
    Not,
    Output,
    Parameter,
    Ref,
    Sub,
    Template,
    awslambda,
    cloudwatch,
    dynamodb,
    iam,
    iot,
    kinesis,
    s3,
    sns,
    sqs,
)

from catalog import Catalog, DeviceKind, load_catalog
from infrastructure import function_logging
from infrastructure.common import (
    CONCURRENCY_PARAMETER,
    add_choice_parameter,
    add_code_parameters,
    add_flag_parameter,
    add_number_parameter,
    add_output,
    add_string_parameter,
    allow,
    assume_role,
    checkov_skip,
    create_log_group,
    guard_skip,
    new_template,
    role_policy,
    role_with_policy,
    vpc_function_role,
    write_logs,
    zip_function,
)
from infrastructure.names import ENVIRONMENT_PARAMETER, Export
from infrastructure.notifications import add_alarm
from infrastructure.registry import StackDefinition
from infrastructure.retention import RETAIN
from infrastructure.stacks import influxdb, ingest_stream, network, relational

NAME = "ingest"
HANDLER = "ingest_to_influxdb.handler.lambda_handler"
RUNTIME = "python3.12"
RULE_SQL_VERSION = "2016-03-23"
FOURTEEN_DAYS = 14 * 24 * 3600
# The function's timeout, in seconds: a list, so the ingest queue's visibility timeout can be derived from it.
TIMEOUTS = (10, 30, 60, 120, 300, 600, 900)
MAX_BATCH_WINDOW_SECONDS = 300
# A topic goes into the rule's SQL ('...') and the function's KIND_TOPICS (JSON): no quote, backslash or wildcard.
TOPIC_PATTERN = r"^[^#+'\"\\\s]+$"
IS_QUEUED = "IsQueued"
IS_DIRECT = "IsDirect"
HAS_ALARM_EMAIL = "HasAlarmEmail"
# Parameters the capacity model (benchmarks/capacity.py) sets: named once, here.
INGEST_PATH_PARAMETER = "IngestPath"
INGEST_QUEUE = "IngestQueue"  # the queued path's queue (logical id)
RESERVED_CONCURRENCY_PARAMETER = "ReservedConcurrency"
BATCH_SIZE_PARAMETER = "BatchSize"
QUEUE_MAXIMUM_CONCURRENCY_PARAMETER = "QueueMaximumConcurrency"
HAS_QUEUE_MAXIMUM_CONCURRENCY = "HasQueueMaximumConcurrency"

METADATA_TABLE_NAME = Export(NAME, "MetadataTableName")
METADATA_TABLE_ARN = Export(NAME, "MetadataTableArn")
FUNCTION_NAME = Export(NAME, "FunctionName")
FUNCTION_ARN = Export(NAME, "FunctionArn")
DEAD_LETTER_QUEUE_URL = Export(NAME, "DeadLetterQueueUrl")
DEAD_LETTER_QUEUE_ARN = Export(NAME, "DeadLetterQueueArn")
REJECTED_QUEUE_URL = Export(NAME, "RejectedQueueUrl")
REJECTED_QUEUE_ARN = Export(NAME, "RejectedQueueArn")
INGEST_QUEUE_URL = Export(NAME, "IngestQueueUrl")
INGEST_STREAM_NAME = Export(NAME, "IngestStreamName")
STREAM_FAILURE_BUCKET_NAME = Export(NAME, "StreamFailureBucketName")
INGEST_PATHS = ("direct", "queued", ingest_stream.STREAM)
ALARM_TOPIC_ARN = Export(NAME, "AlarmTopicArn")


def device_policy_output(kind: DeviceKind) -> Export:
    """The output naming the kind's device policy (PressureDevicePolicyName): the simulator attaches it."""
    return Export(NAME, kind.topic_parameter.removesuffix("Topic") + "DevicePolicyName")


DEVICE_POLICY_SUFFIX = "-device-policy"


def device_policy_of(environment: str, kind_name: str) -> str:
    """`<env>-<kind>-device-policy` (the same text as the policy's Ref)."""
    return f"{environment}-{kind_name}{DEVICE_POLICY_SUFFIX}"


def device_policy_name(kind: DeviceKind) -> Sub:
    return Sub(device_policy_of(f"${{{ENVIRONMENT_PARAMETER}}}", kind.name))


def topic_parameters(catalog: Catalog) -> tuple[str, ...]:
    """The parameters holding the environment's topics (the deploy tool keeps environments' topics apart)."""
    return tuple(kind.topic_parameter for kind in catalog)


def visibility_timeout(function_timeout: int) -> int:
    """Six times the function's timeout plus the longest batching window, as Lambda advises for SQS sources
    (and it refuses a queue whose visibility timeout is below the function's timeout)."""
    return 6 * function_timeout + MAX_BATCH_WINDOW_SECONDS


def create_parameters(template: Template, catalog: Catalog) -> None:
    add_choice_parameter(
        template,
        INGEST_PATH_PARAMETER,
        "direct",
        INGEST_PATHS,
        "direct: the rule invokes the function; queued: through an SQS queue, in batches; stream: through a "
        "Kinesis data stream, in batches",
    )
    for kind in catalog:
        add_string_parameter(
            template,
            kind.topic_parameter,
            f"MQTT topic of the {kind.name} readings (device-kinds/{kind.name}.yaml)",
            default=kind.topic,
            pattern=TOPIC_PATTERN,
            constraint="an MQTT topic without wildcards, quotes, backslashes or spaces",
        )
        add_flag_parameter(
            template,
            kind.basic_ingest_parameter,
            f"true: {kind.name} devices may publish to $aws/rules/<its rule>/... (Basic Ingest, no messaging "
            "charge); provision them with --basic-ingest",
        )
        template.add_condition(basic_ingest_condition(kind), Equals(Ref(kind.basic_ingest_parameter), "true"))
    add_code_parameters(template, "function's", bucket_min_length=3)
    add_number_parameter(
        template,
        RESERVED_CONCURRENCY_PARAMETER,
        10,
        1,
        description="Most concurrent invocations, so InfluxDB is not overrun",
    )
    add_number_parameter(template, "MemorySize", 256, 128, 10240)
    # A String of listed values: it keys the QueueVisibility mapping (moto's FindInMap, unlike CloudFormation,
    # looks a Number parameter up as an integer and misses the mapping's keys).
    add_choice_parameter(
        template,
        "Timeout",
        "30",
        (str(t) for t in TIMEOUTS),
        "The function's timeout in seconds (the ingest queue's visibility timeout follows it)",
    )
    template.add_mapping("QueueVisibility", {str(t): {"Seconds": visibility_timeout(t)} for t in TIMEOUTS})
    add_number_parameter(
        template, BATCH_SIZE_PARAMETER, 1000, 1, 10000, "Readings per batch on the queued and stream paths"
    )
    add_number_parameter(
        template,
        QUEUE_MAXIMUM_CONCURRENCY_PARAMETER,
        0,
        0,
        1000,
        "Most concurrent batches the queued path's event source mapping runs (0: up to the function's reserved "
        "concurrency)",
        constraint="0 (no limit of its own) or 2-1000",
    )
    add_number_parameter(
        template, "BatchWindowSeconds", 5, 0, 300, "How long the queued and stream paths gather a batch"
    )
    add_number_parameter(template, "MetadataCacheTtlSeconds", 300, 0)
    add_string_parameter(template, "AlarmEmail", "Address the alarms are sent to (empty: none)", default="")
    template.add_condition(IS_QUEUED, Equals(Ref(INGEST_PATH_PARAMETER), "queued"))
    template.add_condition(IS_DIRECT, Equals(Ref(INGEST_PATH_PARAMETER), "direct"))
    ingest_stream.add_parameters(template, INGEST_PATH_PARAMETER)
    template.add_condition(HAS_ALARM_EMAIL, Not(Equals(Ref("AlarmEmail"), "")))
    template.add_condition(
        HAS_QUEUE_MAXIMUM_CONCURRENCY, Not(Equals(Ref(QUEUE_MAXIMUM_CONCURRENCY_PARAMETER), "0"))
    )


def create_table(template: Template) -> dynamodb.Table:
    table = template.add_resource(
        dynamodb.Table(
            "MetadataTable",
            TableName=Sub("${EnvironmentName}-DeviceMetaData"),
            AttributeDefinitions=[dynamodb.AttributeDefinition(AttributeName="metakey", AttributeType="S")],
            KeySchema=[dynamodb.KeySchema(AttributeName="metakey", KeyType="HASH")],
            BillingMode="PAY_PER_REQUEST",
            PointInTimeRecoverySpecification=dynamodb.PointInTimeRecoverySpecification(
                PointInTimeRecoveryEnabled=True
            ),
            SSESpecification=dynamodb.SSESpecification(
                SSEEnabled=True, SSEType="KMS", KMSMasterKeyId=network.DATA_KEY_ARN.imported()
            ),
            DeletionProtectionEnabled=True,  # a DeleteTable by hand is refused too
            **RETAIN,
        )
    )
    guard_skip(
        table,
        CFN_NO_EXPLICIT_RESOURCE_NAMES="retained: a later deploy takes it back by this name "
        "(infrastructure/reattach.py), and operators load metadata into it by name",
    )
    return table


def create_queues(template: Template) -> tuple[sqs.Queue, sqs.Queue, sqs.Queue]:
    # Both hold readings not yet replayed: they outlive the stack (the ingest queue is drained by the function).
    dead_letters = template.add_resource(
        sqs.Queue(
            "DeadLetterQueue",
            QueueName=Sub("${EnvironmentName}-ingest-dead-letters"),
            MessageRetentionPeriod=FOURTEEN_DAYS,
            KmsMasterKeyId=network.DATA_KEY_ARN.imported(),
            **RETAIN,
        )
    )
    rejected = template.add_resource(
        sqs.Queue(
            "RejectedQueue",
            QueueName=Sub("${EnvironmentName}-ingest-rejected"),
            MessageRetentionPeriod=FOURTEEN_DAYS,
            KmsMasterKeyId=network.DATA_KEY_ARN.imported(),
            **RETAIN,
        )
    )
    ingest = template.add_resource(
        sqs.Queue(
            INGEST_QUEUE,
            Condition=IS_QUEUED,
            QueueName=Sub("${EnvironmentName}-ingest"),
            MessageRetentionPeriod=FOURTEEN_DAYS,
            KmsMasterKeyId=network.DATA_KEY_ARN.imported(),
            VisibilityTimeout=FindInMap("QueueVisibility", Ref("Timeout"), "Seconds"),
            RedrivePolicy=sqs.RedrivePolicy(
                deadLetterTargetArn=GetAtt(dead_letters, "Arn"), maxReceiveCount=5
            ),
        )
    )
    return dead_letters, rejected, ingest


def create_function_role(
    template: Template,
    log_group: object,
    table: dynamodb.Table,
    dead_letters: sqs.Queue,
    rejected: sqs.Queue,
    ingest: sqs.Queue,
) -> iam.Role:
    statements = [
        write_logs(log_group),
        allow("dynamodb", ("GetItem", "BatchGetItem"), [GetAtt(table, "Arn")]),
        allow("secretsmanager", ("GetSecretValue",), [influxdb.secret_arn("writer").imported()]),
        # The secret, the table, the queues and the environment are encrypted with the environment's key.
        allow("kms", ("Decrypt", "GenerateDataKey"), [network.DATA_KEY_ARN.imported()]),
        allow("sqs", ("SendMessage",), [GetAtt(rejected, "Arn"), GetAtt(dead_letters, "Arn")]),
    ]
    if relational.writes_to_sql(load_catalog()):
        statements += relational.function_statements()
    role = vpc_function_role("ingest", statements)
    template.add_resource(role)
    template.add_resource(
        role_policy(
            "FunctionQueuePolicy",
            role,
            "consume-ingest-queue",
            [
                allow(
                    "sqs",
                    ("ReceiveMessage", "DeleteMessage", "GetQueueAttributes", "ChangeMessageVisibility"),
                    [GetAtt(ingest, "Arn")],
                )
            ],
            Condition=IS_QUEUED,
        )
    )
    return role


def basic_ingest_condition(kind: DeviceKind) -> str:
    return kind.basic_ingest_parameter + "On"


def kind_rules(catalog: Catalog) -> Sub:
    """The function's KIND_RULES: each kind's rule name when its Basic Ingest is on, else ""."""
    pairs = ", ".join(f'"{kind.name}": "${{{kind.basic_ingest_parameter}Rule}}"' for kind in catalog)
    return Sub(
        "{" + pairs + "}",
        **{
            f"{kind.basic_ingest_parameter}Rule": If(basic_ingest_condition(kind), rule_name(kind.name), "")
            for kind in catalog
        },
    )


def kind_topics(catalog: Catalog) -> Sub:
    """The function's KIND_TOPICS: each kind's topic as the stack's parameter has it."""
    pairs = ", ".join(f'"{kind.name}": "${{{kind.topic_parameter}}}"' for kind in catalog)
    return Sub("{" + pairs + "}")


def sql_variables(catalog: Catalog, dead_letters: sqs.Queue) -> dict[str, object]:
    """With a kind that writes to SQL: the SQL sink's variables, and the dead letters a reading goes to when only
    some of its kind's sinks hold it (naming the missing ones, which `make replay` writes to); none otherwise."""
    if not relational.writes_to_sql(catalog):
        return {}
    return {**relational.function_variables(), environment.DEAD_LETTER_QUEUE_URL: Ref(dead_letters)}


def create_function(
    template: Template,
    catalog: Catalog,
    table: dynamodb.Table,
    dead_letters: sqs.Queue,
    rejected: sqs.Queue,
    ingest: sqs.Queue,
    stream: tuple[kinesis.Stream, s3.Bucket],
) -> awslambda.Function:
    function_logging.add_parameters(template)
    log_group = create_log_group(
        template,
        "FunctionLogGroup",
        Sub("/aws/lambda/${EnvironmentName}-ingest"),
        network.DATA_KEY_ARN.imported(),
    )
    role = create_function_role(template, log_group, table, dead_letters, rejected, ingest)
    ingest_stream.add_function_access(template, role, *stream)
    function = template.add_resource(
        zip_function(
            "IngestFunction",
            RUNTIME,
            HANDLER,
            role,
            network.DATA_KEY_ARN.imported(),
            FunctionName=Sub("${EnvironmentName}-ingest"),
            Description="Validates readings, adds device metadata and writes them to InfluxDB",
            MemorySize=Ref("MemorySize"),
            Timeout=Ref("Timeout"),
            ReservedConcurrentExecutions=Ref(RESERVED_CONCURRENCY_PARAMETER),
            VpcConfig=awslambda.VPCConfig(
                SubnetIds=[subnet.imported() for subnet in network.PRIVATE_SUBNETS],
                SecurityGroupIds=[influxdb.client_security_group("ingest").imported()],
            ),
            LoggingConfig=function_logging.logging_config(log_group),
            Environment=awslambda.Environment(
                Variables={
                    environment.INFLUXDB_URL: influxdb.URL.imported(),
                    environment.INFLUXDB_DATABASE: influxdb.DATABASE,
                    environment.INFLUXDB_SECRET_ARN: influxdb.secret_arn("writer").imported(),
                    environment.INFLUXDB_CA_CERTIFICATE: influxdb.CA_CERTIFICATE.imported(),  # ECS store's CA
                    environment.METADATA_TABLE: Ref(table),
                    environment.REJECTED_QUEUE_URL: Ref(rejected),
                    environment.METADATA_CACHE_TTL_SECONDS: Ref("MetadataCacheTtlSeconds"),
                    kinds.TOPICS_VARIABLE: kind_topics(catalog),
                    basic_ingest.RULES_VARIABLE: kind_rules(catalog),
                    environment.SERVICE_NAME: "ingest",
                    environment.METRICS_NAMESPACE: environment.NAMESPACE,
                    environment.LOG_LEVEL: Ref(function_logging.LOG_LEVEL_PARAMETER),
                    **sql_variables(catalog, dead_letters),
                }
            ),
        )
    )
    guard_skip(
        function,
        LAMBDA_CONCURRENCY_CHECK=CONCURRENCY_PARAMETER,
        LAMBDA_DLQ_CHECK="failed events go to the on-failure destination and the queue's redrive policy: see the "
        "checkov note",
    )
    checkov_skip(
        function,
        CKV_AWS_116="failed events go to the on-failure destination (EventInvokeConfig) and the queue's redrive "
        "policy; a dead-letter config as well would deliver every failure twice",
    )
    template.add_resource(
        awslambda.EventInvokeConfig(
            "FunctionInvokeConfig",
            FunctionName=Ref(function),
            Qualifier="$LATEST",
            MaximumRetryAttempts=2,
            MaximumEventAgeInSeconds=6 * 3600,
            DestinationConfig=awslambda.DestinationConfig(
                OnFailure=awslambda.OnFailure(Destination=GetAtt(dead_letters, "Arn"))
            ),
        )
    )
    template.add_resource(
        awslambda.EventSourceMapping(
            "IngestQueueMapping",
            Condition=IS_QUEUED,
            EventSourceArn=GetAtt(ingest, "Arn"),
            FunctionName=Ref(function),
            BatchSize=Ref(BATCH_SIZE_PARAMETER),
            MaximumBatchingWindowInSeconds=Ref("BatchWindowSeconds"),
            # A plain mapping: troposphere 4.11's awslambda.ScalingConfig carries another resource's shape.
            ScalingConfig=If(
                HAS_QUEUE_MAXIMUM_CONCURRENCY,
                {"MaximumConcurrency": Ref(QUEUE_MAXIMUM_CONCURRENCY_PARAMETER)},
                Ref("AWS::NoValue"),
            ),
            FunctionResponseTypes=["ReportBatchItemFailures"],
            Enabled=True,
            DependsOn=["FunctionQueuePolicy"],
        )
    )
    ingest_stream.create_mapping(template, function, *stream)
    return function


def rule_name_text(kind: str) -> str:
    return basic_ingest.rule_name("${EnvironmentName}", kind)


def rule_name(kind: str) -> Sub:
    return Sub(rule_name_text(kind))


def rule_name_pattern() -> str:
    """Every rule of the environment, as an ARN pattern's last part (a `Sub` string)."""
    return basic_ingest.rule_name("${EnvironmentName}", "*")


def rule_logical_id(kind: DeviceKind) -> str:
    return kind.topic_parameter.removesuffix("Topic") + "Rule"


def rule_sql(topic_parameter: str) -> Sub:
    """Every rule's SQL: the reading, the topic it came on, and the MQTT client id of the connection that
    published it (which the device policy pins to the thing name; the function binds the reading to it, see
    lambda/ingest_to_influxdb/identity.py), and its principal (the certificate id) for audit. The columns after
    `*` overwrite what the payload says."""
    return Sub(
        f"SELECT *, topic() AS topic, clientid() AS {CONNECTION_FIELD}, principal() AS {PRINCIPAL_FIELD} "
        f"FROM '${{{topic_parameter}}}'"
    )


def create_rules(
    template: Template,
    catalog: Catalog,
    function: awslambda.Function,
    dead_letters: sqs.Queue,
    ingest: sqs.Queue,
    stream: kinesis.Stream,
) -> None:
    role = template.add_resource(
        # Only this environment's rules may act through it (IoT sets aws:SourceArn to the rule's ARN:
        # https://docs.aws.amazon.com/iot/latest/developerguide/iot-create-role.html).
        role_with_policy(
            "RuleRole",
            assume_role(
                "iot.amazonaws.com",
                Sub(
                    f"arn:${{AWS::Partition}}:iot:${{AWS::Region}}:${{AWS::AccountId}}:rule/{rule_name_pattern()}"
                ),
            ),
            "send-to-queues",
            [
                Statement(
                    Effect=Allow,
                    Action=[AwacsAction("sqs", "SendMessage")],
                    Resource=[
                        GetAtt(dead_letters, "Arn"),
                        If(IS_QUEUED, GetAtt(ingest, "Arn"), Ref("AWS::NoValue")),
                    ],
                ),
                allow("kms", ("GenerateDataKey", "Decrypt"), [network.DATA_KEY_ARN.imported()]),
                *ingest_stream.rule_statements(stream),
            ],
        )
    )
    for kind in catalog:
        logical = rule_logical_id(kind)
        action: AWSHelperFn = If(
            IS_QUEUED,
            iot.Action(Sqs=iot.SqsAction(QueueUrl=Ref(ingest), RoleArn=GetAtt(role, "Arn"), UseBase64=False)),
            If(
                ingest_stream.IS_STREAM,
                ingest_stream.rule_action(stream, role),
                iot.Action(Lambda=iot.LambdaAction(FunctionArn=GetAtt(function, "Arn"))),
            ),
        )
        template.add_resource(
            iot.TopicRule(
                logical,
                RuleName=rule_name(kind.name),
                TopicRulePayload=iot.TopicRulePayload(
                    Description=f"{kind.name} readings to the ingest function",
                    Sql=rule_sql(kind.topic_parameter),
                    AwsIotSqlVersion=RULE_SQL_VERSION,
                    RuleDisabled=False,
                    Actions=[action],
                    ErrorAction=iot.Action(
                        Sqs=iot.SqsAction(
                            QueueUrl=Ref(dead_letters), RoleArn=GetAtt(role, "Arn"), UseBase64=False
                        )
                    ),
                ),
            )
        )
        template.add_resource(
            awslambda.Permission(
                f"{logical}InvokePermission",
                Condition=IS_DIRECT,
                Action="lambda:InvokeFunction",
                FunctionName=Ref(function),
                Principal="iot.amazonaws.com",
                SourceAccount=Ref("AWS::AccountId"),
                # The rule's ARN from its name (the same value as GetAtt Arn).
                SourceArn=Sub(
                    f"arn:${{AWS::Partition}}:iot:${{AWS::Region}}:${{AWS::AccountId}}:rule/${{{logical}}}"
                ),
            )
        )


def iot_arn(resource: str) -> str:
    """An AWS IoT resource's ARN in this account and region (a `Sub` text), any partition."""
    return f"arn:${{AWS::Partition}}:iot:${{AWS::Region}}:${{AWS::AccountId}}:{resource}"


def device_policy_document(kind: DeviceKind) -> dict[str, object]:
    """Connect only as the thing the certificate is attached to (the client id is the thing name, which the
    rules' `clientid()` passes on); publish only to the kind's topic, or through Basic Ingest to its rule of this
    environment when that is on. A topic's ARN is `topic/` and the topic as it is: `/pressure/data` is
    `topic//pressure/data`. `${!...}` leaves IoT's policy variable to IoT."""
    topics = [Sub(iot_arn(f"topic/${{{kind.topic_parameter}}}"))]
    basic = [Sub(iot_arn(f"topic/{t}")) for t in basic_ingest.policy_topics(rule_name_text(kind.name))]
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "iot:Connect",
                "Resource": Sub(iot_arn("client/${!iot:Connection.Thing.ThingName}")),
                "Condition": {"Bool": {"iot:Connection.Thing.IsAttached": "true"}},
            },
            {
                "Effect": "Allow",
                "Action": "iot:Publish",
                "Resource": If(basic_ingest_condition(kind), [*topics, *basic], topics),
            },
        ],
    }


def create_device_policies(template: Template, catalog: Catalog) -> None:
    for kind in catalog:
        template.add_resource(
            iot.Policy(
                kind.topic_parameter.removesuffix("Topic") + "DevicePolicy",
                PolicyName=device_policy_name(kind),
                PolicyDocument=device_policy_document(kind),
            )
        )
        add_output(
            template, device_policy_output(kind), device_policy_name(kind), f"Policy of {kind.name} devices"
        )


def create_alarms(
    template: Template, function: awslambda.Function, dead_letters: sqs.Queue, rejected: sqs.Queue
) -> sns.Topic:
    topic = template.add_resource(
        sns.Topic(
            "AlarmTopic",
            TopicName=Sub("${EnvironmentName}-ingest-alarms"),
            KmsMasterKeyId=network.DATA_KEY_ARN.imported(),
        )
    )
    template.add_resource(
        sns.SubscriptionResource(
            "AlarmEmailSubscription",
            Condition=HAS_ALARM_EMAIL,
            TopicArn=Ref(topic),
            Protocol="email",
            Endpoint=Ref("AlarmEmail"),
        )
    )
    for logical, description, namespace, metric, dimension, statistic in (
        (
            "DeadLettersAlarm",
            "Readings wait in the dead-letter queue: run `make replay` once the cause is fixed",
            "AWS/SQS",
            "ApproximateNumberOfMessagesVisible",
            ("QueueName", GetAtt(dead_letters, "QueueName")),
            "Maximum",
        ),
        (
            "RejectedReadingsAlarm",
            "Readings were rejected as invalid: see their reasons in the rejected queue",
            "AWS/SQS",
            "ApproximateNumberOfMessagesVisible",
            ("QueueName", GetAtt(rejected, "QueueName")),
            "Maximum",
        ),
        (
            "FunctionErrorsAlarm",
            "The ingest function failed (InfluxDB or DynamoDB unreachable?)",
            "AWS/Lambda",
            "Errors",
            ("FunctionName", Ref(function)),
            "Sum",
        ),
    ):
        template.add_resource(
            cloudwatch.Alarm(
                logical,
                AlarmDescription=description,
                Namespace=namespace,
                MetricName=metric,
                Dimensions=[cloudwatch.MetricDimension(Name=dimension[0], Value=dimension[1])],
                Statistic=statistic,
                Period=300,
                EvaluationPeriods=1,
                Threshold=1,
                ComparisonOperator="GreaterThanOrEqualToThreshold",
                TreatMissingData="notBreaching",
                AlarmActions=[Ref(topic)],
                OKActions=[Ref(topic)],
            )
        )
    return topic


def create_pipeline_alarms(
    template: Template, function: awslambda.Function, rejected: sqs.Queue, topic: sns.Topic
) -> None:
    """Beside the dead-letter, rejected and error alarms: the pipeline is refusing, guessing, or falling behind.
    Each alarm's runbook line is in docs/operations.md ("When an alarm fires")."""
    template.add_parameter(
        Parameter(
            "RejectedPerMinuteThreshold",
            Type="Number",
            Default=10,
            MinValue=0,
            Description="Rejected readings in one minute above which the RejectedPerMinute alarm fires",
        )
    )
    function_metrics = (
        environment.NAMESPACE,
        "MetadataMisses",
        {"service": "ingest"},
    )  # the function's Powertools
    for logical, description, metric, statistic, comparison, threshold, period, condition in (
        (
            "RejectedPerMinuteAlarm",
            "More readings than RejectedPerMinuteThreshold were rejected in a minute: a device or a kind changed",
            ("AWS/SQS", "NumberOfMessagesSent", {"QueueName": GetAtt(rejected, "QueueName")}),
            "Sum",
            "GreaterThanThreshold",
            Ref("RejectedPerMinuteThreshold"),
            60,
            None,
        ),
        (
            "MetadataMissesAlarm",
            "Readings arrived without a metadata item: they are written without manufacturer and family tags",
            function_metrics,
            "Sum",
            "GreaterThanOrEqualToThreshold",
            1,
            300,
            None,
        ),
        (
            "FunctionThrottlesAlarm",
            "The ingest function was throttled: readings wait for retries (raise its concurrency limit)",
            ("AWS/Lambda", "Throttles", {"FunctionName": Ref(function)}),
            "Sum",
            "GreaterThanOrEqualToThreshold",
            1,
            60,
            None,
        ),
        # IoT Core's own counts, for the whole account and region (it has no finer dimension than the protocol):
        # https://docs.aws.amazon.com/iot/latest/developerguide/metrics_dimensions.html (message broker metrics)
        (
            "DeviceConnectDeniedAlarm",
            "IoT Core refused device connections its policies do not allow (a client id that is not the thing "
            "the certificate is attached to, or a certificate with no policy)",
            ("AWS/IoT", "Connect.AuthError", {"Protocol": "MQTT"}),
            "Sum",
            "GreaterThanOrEqualToThreshold",
            1,
            300,
            None,
        ),
        (
            "DevicePublishDeniedAlarm",
            "IoT Core refused publishes its policies do not allow (a topic of another kind or environment, or a "
            "retained message): those readings were never sent on",
            ("AWS/IoT", "PublishIn.AuthError", {"Protocol": "MQTT"}),
            "Sum",
            "GreaterThanOrEqualToThreshold",
            1,
            300,
            None,
        ),
        (
            "IngestQueueAgeAlarm",
            "The queued path's oldest reading has waited over 5 minutes: the function falls behind or fails",
            ("AWS/SQS", "ApproximateAgeOfOldestMessage", {"QueueName": GetAtt("IngestQueue", "QueueName")}),
            "Maximum",
            "GreaterThanOrEqualToThreshold",
            300,
            60,
            IS_QUEUED,
        ),
    ):
        add_alarm(
            template,
            logical,
            description,
            metric,
            statistic,
            comparison,
            threshold,
            Ref(topic),
            period=period,
            condition=condition,
        )


def build() -> Template:
    """The stack for the catalog of device kinds (device-kinds/, or $DEVICE_KINDS_DIR): a topic parameter and a
    rule per kind."""
    catalog = load_catalog()
    template = new_template("Ingest: metadata table, function, IoT rules per reading kind, queues and alarms")
    create_parameters(template, catalog)
    table = create_table(template)
    dead_letters, rejected, ingest = create_queues(template)
    stream, failures = ingest_stream.create_stream(template)
    function = create_function(template, catalog, table, dead_letters, rejected, ingest, (stream, failures))
    create_rules(template, catalog, function, dead_letters, ingest, stream)
    create_device_policies(template, catalog)
    topic = create_alarms(template, function, dead_letters, rejected)
    create_pipeline_alarms(template, function, rejected, topic)
    ingest_stream.create_alarm(template, function, topic)
    add_output(template, METADATA_TABLE_NAME, Ref(table), "Device metadata table")
    add_output(template, METADATA_TABLE_ARN, GetAtt(table, "Arn"), "Device metadata table ARN")
    add_output(template, FUNCTION_NAME, Ref(function), "The ingest function")
    add_output(template, FUNCTION_ARN, GetAtt(function, "Arn"), "The ingest function's ARN")
    add_output(
        template, DEAD_LETTER_QUEUE_URL, Ref(dead_letters), "Readings that could not be written (replayable)"
    )
    add_output(template, DEAD_LETTER_QUEUE_ARN, GetAtt(dead_letters, "Arn"), "Dead-letter queue ARN")
    add_output(template, REJECTED_QUEUE_URL, Ref(rejected), "Invalid readings with their reasons")
    add_output(template, REJECTED_QUEUE_ARN, GetAtt(rejected, "Arn"), "Rejected-readings queue ARN")
    add_output(template, ALARM_TOPIC_ARN, Ref(topic), "Topic of the ingest alarms")
    template.add_output(
        Output(
            INGEST_QUEUE_URL.output,
            Condition=IS_QUEUED,
            Description="Queue of the queued path",
            Value=Ref(ingest),
            Export=INGEST_QUEUE_URL.exported(),
        )
    )
    ingest_stream.add_outputs(template, stream, failures, INGEST_STREAM_NAME, STREAM_FAILURE_BUCKET_NAME)
    return template


STACK = StackDefinition(
    name=NAME, build=build, depends_on=(network.NAME, influxdb.NAME), depends_when=relational.sql_dependency
)
