"""The pipeline's CloudWatch alarms on the synthesized templates: what each watches, when it fires, who is told,
and that docs/operations.md has its runbook line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

OPERATIONS = Path(__file__).resolve().parents[2] / "docs" / "operations.md"


def alarms(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == "AWS::CloudWatch::Alarm"}


def watched(alarm: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
    props = alarm["Properties"]
    return props["Namespace"], props["MetricName"], {d["Name"]: d["Value"] for d in props["Dimensions"]}


def test_ingest_alarms(templates: dict[str, Any]) -> None:
    ingest = templates["ingest"]
    found = alarms(ingest)
    assert set(found) == {
        "DeadLettersAlarm",
        "RejectedReadingsAlarm",
        "FunctionErrorsAlarm",
        "RejectedPerMinuteAlarm",
        "MetadataMissesAlarm",
        "FunctionThrottlesAlarm",
        "IngestQueueAgeAlarm",
    }
    rejected = found["RejectedPerMinuteAlarm"]["Properties"]
    assert watched(found["RejectedPerMinuteAlarm"]) == (
        "AWS/SQS",
        "NumberOfMessagesSent",
        {"QueueName": {"Fn::GetAtt": ["RejectedQueue", "QueueName"]}},
    )
    assert (rejected["Statistic"], rejected["Period"], rejected["ComparisonOperator"]) == (
        "Sum",
        60,
        "GreaterThanThreshold",
    )
    assert rejected["Threshold"] == {"Ref": "RejectedPerMinuteThreshold"}
    assert ingest["Parameters"]["RejectedPerMinuteThreshold"]["Type"] == "Number"

    variables = ingest["Resources"]["IngestFunction"]["Properties"]["Environment"]["Variables"]
    assert watched(found["MetadataMissesAlarm"]) == (
        variables["POWERTOOLS_METRICS_NAMESPACE"],
        "MetadataMisses",
        {"service": variables["POWERTOOLS_SERVICE_NAME"]},
    ), "the function's own metric, namespace and service dimension"
    assert watched(found["FunctionThrottlesAlarm"]) == (
        "AWS/Lambda",
        "Throttles",
        {"FunctionName": {"Ref": "IngestFunction"}},
    )
    age = found["IngestQueueAgeAlarm"]
    assert age["Condition"] == "IsQueued", "the queue exists on the queued path only"
    assert watched(age)[:2] == ("AWS/SQS", "ApproximateAgeOfOldestMessage")
    assert age["Properties"]["Threshold"] == 300
    for alarm in found.values():
        props = alarm["Properties"]
        assert props["AlarmActions"] == props["OKActions"] == [{"Ref": "AlarmTopic"}]


def test_influxdb_task_not_running(templates: dict[str, Any]) -> None:
    influx = templates["influxdb"]
    alarm = alarms(influx)["TaskNotRunningAlarm"]
    props = alarm["Properties"]
    namespace, metric, dimensions = watched(alarm)
    assert (namespace, metric, dimensions["ServiceName"]) == (
        "ECS/ContainerInsights",
        "RunningTaskCount",
        "influxdb",
    )
    assert (props["Statistic"], props["ComparisonOperator"], props["Threshold"]) == (
        "Minimum",
        "LessThanThreshold",
        1,
    )
    assert props["TreatMissingData"] == "breaching", "no count means no task"
    cluster = templates["cluster"]["Resources"]["Cluster"]["Properties"]
    assert {"Name": "containerInsights", "Value": "enabled"} in cluster["ClusterSettings"]
    topic = influx["Resources"]["AlarmTopic"]["Properties"]
    assert "KmsMasterKeyId" in topic and props["AlarmActions"] == [{"Ref": "AlarmTopic"}]
    (subscription,) = (r for r in influx["Resources"].values() if r["Type"] == "AWS::SNS::Subscription")
    assert subscription["Condition"] == "HasAlarmEmail"


@pytest.mark.parametrize("stack", ["ingest", "influxdb"])
def test_every_alarm_has_a_runbook_line(templates: dict[str, Any], stack: str) -> None:
    text = OPERATIONS.read_text()
    for alarm in alarms(templates[stack]).values():
        name = alarm["Properties"]["AlarmName"]["Fn::Sub"].removeprefix("${EnvironmentName}-")
        assert f"`{name}`" in text, f"docs/operations.md has no runbook line for {name}"
