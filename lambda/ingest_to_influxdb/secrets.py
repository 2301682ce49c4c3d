"""The InfluxDB writer's credentials from Secrets Manager, fetched once per container and never logged."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from ingest_to_influxdb.errors import ConfigError, InfluxUnavailable

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str = field(repr=False)


class SecretCredentials:
    """`get()` returns the cached credentials; `refresh()` drops them (e.g. after a rotation)."""

    def __init__(self, client: SecretsManagerClient, secret_id: str) -> None:
        self.client, self.secret_id = client, secret_id
        self._cached: Credentials | None = None
        self._lock = threading.Lock()

    def get(self) -> Credentials:
        with self._lock:
            if self._cached is None:
                self._cached = self._fetch()
            return self._cached

    def refresh(self) -> None:
        with self._lock:
            self._cached = None

    def _fetch(self) -> Credentials:
        try:
            text = self.client.get_secret_value(SecretId=self.secret_id)["SecretString"]
        except (ClientError, BotoCoreError) as error:
            raise InfluxUnavailable(f"cannot read the secret {self.secret_id}: {error}") from None
        try:
            value = json.loads(text)
            return Credentials(str(value["username"]), str(value["password"]))
        except (ValueError, KeyError, TypeError):
            raise ConfigError(
                f'the secret {self.secret_id} must hold JSON {{"username": ..., "password": ...}}'
            ) from None
