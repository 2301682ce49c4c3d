"""The ingest stack's stream path (`IngestPath=stream`): the rules put each reading on a Kinesis data stream, which
the function reads in batches through an event-source mapping.

- the stream (`IngestStream`), encrypted with the environment's key; `StreamShardCount` shards (provisioned,
  what `make capacity` sizes for the fleet), or on demand when it is 0 (a fleet whose rate is not known yet);
- the mapping (`IngestStreamMapping`): batches up to `BatchSize` (at most 10,000), gathered for `BatchWindowSeconds`,
  `StreamParallelizationFactor` concurrent batches per shard, a failing batch bisected, partial failures reported by
  sequence number, `MaximumRetryAttempts` and `MaximumRecordAgeInSeconds` as the queued path's redrive and the
  direct path's event age, then the on-failure destination;
- the on-failure destination, an S3 bucket (`StreamFailureBucket`): for a stream Lambda sends an SQS or SNS
  destination only the batch's metadata, and S3 the records themselves, so `make replay` reads them there without
  depending on the stream's retention.

The rules' partition key is a new UUID per reading (`${newuuid()}`): the readings spread evenly over the shards
whatever the fleet's shape, and the key is always valid. A key per kind (`${topic()}`) would put a whole kind on
one shard (1,000 records a second at most); a key per device (`${clientid()}`) would keep a device's readings in
order, which nothing downstream needs (a point is keyed by the device's time: InfluxDB holds the same in any
order), and is empty where the connection's client id is not known (the local broker's plain listener), which
Kinesis refuses.
"""

from __future__ import annotations

from awacs.aws import Statement
from troposphere import (
    Equals,
    GetAtt,
    If,
    Not,
    Output,
    Ref,
    Sub,
    Template,
    awslambda,
    iam,
    iot,
    kinesis,
    s3,
    sns,
)

from infrastructure.common import (
    add_number_parameter,
    add_string_parameter,
    allow,
    checkov_skip,
    guard_skip,
    role_policy,
)
from infrastructure.names import Export
from infrastructure.notifications import add_alarm
from infrastructure.retention import RETAIN
from infrastructure.stacks import network

STREAM = "stream"  # the IngestPath value
IS_STREAM = "IsStream"
HAS_SHARD_COUNT = "HasStreamShardCount"
INGEST_STREAM = "IngestStream"  # logical ids
STREAM_FAILURE_BUCKET = "StreamFailureBucket"
STREAM_POLICY = "FunctionStreamPolicy"
SHARD_COUNT_PARAMETER = "StreamShardCount"
PARALLELIZATION_PARAMETER = "StreamParallelizationFactor"
PARTITION_KEY = "${newuuid()}"
RETENTION_HOURS = 24  # Kinesis's default and cheapest; the destination keeps what fails, not the stream
MAXIMUM_RETRY_ATTEMPTS = 5  # as the queued path's maxReceiveCount: then the records go to the bucket
MAXIMUM_RECORD_AGE_SECONDS = 6 * 3600  # as the direct path's MaximumEventAgeInSeconds


def add_parameters(template: Template, path_parameter: str) -> None:
    # A String: moto's CloudFormation reads a Number parameter as an integer, so the condition below (Equals to
    # "0") never held there and the stream got 0 shards.
    add_string_parameter(
        template,
        SHARD_COUNT_PARAMETER,
        "Shards of the stream path's stream (make capacity sizes them); 0: on demand",
        default="0",
        pattern=r"^(0|[1-9][0-9]{0,4})$",
        constraint="a whole number of shards, 0 for on demand",
    )
    add_number_parameter(
        template, PARALLELIZATION_PARAMETER, 1, 1, 10, "Concurrent batches per shard on the stream path"
    )
    template.add_condition(IS_STREAM, Equals(Ref(path_parameter), STREAM))
    template.add_condition(HAS_SHARD_COUNT, Not(Equals(Ref(SHARD_COUNT_PARAMETER), "0")))


