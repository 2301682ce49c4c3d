"""The function's exceptions: what is invalid (kept, never retried) and what is transient (retried)."""

from __future__ import annotations


class InvalidReading(Exception):
    """A reading that can never be written as it is. `code` is short (a metric dimension), `reason` precise."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


class TransientError(Exception):
    """A dependency could not be reached or answered with a server error; trying again later may succeed."""


class InfluxUnavailable(TransientError):
    """InfluxDB did not take the write (unreachable, 5xx, timeout, or refused our credentials)."""


class MetadataUnavailable(TransientError):
    """The metadata table could not be read."""


class ConfigError(Exception):
    """The function's environment is missing a variable or has a bad value."""
