"""The functions' log settings: JSON lines, the application's level a parameter, Lambda's own lines at WARN.

- `LogFormat: JSON` is what makes Lambda's log-level filtering possible at all.
- `LogLevel` (the application's level, default INFO): Lambda drops a line below it by the line's `level`, and
  Powertools reads the same value (`AWS_LAMBDA_LOG_LEVEL`, and POWERTOOLS_LOG_LEVEL beside it). The metrics
  documents carry exactly that level, so every setting keeps them (lambda/ingest_to_influxdb/emf.py).
- `SystemLogLevel` (Lambda's own lines, default WARN): a successful invocation's platform.start,
  platform.runtimeDone and platform.report records are INFO and are not sent; a failed or timed-out one still
  is. Their size per invocation, with its source: benchmarks/lambda_log_lines.yaml.

https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs-log-level.html
"""

from __future__ import annotations

from typing import Any

from troposphere import Ref, Template, awslambda

from infrastructure.common import add_choice_parameter

LOG_LEVEL_PARAMETER = "LogLevel"
SYSTEM_LOG_LEVEL_PARAMETER = "SystemLogLevel"
LOG_FORMAT = "JSON"
APPLICATION_LEVELS = ("DEBUG", "INFO", "WARN", "ERROR")  # of Lambda's TRACE..FATAL, the ones worth choosing
SYSTEM_LEVELS = ("DEBUG", "INFO", "WARN")  # all Lambda offers for its own lines
DEFAULT_LOG_LEVEL = "INFO"  # a normal reading logs nothing at INFO; a rejection or a failure logs one line
DEFAULT_SYSTEM_LOG_LEVEL = "WARN"


class FunctionLoggingConfig(awslambda.LoggingConfig):  # type: ignore[misc]  # troposphere is untyped
    """AWS::Lambda::Function's LoggingConfig: troposphere 4.11's class carries another resource's shape,
    without LogFormat."""

    props = {**awslambda.LoggingConfig.props, "LogFormat": (str, False)}


def add_parameters(template: Template) -> None:
    add_choice_parameter(
        template,
        LOG_LEVEL_PARAMETER,
        DEFAULT_LOG_LEVEL,
        APPLICATION_LEVELS,
        "The function's log level (DEBUG shows every rejection's reason)",
    )
    add_choice_parameter(
        template,
        SYSTEM_LOG_LEVEL_PARAMETER,
        DEFAULT_SYSTEM_LOG_LEVEL,
        SYSTEM_LEVELS,
        "Lambda's own log lines: WARN leaves out a successful invocation's START/END/REPORT",
    )


def logging_config(log_group: Any) -> FunctionLoggingConfig:
    return FunctionLoggingConfig(
        LogGroup=Ref(log_group),
        LogFormat=LOG_FORMAT,
        ApplicationLogLevel=Ref(LOG_LEVEL_PARAMETER),
        SystemLogLevel=Ref(SYSTEM_LOG_LEVEL_PARAMETER),
    )
