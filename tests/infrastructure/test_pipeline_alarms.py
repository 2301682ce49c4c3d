"""The pipeline's CloudWatch alarms on the synthesized templates: what each watches, when it fires, who is told,
and that docs/operations.md has its runbook line."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from ingest_to_influxdb import handler
from ingest_to_influxdb.emf import EmbeddedMetrics
from ingest_to_influxdb.ingestor import BatchResult

from infrastructure.notifications import runbook_name
from tests.support.emf import extracted

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
        "DeviceConnectDeniedAlarm",
        "DevicePublishDeniedAlarm",
        "IngestStreamAgeAlarm",
    }
    # IoT Core's authorization failures (its message broker metrics, per protocol).
    assert watched(found["DeviceConnectDeniedAlarm"]) == (
        "AWS/IoT",
        "Connect.AuthError",
        {"Protocol": "MQTT"},
    )
    assert watched(found["DevicePublishDeniedAlarm"]) == (
        "AWS/IoT",
        "PublishIn.AuthError",
        {"Protocol": "MQTT"},
    )
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
    stream_age = found["IngestStreamAgeAlarm"]
    assert stream_age["Condition"] == "IsStream"
    assert watched(stream_age)[:2] == ("AWS/Lambda", "IteratorAge")
    assert stream_age["Properties"]["Threshold"] == 300_000  # IteratorAge is in milliseconds
    for alarm in found.values():
        props = alarm["Properties"]
        assert props["AlarmActions"] == props["OKActions"] == [{"Ref": "AlarmTopic"}]


def test_influxdb_task_not_running(templates: dict[str, Any]) -> None:
    influx = templates["influxdb"]
    alarm = alarms(influx)["TaskNotRunningAlarm"]
    assert alarm["Condition"] == "IsEcsStore", "the managed store has its own alarms (test_store_choice.py)"
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


@pytest.mark.parametrize("stack", ["ingest", "influxdb", "webhook", "edge", "grafana", "chronograf"])
def test_every_alarm_has_a_runbook_line(templates: dict[str, Any], stack: str) -> None:
    """CloudFormation names each alarm (`<env>-<stack>-<logical id>-<suffix>`: no name of our own, so a
    replacement never collides); the runbook line names it `<stack>-<logical id without Alarm>`."""
    text = OPERATIONS.read_text()
    found = alarms(templates[stack])
    assert found, f"{stack} has no alarm"
    for logical, alarm in found.items():
        assert "AlarmName" not in alarm["Properties"]
        name = runbook_name(stack, logical)
        assert f"`{name}`" in text, f"docs/operations.md has no runbook line for {name}"


COMPARE = {
    "GreaterThanOrEqualToThreshold": lambda value, threshold: value >= threshold,
    "GreaterThanThreshold": lambda value, threshold: value > threshold,
}


def test_the_alarms_on_the_function_s_metrics_read_what_its_documents_say(
    templates: dict[str, Any], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The function prints no document for a zero: an alarm on its metrics must treat missing data as OK, and
    fire on the metric name and dimensions its documents carry."""
    variables = templates["ingest"]["Resources"]["IngestFunction"]["Properties"]["Environment"]["Variables"]
    namespace, service = variables["POWERTOOLS_METRICS_NAMESPACE"], variables["POWERTOOLS_SERVICE_NAME"]
    metrics = EmbeddedMetrics(namespace, service)
    monkeypatch.setattr(handler, "metrics", metrics)
    own = {
        logical: alarm
        for stack in ("ingest", "webhook")
        for logical, alarm in alarms(templates[stack]).items()
        if alarm["Properties"]["Namespace"] == namespace
    }
    assert set(own) == {"MetadataMissesAlarm"}, "every alarm on the function's own metrics is checked here"

    def datapoints(result: BatchResult) -> dict[str, list[tuple[tuple[str, str, dict[str, str]], Any]]]:
        handler.publish_metrics(result)
        lines = metrics.flush(everything=True)
        capsys.readouterr()
        seen = [((ns, name, dims), value) for ns, name, dims, value in extracted(lines)]
        return {
            logical: [value for key, value in seen if key == watched(alarm)] for logical, alarm in own.items()
        }

    normal = datapoints(BatchResult(written=Counter({"pressure": 1}), write_seconds=0.001))
    missed = datapoints(BatchResult(written=Counter({"pressure": 1}), metadata_misses=2, write_seconds=0.001))
    for logical, alarm in own.items():
        props = alarm["Properties"]
        assert props["TreatMissingData"] == "notBreaching", f"{logical}: zero is no document now"
        assert normal[logical] == [], (
            f"{logical}: a normal reading says nothing to it (missing: not breaching)"
        )
        assert props["Statistic"] == "Sum"
        assert COMPARE[props["ComparisonOperator"]](sum(missed[logical]), props["Threshold"]), logical
