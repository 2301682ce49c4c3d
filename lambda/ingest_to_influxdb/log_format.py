"""The functions' structured logger: Powertools' JSON lines, with levels Lambda's log-level filtering reads.

Lambda keeps a JSON line by its `level` key and knows TRACE, DEBUG, INFO, WARN, ERROR and FATAL; any other value
counts as INFO (https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs-log-level.html). Python
names its levels WARNING and CRITICAL, which Powertools prints as they are: under an application log level of
WARN a warning would be dropped. This formatter prints them as WARN and FATAL.
"""

from __future__ import annotations

import sys
from typing import IO, Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

LAMBDA_LEVELS = {"WARNING": "WARN", "CRITICAL": "FATAL"}


class LambdaLevelFormatter(LambdaPowertoolsFormatter):
    def serialize(self, log: Any) -> str:
        level = log.get("level")
        if level in LAMBDA_LEVELS:
            log["level"] = LAMBDA_LEVELS[level]
        return super().serialize(log)


class _Stdout:
    """sys.stdout as it is when a line is written (Powertools binds the stream once): what the bench and the
    tests capture is everything the function prints, as Lambda captures it."""

    def write(self, text: str) -> int:
        return sys.stdout.write(text)

    def flush(self) -> None:
        sys.stdout.flush()


def lambda_logger(service: str) -> Logger:
    stream: IO[str] = _Stdout()  # type: ignore[assignment]  # write and flush are all a stream handler uses
    return Logger(service=service, logger_formatter=LambdaLevelFormatter(), stream=stream)
