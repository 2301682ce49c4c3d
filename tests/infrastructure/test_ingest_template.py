"""The ingest stack in the natural CloudFormation forms the local rule runner reads."""

from __future__ import annotations

from typing import Any

from tests.infrastructure.test_security import of_type, one


def test_table(templates: dict[str, Any]) -> None:
    (table,) = of_type(templates["ingest"], "AWS::DynamoDB::Table").values()
    props = table["Properties"]
    assert props["TableName"] == {"Fn::Sub": "${EnvironmentName}-DeviceMetaData"}
    assert props["KeySchema"] == [{"AttributeName": "metakey", "KeyType": "HASH"}]
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert table["DeletionPolicy"] == "Retain"


def test_function_as_the_contract_names_it(templates: dict[str, Any]) -> None:
    props = one(templates["ingest"], "AWS::Lambda::Function")
    assert props["Runtime"] == "python3.12"
    assert props["Handler"] == "ingest_to_influxdb.handler.lambda_handler"
    assert props["Code"] == {"S3Bucket": {"Ref": "CodeBucket"}, "S3Key": {"Ref": "CodeKey"}}
    assert set(props["Environment"]["Variables"]) == {
        "INFLUXDB_URL",
        "INFLUXDB_DATABASE",
        "INFLUXDB_SECRET_ARN",
        "METADATA_TABLE",
        "REJECTED_QUEUE_URL",
        "METADATA_CACHE_TTL_SECONDS",
        "POWERTOOLS_SERVICE_NAME",
        "POWERTOOLS_METRICS_NAMESPACE",
        "POWERTOOLS_LOG_LEVEL",
    }
    assert props["ReservedConcurrentExecutions"] == {"Ref": "ReservedConcurrency"}
    invoke = one(templates["ingest"], "AWS::Lambda::EventInvokeConfig")
    assert invoke["MaximumRetryAttempts"] == 2
    assert invoke["DestinationConfig"]["OnFailure"]["Destination"] == {
        "Fn::GetAtt": ["DeadLetterQueue", "Arn"]
    }


def test_a_rule_per_kind_choosing_its_action_by_ingest_path(templates: dict[str, Any]) -> None:
    template = templates["ingest"]
    rules = of_type(template, "AWS::IoT::TopicRule")
    sqls = {r["Properties"]["TopicRulePayload"]["Sql"]["Fn::Sub"] for r in rules.values()}
    assert sqls == {
        "SELECT *, topic() AS topic, clientid() AS connection_clientid FROM '${PressureTopic}'",
        "SELECT *, topic() AS topic, clientid() AS connection_clientid FROM '${ShelfTopic}'",
    }
    assert template["Parameters"]["PressureTopic"]["Default"] == "/pressure/data"
    assert template["Parameters"]["ShelfTopic"]["Default"] == "/shelf/data"
    assert template["Parameters"]["IngestPath"]["Default"] == "direct"
    for rule in rules.values():
        payload = rule["Properties"]["TopicRulePayload"]
        assert payload["AwsIotSqlVersion"] == "2016-03-23"
        (action,) = payload["Actions"]
        condition, queued, direct = action["Fn::If"]
        assert condition == "IsQueued"
        assert queued["Sqs"]["QueueUrl"] == {"Ref": "IngestQueue"}
        assert direct["Lambda"]["FunctionArn"] == {"Fn::GetAtt": ["IngestFunction", "Arn"]}
        assert payload["ErrorAction"]["Sqs"]["QueueUrl"] == {"Ref": "DeadLetterQueue"}
    permissions = of_type(template, "AWS::Lambda::Permission")
    assert len(permissions) == 2 and all(p["Condition"] == "IsDirect" for p in permissions.values())
    (mapping,) = of_type(template, "AWS::Lambda::EventSourceMapping").values()
    assert mapping["Condition"] == "IsQueued"
    assert mapping["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert template["Parameters"]["BatchSize"]["Default"] == 1000
    queue = template["Resources"]["IngestQueue"]["Properties"]
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]}
    assert template["Resources"]["RejectedQueue"]["Properties"]["MessageRetentionPeriod"] == 14 * 24 * 3600


def test_alarms_on_dead_letters_and_errors(templates: dict[str, Any]) -> None:
    metrics = {
        a["Properties"]["MetricName"] for a in of_type(templates["ingest"], "AWS::CloudWatch::Alarm").values()
    }
    assert {"ApproximateNumberOfMessagesVisible", "Errors"} <= metrics
