"""The InfluxDB writer's credentials from Secrets Manager, fetched once per container and never logged.

The secret holds one of two shapes, one per kind of store:
- {"username": ..., "password": ...}: InfluxDB 1.x (the ECS store), sent as Basic auth;
- {"token": ...}: InfluxDB 2.x/3.x (Amazon Timestream for InfluxDB), sent as `Authorization: Token ...`.
When both are present the token wins (the managed store's set-up step, lambda/store_setup, adds the token to a
secret that may still hold a user name). The key names are declared here, once; store_setup writes them.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from ingest_to_influxdb.errors import ConfigError, InfluxUnavailable

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient

USERNAME_KEY = "username"
PASSWORD_KEY = "password"
TOKEN_KEY = "token"


@dataclass(frozen=True)
class Credentials:
    username: str = ""
    password: str = field(default="", repr=False)
    token: str | None = field(default=None, repr=False)  # a v2/v3 API token: wins over username/password


def credentials_from(value: Any) -> Credentials | None:
    """The credentials a secret's JSON value holds, or None when it holds neither shape."""
    if not isinstance(value, dict):
        return None
    token = value.get(TOKEN_KEY)
    if isinstance(token, str) and token:
        return Credentials(username=str(value.get(USERNAME_KEY, "")), token=token)
    username, password = value.get(USERNAME_KEY), value.get(PASSWORD_KEY)
    if isinstance(username, str) and username and isinstance(password, str):
        return Credentials(username, password)
    return None


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
        except ValueError:
            value = None
        credentials = credentials_from(value)
        if credentials is None:
            raise ConfigError(
                f'the secret {self.secret_id} must hold JSON {{"{USERNAME_KEY}": ..., "{PASSWORD_KEY}": ...}} '
                f'(InfluxDB 1.x) or {{"{TOKEN_KEY}": ...}} (InfluxDB 2.x/3.x)'
            )
        return credentials
