"""The callback's secret from Secrets Manager, as both the authorizer and the webhook function check it.

Both versions a rotation leaves valid are accepted: `AWSCURRENT` and `AWSPREVIOUS`
(https://docs.aws.amazon.com/secretsmanager/latest/userguide/getting-started.html#term_version), so the
device-management service may send the old secret until it is registered again with the new one. The versions
are cached; a header that matches neither makes one fresh read, at most every `REFRESH_FLOOR_SECONDS`, so a
rotation is seen at once and a flood of forged headers costs Secrets Manager at most one call per stage then.
"""

from __future__ import annotations

import hmac
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

HEADER = "authorization"  # API Gateway gives header names in lower case
SCHEME = "Bearer "
STAGES = ("AWSCURRENT", "AWSPREVIOUS")
CACHE_SECONDS = 300.0  # a version read this long ago is read again
REFRESH_FLOOR_SECONDS = 5.0  # an unknown header reads the secret again at most this often
NOT_FOUND = {"ResourceNotFoundException"}  # no AWSPREVIOUS before the first rotation


class SecretUnreadable(Exception):
    """Secrets Manager did not answer with the secret (its message says why)."""


def header_value(headers: Mapping[str, str] | None) -> str | None:
    """The Authorization header of a request, whatever the case of its name."""
    return next((value for name, value in (headers or {}).items() if name.lower() == HEADER), None)


def _error_code(error: Exception) -> str:
    response: dict[str, Any] = getattr(error, "response", {}) or {}
    return str(response.get("Error", {}).get("Code", ""))


class CallbackSecret:
    """The accepted header values (`Bearer <secret>` of each valid version), read through `client`."""

    def __init__(self, client: Any, secret_id: str, clock: Callable[[], float] = time.monotonic) -> None:
        self.client, self.secret_id, self.clock = client, secret_id, clock
        self._accepted: tuple[bytes, ...] = ()
        self._read_at: float | None = None
        self._lock = threading.Lock()
        self.reads = 0  # GetSecretValue calls made (the flood test counts them)

    def _read(self) -> tuple[bytes, ...]:
        values = []
        for stage in STAGES:
            self.reads += 1
            try:
                text = self.client.get_secret_value(SecretId=self.secret_id, VersionStage=stage)[
                    "SecretString"
                ]
            except Exception as error:  # botocore's ClientError or BotoCoreError: the client's own classes
                if _error_code(error) in NOT_FOUND and stage != STAGES[0]:
                    continue
                raise SecretUnreadable(
                    f"cannot read the secret {self.secret_id} ({stage}): {error}"
                ) from None
            values.append((SCHEME + text).encode())
        return tuple(values)

    def _values(self, refresh: bool) -> tuple[bytes, ...]:
        with self._lock:
            now = self.clock()
            age = None if self._read_at is None else now - self._read_at
            if age is None or age > CACHE_SECONDS or (refresh and age > REFRESH_FLOOR_SECONDS):
                self._accepted, self._read_at = self._read(), now
            return self._accepted

    def matches(self, given: str) -> bool:
        """Whether `given` is `Bearer <secret>` of a valid version, compared in constant time with each."""
        data = given.encode()

        def any_match(values: tuple[bytes, ...]) -> bool:
            # every version is compared, so the time taken does not say which one matched
            return sum(hmac.compare_digest(data, value) for value in values) > 0

        return any_match(self._values(refresh=False)) or any_match(self._values(refresh=True))