def create_stream(template: Template) -> tuple[kinesis.Stream, s3.Bucket]:
    stream = template.add_resource(
        kinesis.Stream(
            INGEST_STREAM,
            Condition=IS_STREAM,
            Name=Sub("${EnvironmentName}-ingest"),
            RetentionPeriodHours=RETENTION_HOURS,
            ShardCount=If(HAS_SHARD_COUNT, Ref(SHARD_COUNT_PARAMETER), Ref("AWS::NoValue")),
            StreamModeDetails=kinesis.StreamModeDetails(
                StreamMode=If(HAS_SHARD_COUNT, "PROVISIONED", "ON_DEMAND")
            ),
            StreamEncryption=kinesis.StreamEncryption(
                EncryptionType="KMS", KeyId=network.DATA_KEY_ARN.imported()
            ),
        )
    )
    bucket = template.add_resource(
        s3.Bucket(
            STREAM_FAILURE_BUCKET,
            Condition=IS_STREAM,
            PublicAccessBlockConfiguration=s3.PublicAccessBlockConfiguration(
                BlockPublicAcls=True,
                BlockPublicPolicy=True,
                IgnorePublicAcls=True,
                RestrictPublicBuckets=True,
            ),
            BucketEncryption=s3.BucketEncryption(
                ServerSideEncryptionConfiguration=[
                    s3.ServerSideEncryptionRule(
                        ServerSideEncryptionByDefault=s3.ServerSideEncryptionByDefault(
                            SSEAlgorithm="aws:kms", KMSMasterKeyID=network.DATA_KEY_ARN.imported()
                        ),
                        BucketKeyEnabled=True,
                    )
                ]
            ),
            VersioningConfiguration=s3.VersioningConfiguration(Status="Enabled"),
            **RETAIN,  # readings not yet replayed outlive the stack, as the dead-letter queue's
        )
    )
    why = "it holds only failed batches until make replay takes them; the ingest function is its only writer"
    checkov_skip(bucket, CKV_AWS_18=why)
    guard_skip(bucket, S3_BUCKET_LOGGING_ENABLED=why, S3_BUCKET_REPLICATION_ENABLED=why)
    return stream, bucket


def add_function_access(
    template: Template, role: iam.Role, stream: kinesis.Stream, bucket: s3.Bucket
) -> None:
    """What the mapping needs of the function's role (Lambda reads the stream and writes the destination with it)."""
    template.add_resource(
        role_policy(
            STREAM_POLICY,
            role,
            "consume-ingest-stream",
            [
                allow(
                    "kinesis",
                    (
                        "DescribeStream",
                        "DescribeStreamSummary",
                        "GetRecords",
                        "GetShardIterator",
                        "ListShards",
                        "SubscribeToShard",
                    ),
                    [GetAtt(stream, "Arn")],
                ),
                allow("s3", ("PutObject",), [Sub("${Bucket}/*", Bucket=GetAtt(bucket, "Arn"))]),
                allow("s3", ("ListBucket",), [GetAtt(bucket, "Arn")]),
            ],
            Condition=IS_STREAM,
        )
    )


def create_mapping(
    template: Template, function: awslambda.Function, stream: kinesis.Stream, bucket: s3.Bucket
) -> awslambda.EventSourceMapping:
    return template.add_resource(
        awslambda.EventSourceMapping(
            "IngestStreamMapping",
            Condition=IS_STREAM,
            EventSourceArn=GetAtt(stream, "Arn"),
            FunctionName=Ref(function),
            StartingPosition="TRIM_HORIZON",  # a new mapping reads what the rules put before it existed
            BatchSize=Ref("BatchSize"),
            MaximumBatchingWindowInSeconds=Ref("BatchWindowSeconds"),
            ParallelizationFactor=Ref(PARALLELIZATION_PARAMETER),
            BisectBatchOnFunctionError=True,
            MaximumRetryAttempts=MAXIMUM_RETRY_ATTEMPTS,
            MaximumRecordAgeInSeconds=MAXIMUM_RECORD_AGE_SECONDS,
            FunctionResponseTypes=["ReportBatchItemFailures"],
            DestinationConfig=awslambda.DestinationConfig(
                OnFailure=awslambda.OnFailure(Destination=GetAtt(bucket, "Arn"))
            ),
            Enabled=True,
            DependsOn=[STREAM_POLICY],
        )
    )


def rule_action(stream: kinesis.Stream, rule_role: iam.Role) -> iot.Action:
    return iot.Action(
        Kinesis=iot.KinesisAction(
            StreamName=Ref(stream), PartitionKey=PARTITION_KEY, RoleArn=GetAtt(rule_role, "Arn")
        )
    )


def rule_statements(stream: kinesis.Stream) -> list[Statement]:
    """What the rules' role needs to put on the stream (the key's use is granted with the queues')."""
    return [allow("kinesis", ("PutRecord",), [If(IS_STREAM, GetAtt(stream, "Arn"), Ref("AWS::NoValue"))])]


def create_alarm(template: Template, function: awslambda.Function, topic: sns.Topic) -> None:
    """The stream path falling behind: the age of the last record the mapping read (Lambda's IteratorAge)."""
    add_alarm(
        template,
        "IngestStreamAgeAlarm",
        "The stream path's readings wait over 5 minutes before the function gets them: it falls behind or fails",
        ("AWS/Lambda", "IteratorAge", {"FunctionName": Ref(function)}),
        "Maximum",
        "GreaterThanOrEqualToThreshold",
        300_000,  # milliseconds
        Ref(topic),
        condition=IS_STREAM,
    )


def add_outputs(
    template: Template, stream: kinesis.Stream, bucket: s3.Bucket, stream_name: Export, bucket_name: Export
) -> None:
    for export, value, description in (
        (stream_name, Ref(stream), "Stream of the stream path"),
        (bucket_name, Ref(bucket), "Failed batches of the stream path, with their records"),
    ):
        template.add_output(
            Output(export.output, Condition=IS_STREAM, Description=description, Value=value,
                   Export=export.exported())
        )  # fmt: skip
