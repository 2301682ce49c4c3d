"""The InfluxDB writer's credentials, from Secrets Manager, cached for the container's life."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from ingest_to_influxdb.config import ConfigurationError
from ingest_to_influxdb.errors import TransientError


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str

    def __repr__(self) -> str:  # never print the password, even by accident
        return f"Credentials(username={self.username!r}, password='***')"


def fetch_credentials(client: Any, secret_id: str) -> Credentials:
    try:
        raw = client.get_secret_value(SecretId=secret_id)["SecretString"]
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        if code in ("ResourceNotFoundException", "AccessDeniedException"):
            raise ConfigurationError(f"cannot read the secret {secret_id}: {code}") from error
        raise TransientError(f"Secrets Manager failed: {code}") from error
    except BotoCoreError as error:
        raise TransientError(f"Secrets Manager is unreachable: {error}") from error
    try:
        value = json.loads(raw)
        return Credentials(username=str(value["username"]), password=str(value["password"]))
    except (ValueError, KeyError, TypeError) as error:
        raise ConfigurationError(
            f"the secret {secret_id} must hold JSON with username and password"
        ) from error
