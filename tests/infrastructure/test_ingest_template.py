"""The ingest stack in the natural CloudFormation forms the local rule runner reads."""

from __future__ import annotations

import json
from typing import Any

from ingest_to_influxdb import basic_ingest

from catalog import load_catalog
from infrastructure.stacks.ingest import MAX_BATCH_WINDOW_SECONDS
from local_aws.cloudformation.template import DeployedTemplate
from tests.support.templates import of_type, one


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
        "INFLUXDB_CA_CERTIFICATE",
        "METADATA_TABLE",
        "REJECTED_QUEUE_URL",
        "METADATA_CACHE_TTL_SECONDS",
        "KIND_TOPICS",
        "KIND_RULES",
        "POWERTOOLS_SERVICE_NAME",
        "POWERTOOLS_METRICS_NAMESPACE",
        "POWERTOOLS_LOG_LEVEL",
        # the catalog's pressure and button write to SQL too (tests/infrastructure/test_relational_template.py)
        "SQL_RESOURCE_ARN",
        "SQL_SECRET_ARN",
        "SQL_DATABASE",
        "DEAD_LETTER_QUEUE_URL",
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
        "SELECT *, topic() AS topic, clientid() AS connection_clientid, principal() AS connection_principal FROM '${ButtonTopic}'",
        "SELECT *, topic() AS topic, clientid() AS connection_clientid, principal() AS connection_principal FROM '${PressureTopic}'",
        "SELECT *, topic() AS topic, clientid() AS connection_clientid, principal() AS connection_principal FROM '${ShelfTopic}'",
    }
    assert template["Parameters"]["PressureTopic"]["Default"] == "/pressure/data"
    assert template["Parameters"]["ShelfTopic"]["Default"] == "/shelf/data"
    assert template["Parameters"]["IngestPath"]["Default"] == "direct"
    for rule in rules.values():
        payload = rule["Properties"]["TopicRulePayload"]
        assert payload["AwsIotSqlVersion"] == "2016-03-23"
        (action,) = payload["Actions"]
        condition, queued, otherwise = action["Fn::If"]
        assert condition == "IsQueued"
        assert queued["Sqs"]["QueueUrl"] == {"Ref": "IngestQueue"}
        stream_condition, streamed, direct = otherwise["Fn::If"]
        assert stream_condition == "IsStream"
        assert streamed["Kinesis"]["StreamName"] == {"Ref": "IngestStream"}
        assert streamed["Kinesis"]["PartitionKey"] == "${newuuid()}"
        assert direct["Lambda"]["FunctionArn"] == {"Fn::GetAtt": ["IngestFunction", "Arn"]}
        assert payload["ErrorAction"]["Sqs"]["QueueUrl"] == {"Ref": "DeadLetterQueue"}
    permissions = of_type(template, "AWS::Lambda::Permission")
    assert len(permissions) == len(rules) and all(p["Condition"] == "IsDirect" for p in permissions.values())
    mapping = template["Resources"]["IngestQueueMapping"]
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


def test_every_kind_of_the_catalog_gets_a_topic_parameter_and_a_rule(templates: dict[str, Any]) -> None:
    template = templates["ingest"]
    catalog = load_catalog()
    rules = of_type(template, "AWS::IoT::TopicRule")
    assert len(rules) == len(catalog.kinds)
    for kind in catalog:
        assert template["Parameters"][kind.topic_parameter]["Default"] == kind.topic
    # The function learns each kind's topic from the same parameters the rules listen on.
    variables = one(template, "AWS::Lambda::Function")["Environment"]["Variables"]
    assert variables["KIND_TOPICS"] == {
        "Fn::Sub": ", ".join(f'"{k.name}": "${{{k.topic_parameter}}}"' for k in catalog).join("{}")
    }


def test_the_ingest_queue_stays_invisible_longer_than_six_function_timeouts(
    templates: dict[str, Any],
) -> None:
    template = templates["ingest"]
    timeouts = template["Parameters"]["Timeout"]["AllowedValues"]
    seconds = {t: template["Mappings"]["QueueVisibility"][t]["Seconds"] for t in timeouts}
    assert template["Parameters"]["BatchWindowSeconds"]["MaxValue"] == MAX_BATCH_WINDOW_SECONDS
    for timeout, visibility in seconds.items():
        assert 6 * int(timeout) + MAX_BATCH_WINDOW_SECONDS <= visibility <= 12 * 3600  # SQS's upper limit
    queue = template["Resources"]["IngestQueue"]["Properties"]
    assert queue["VisibilityTimeout"] == {"Fn::FindInMap": ["QueueVisibility", {"Ref": "Timeout"}, "Seconds"]}


def test_basic_ingest_is_a_parameter_per_kind_off_by_default_that_names_the_kind_s_rule(
    templates: dict[str, Any],
) -> None:
    template = templates["ingest"]
    catalog = load_catalog()
    for kind in catalog:
        parameter = template["Parameters"][kind.basic_ingest_parameter]
        assert (parameter["Default"], parameter["AllowedValues"]) == ("false", ["false", "true"])
        assert template["Conditions"][f"{kind.basic_ingest_parameter}On"] == {
            "Fn::Equals": [{"Ref": kind.basic_ingest_parameter}, "true"]
        }
    variables = one(template, "AWS::Lambda::Function")["Environment"]["Variables"]

    def resolved(parameters: dict[str, str]) -> dict[str, str]:
        deployed = DeployedTemplate(
            template, {"EnvironmentName": "demo", **parameters}, "us-east-1", "1", "s", {}, {}
        )
        return dict(json.loads(deployed.resolve(variables["KIND_RULES"])))

    assert resolved({}) == {kind.name: "" for kind in catalog}
    assert resolved({"PressureBasicIngest": "true"}) == {
        kind.name: "demo_ingest_pressure" if kind.name == "pressure" else "" for kind in catalog
    }
    # The rule each kind's Basic Ingest topic names is the kind's own rule.
    rules = {
        r["Properties"]["RuleName"]["Fn::Sub"] for r in of_type(template, "AWS::IoT::TopicRule").values()
    }
    assert rules == {basic_ingest.rule_name("${EnvironmentName}", kind.name) for kind in catalog}
