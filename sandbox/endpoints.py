"""`.sandbox/endpoints.json`: the one place that says where every local service is and how to reach it."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class MqttEndpoint(_Model):
    host: str
    port: int


class InfluxUser(_Model):
    username: str
    password: str


class InfluxUsers(_Model):
    admin: InfluxUser
    writer: InfluxUser
    reader: InfluxUser


class InfluxEndpoint(_Model):
    url: str
    database: str
    users: InfluxUsers


class AwsEndpoint(_Model):
    endpoint_url: str
    region: str
    account_id: str
    access_key_id: str = "testing"
    secret_access_key: str = "testing"

    def env(self) -> dict[str, str]:
        """The environment that points plain `boto3.client(...)` at this endpoint."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
            "AWS_ACCESS_KEY_ID": self.access_key_id,
            "AWS_SECRET_ACCESS_KEY": self.secret_access_key,
        }


class WebhookEndpoint(_Model):
    url: str  # the callback URL the local gateway serves
    secret_name: str  # the callback's header secret in the local Secrets Manager (Authorization: Bearer ...)


class Endpoints(_Model):
    mqtt: MqttEndpoint
    influxdb: InfluxEndpoint
    aws: AwsEndpoint
    queues: dict[str, str] = {}
    dashboard_png: str | None = None
    webhook: WebhookEndpoint | None = None

    @classmethod
    def load(cls, path: Path) -> Endpoints:
        if not path.exists():
            raise FileNotFoundError(
                f"{path} does not exist: start the local services with 'make demo' or 'python -m sandbox up'"
            )
        return cls.model_validate_json(path.read_text())

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(self.model_dump_json(indent=2) + "\n")
        tmp.replace(path)


DEFAULT_ROOT = Path(".sandbox")
DEFAULT_PATH = DEFAULT_ROOT / "endpoints.json"
