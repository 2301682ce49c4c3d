"""The functions' log settings on the synthesized templates, and that under every level they allow Lambda keeps
the metrics documents and the lines an operator needs, and drops a successful invocation's own lines.

Lambda's filter is played by `lambda_keeps`, as its documentation states it: a JSON line's `level` key decides;
a missing or unknown level counts as INFO; a line is sent when its level is at or above the configured one
(https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs-log-level.html)."""

from __future__ import annotations

import json
import logging
from collections import Counter
from typing import Any

import pytest
from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import AmazonCloudWatchEMFProvider
from ingest_to_influxdb.emf import EmbeddedMetrics
from ingest_to_influxdb.log_format import lambda_logger

from benchmarks import platform_logs
from infrastructure import function_logging

SEVERITY = ("TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL")  # Lambda's application levels, least first


def lambda_keeps(line: str, configured: str) -> bool:
    try:
        level = json.loads(line).get("level")
    except ValueError:
        level = None
    level = level.upper() if isinstance(level, str) and level.upper() in SEVERITY else "INFO"
    return SEVERITY.index(level) >= SEVERITY.index(configured)


@pytest.mark.parametrize("stack, function", [("ingest", "IngestFunction"), ("webhook", "WebhookFunction")])
def test_each_function_logs_json_at_the_stack_s_levels(
    templates: dict[str, Any], stack: str, function: str
) -> None:
    template = templates[stack]
    props = template["Resources"][function]["Properties"]
    assert props["LoggingConfig"] == {
        "LogGroup": {"Ref": "FunctionLogGroup"},
        "LogFormat": "JSON",  # log-level filtering needs it
        "ApplicationLogLevel": {"Ref": "LogLevel"},
        "SystemLogLevel": {"Ref": "SystemLogLevel"},
    }
    assert props["Environment"]["Variables"]["POWERTOOLS_LOG_LEVEL"] == {"Ref": "LogLevel"}, "one parameter"
    level, system = template["Parameters"]["LogLevel"], template["Parameters"]["SystemLogLevel"]
    assert (level["Default"], system["Default"]) == ("INFO", "WARN")
    assert set(level["AllowedValues"]) <= set(SEVERITY) and system["AllowedValues"] == [
        "DEBUG",
        "INFO",
        "WARN",
    ]


@pytest.mark.parametrize("level", function_logging.APPLICATION_LEVELS)
def test_the_metrics_documents_are_kept_at_every_application_level(
    level: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AWS_LAMBDA_LOG_LEVEL", level)  # what Lambda sets from ApplicationLogLevel
    metrics = EmbeddedMetrics("IoTTelemetry", "ingest")
    metrics.add("MetadataMisses", 1)
    (line,) = metrics.flush()
    assert lambda_keeps(line, level)


def test_without_a_level_the_metrics_would_be_dropped_at_warn(capsys: pytest.CaptureFixture[str]) -> None:
    """Why the documents carry one: Powertools' documents have no `level`, so Lambda counts them INFO."""
    provider = AmazonCloudWatchEMFProvider(namespace="IoTTelemetry", service="ingest")
    provider.add_metric(name="MetadataMisses", unit="Count", value=1)
    line = json.dumps(provider.serialize_metric_set())
    assert lambda_keeps(line, "INFO") and not lambda_keeps(line, "WARN")


def test_warnings_and_errors_pass_a_warn_filter_and_info_does_not(capsys: pytest.CaptureFixture[str]) -> None:
    logger = lambda_logger("level-test")
    logger.setLevel(logging.DEBUG)
    for method in (logger.info, logger.warning, logger.error, logger.critical):
        method("a line", extra={"summary": Counter(a=1)})
    lines = capsys.readouterr().out.splitlines()
    assert [json.loads(line)["level"] for line in lines] == ["INFO", "WARN", "ERROR", "FATAL"]
    assert [lambda_keeps(line, "WARN") for line in lines] == [False, True, True, True]


def test_lambda_s_own_lines_of_a_successful_invocation_are_left_out_at_the_default_level() -> None:
    default = function_logging.DEFAULT_SYSTEM_LOG_LEVEL
    assert platform_logs.sent_lines(function_logging.LOG_FORMAT, default) == []
    info = platform_logs.sent_lines(function_logging.LOG_FORMAT, "INFO")
    assert [json.loads(line)["type"] for line in info] == [
        "platform.start",
        "platform.runtimeDone",
        "platform.report",
    ]
    assert (
        platform_logs.bytes_per_invocation("JSON", "INFO")
        > platform_logs.bytes_per_invocation("TEXT", "WARN")
        > 0
    )
