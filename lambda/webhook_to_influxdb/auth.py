"""The shared secret the service sends with every delivery (the callback's header), from Secrets Manager."""

from __future__ import annotations

import hmac
import threading
import time
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError
from ingest_to_influxdb.errors import TransientError

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient

HEADER = "authorization"  # API Gateway gives header names in lower case
SCHEME = "Bearer "
CACHE_SECONDS = 300.0  # a rotated secret is picked up within this long
MISSING, WRONG = "missing", "wrong"  # why a delivery is refused


class SecretUnavailable(TransientError):
    """The secret could not be read: the delivery is answered 503, so the service sends it again."""


class SharedSecret:
    def __init__(self, client: SecretsManagerClient, secret_id: str) -> None:
        self.client, self.secret_id = client, secret_id
        self._value: bytes | None = None
        self._fetched = 0.0
        self._lock = threading.Lock()

    def _current(self) -> bytes:
        with self._lock:
            if self._value is None or time.monotonic() - self._fetched > CACHE_SECONDS:
                try:
                    text = self.client.get_secret_value(SecretId=self.secret_id)["SecretString"]
                except (ClientError, BotoCoreError) as error:
                    raise SecretUnavailable(f"cannot read the secret {self.secret_id}: {error}") from None
                self._value, self._fetched = (SCHEME + text).encode(), time.monotonic()
            return self._value

    def refusal(self, headers: dict[str, str]) -> str | None:
        """Why the delivery is refused ("missing" or "wrong" header), or None when its header matches the
        secret (compared in constant time)."""
        given = next((value for name, value in headers.items() if name.lower() == HEADER), None)
        if not given:
            return MISSING
        return None if hmac.compare_digest(given.encode(), self._current()) else WRONG

    def accepts(self, headers: dict[str, str]) -> bool:
        return self.refusal(headers) is None
