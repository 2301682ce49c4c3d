"""The managed store's set-up, idempotent (find, then create or update only what differs), as
services/influxdb/init-influxdb.sh is for the ECS store: the organization, a bucket per retention policy with its
retention, the DBRP mappings that let the 1.x API (/write, InfluxQL) name them as `telemetry`.`<policy>`, a write
token for the writer and a read token for the reader kept in their secrets, and the downsampling tasks.

A re-run changes nothing that is already right: a role's token is replaced only when its secret has none or
its authorization is gone, inactive or no longer grants what the role needs, so a running writer is not
broken by a deploy.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError
from ingest_to_influxdb.secrets import TOKEN_KEY

from store_setup import constants as c
from store_setup.downsampling import tasks
from store_setup.influx_api import InfluxApi

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient

SECONDS_PER_DAY = 86_400


class SetupError(Exception):
    """The set-up cannot go on; the message says what is wrong in one line."""


@dataclass(frozen=True)
class Settings:
    url: str
    admin_secret_arn: str
    organization: str
    database: str
    writer_secret_arn: str
    reader_secret_arn: str
    retention_days: int = c.RAW_RETENTION_DAYS
    downsampled: str = ""

    @classmethod
    def from_properties(cls, properties: dict[str, Any]) -> Settings:
        missing = [name for name in c.REQUIRED if not str(properties.get(name) or "").strip()]
        missing += [name for name in c.PRESENT if name not in properties]
        if missing:
            raise SetupError(f"the resource properties {', '.join(missing)} are missing or empty")
        days_text = str(properties.get(c.RETENTION_DAYS) or "").strip() or str(c.RAW_RETENTION_DAYS)
        try:
            days = int(days_text)
        except ValueError:
            days = -1
        if days < 0:
            raise SetupError(f"{c.RETENTION_DAYS} must be a whole number of days >= 0, not {days_text!r}")
        value = {name: str(properties[name]).strip() for name in c.REQUIRED}
        return cls(
            url=value[c.URL],
            admin_secret_arn=value[c.ADMIN_SECRET_ARN],
            organization=value[c.ORGANIZATION],
            database=value[c.DATABASE],
            writer_secret_arn=value[c.WRITER_SECRET_ARN],
            reader_secret_arn=value[c.READER_SECRET_ARN],
            retention_days=days,
            downsampled=str(properties[c.DOWNSAMPLED] or ""),
        )


@dataclass
class Outcome:
    organization_id: str = ""
    buckets: dict[str, str] = field(default_factory=dict)  # policy -> bucket id
    changes: list[str] = field(default_factory=list)  # what this run changed, for the log and the reason

    def summary(self) -> str:
        return "; ".join(self.changes) if self.changes else "nothing to change"


class StoreSetup:
    def __init__(self, settings: Settings, api: InfluxApi, secrets: SecretsManagerClient) -> None:
        self.settings, self.api, self.secrets = settings, api, secrets
        self.outcome = Outcome()

    def run(self) -> Outcome:
        self.sign_in()
        org_id = self.organization()
        self.outcome.organization_id = org_id
        policies = [(c.DEFAULT_POLICY, self.settings.retention_days)] + [
            (p.policy, p.retention_days) for p in c.DOWNSAMPLED_POLICIES
        ]
        for policy, days in policies:
            self.outcome.buckets[policy] = self.bucket(
                org_id, c.bucket_name(self.settings.database, policy), days
            )
        self.mappings(org_id)
        raw = self.outcome.buckets[c.DEFAULT_POLICY]
        self.role_token(
            "writer",
            self.settings.writer_secret_arn,
            org_id,
            [_permission("write", org_id, raw)],
        )
        self.role_token(
            "reader",
            self.settings.reader_secret_arn,
            org_id,
            [_permission("read", org_id, bucket) for bucket in self.outcome.buckets.values()],
        )
        self.downsampling(org_id)
        return self.outcome

    # -- the steps ---------------------------------------------------------------------------------------
    def sign_in(self) -> None:
        admin = self._secret(self.settings.admin_secret_arn, "the admin's")
        token = admin.get(c.ADMIN_TOKEN_KEY)
        if isinstance(token, str) and token:
            self.api.use_token(token)
            return
        username, password = admin.get(c.ADMIN_USERNAME_KEY), admin.get(c.ADMIN_PASSWORD_KEY)
        if not (isinstance(username, str) and username and isinstance(password, str) and password):
            raise SetupError(
                f"the admin's secret {self.settings.admin_secret_arn} holds neither "
                f'"{c.ADMIN_USERNAME_KEY}"/"{c.ADMIN_PASSWORD_KEY}" nor "{c.ADMIN_TOKEN_KEY}"'
            )
        self.api.sign_in(username, password)

    def organization(self) -> str:
        name = self.settings.organization
        found = self.api.get("/api/v2/orgs", {"org": name}, missing_ok=True)
        for org in (found or {}).get("orgs", []):
            if org.get("name") == name:
                return str(org["id"])
        created = self.api.post("/api/v2/orgs", {"name": name})
        self.outcome.changes.append(f"created organization {name}")
        return str(created["id"])

    def bucket(self, org_id: str, name: str, days: int) -> str:
        rules = [{"type": "expire", "everySeconds": days * SECONDS_PER_DAY}] if days else []
        found = self.api.get("/api/v2/buckets", {"orgID": org_id, "name": name}, missing_ok=True)
        bucket = next((b for b in (found or {}).get("buckets", []) if b.get("name") == name), None)
        if bucket is None:
            created = self.api.post(
                "/api/v2/buckets", {"orgID": org_id, "name": name, "retentionRules": rules}
            )
            self.outcome.changes.append(f"created bucket {name} ({_days(days)})")
            return str(created["id"])
        if _retention_seconds(bucket) != days * SECONDS_PER_DAY:
            self.api.patch(f"/api/v2/buckets/{bucket['id']}", {"retentionRules": rules})
            self.outcome.changes.append(f"set the retention of bucket {name} to {_days(days)}")
        return str(bucket["id"])

    def mappings(self, org_id: str) -> None:
        """database/policy -> bucket, the default policy as the database's default (readings are written
        without a policy). Virtual mappings (read-only, made from bucket names) are not relied on."""
        database = self.settings.database
        found = self.api.get("/api/v2/dbrps", {"orgID": org_id, "db": database}) or {}
        explicit = [m for m in found.get("content", []) if not m.get("virtual")]
        for policy, bucket_id in self.outcome.buckets.items():
            default = policy == c.DEFAULT_POLICY
            current = next((m for m in explicit if m.get("retention_policy") == policy), None)
            if (
                current is not None
                and current.get("bucketID") == bucket_id
                and bool(current.get("default")) == default
            ):
                continue
            if current is not None:
                self.api.delete(f"/api/v2/dbrps/{current['id']}", {"orgID": org_id})
            self.api.post(
                "/api/v2/dbrps",
                {
                    "orgID": org_id,
                    "bucketID": bucket_id,
                    "database": database,
                    "retention_policy": policy,
                    "default": default,
                },
            )
            self.outcome.changes.append(f"mapped {database}.{policy} to its bucket")

    def role_token(self, role: str, secret_arn: str, org_id: str, permissions: list[dict[str, Any]]) -> None:
        value = self._secret(secret_arn, f"the {role}'s")
        if self._still_valid(value, permissions):
            return
        created = self.api.post(
            "/api/v2/authorizations",
            {
                "orgID": org_id,
                "description": f"{self.settings.database} {role} (store set-up)",
                "status": "active",
                "permissions": permissions,
            },
        )
        token = created.get("token")
        if not isinstance(token, str) or not token:
            raise SetupError(f"the store made the {role}'s authorization but returned no token")
        # Other keys (a user name the stack generated) stay; the token wins for the writer (secrets.py).
        value.update({TOKEN_KEY: token, c.AUTHORIZATION_ID_KEY: str(created["id"])})
        try:
            self.secrets.put_secret_value(SecretId=secret_arn, SecretString=json.dumps(value))
        except (BotoCoreError, ClientError) as error:
            raise SetupError(f"cannot store the {role}'s token in its secret {secret_arn}: {error}") from None
        self.outcome.changes.append(f"made the {role}'s token and stored it in its secret")

    def _still_valid(self, value: dict[str, Any], permissions: list[dict[str, Any]]) -> bool:
        token, auth_id = value.get(TOKEN_KEY), value.get(c.AUTHORIZATION_ID_KEY)
        if not (isinstance(token, str) and token and isinstance(auth_id, str) and auth_id):
            return False
        auth = self.api.get(f"/api/v2/authorizations/{auth_id}", missing_ok=True)
        if not isinstance(auth, dict) or auth.get("status") != "active":
            return False
        if auth.get("token") not in (None, "", "redacted", token):  # shown (before token hashing): must match
            return False
        return _grants(auth.get("permissions") or []) == _grants(permissions)

    def downsampling(self, org_id: str) -> None:
        wanted = {task.name: task for task in tasks(self.settings.downsampled, self.settings.database)}
        found = self.api.get("/api/v2/tasks", {"orgID": org_id, "limit": "500"}) or {}
        existing = {
            t["name"]: t for t in found.get("tasks", []) if str(t.get("name", "")).startswith(c.TASK_PREFIX)
        }
        for name, task in wanted.items():
            current = existing.get(name)
            if current is None:
                self.api.post(
                    "/api/v2/tasks",
                    {"orgID": org_id, "flux": task.flux, "status": "active", "description": _DESCRIPTION},
                )
                self.outcome.changes.append(f"created task {name}")
            elif current.get("flux") != task.flux or current.get("status") != "active":
                self.api.patch(f"/api/v2/tasks/{current['id']}", {"flux": task.flux, "status": "active"})
                self.outcome.changes.append(f"updated task {name}")
        for name, current in existing.items():
            if name not in wanted:  # a kind no longer downsampled (the ECS store drops its CQs the same way)
                self.api.delete(f"/api/v2/tasks/{current['id']}")
                self.outcome.changes.append(f"deleted task {name}")

    # -- helpers -----------------------------------------------------------------------------------------
    def _secret(self, arn: str, whose: str) -> dict[str, Any]:
        try:
            text = self.secrets.get_secret_value(SecretId=arn).get("SecretString") or ""
        except (BotoCoreError, ClientError) as error:
            raise SetupError(f"cannot read {whose} secret {arn}: {error}") from None
        try:
            value = json.loads(text) if text.strip() else {}
        except ValueError:
            raise SetupError(f"{whose} secret {arn} does not hold JSON") from None
        if not isinstance(value, dict):
            raise SetupError(f"{whose} secret {arn} does not hold a JSON object")
        return value


_DESCRIPTION = "downsampling of the catalog (store set-up): the continuous queries of the ECS store"


def _permission(action: str, org_id: str, bucket_id: str) -> dict[str, Any]:
    return {"action": action, "resource": {"type": "buckets", "orgID": org_id, "id": bucket_id}}


def _grants(permissions: list[dict[str, Any]]) -> set[tuple[str, str, str]]:
    return {
        (str(p.get("action")), str(p.get("resource", {}).get("type")), str(p.get("resource", {}).get("id")))
        for p in permissions
        if isinstance(p, dict)
    }


def _retention_seconds(bucket: dict[str, Any]) -> int:
    rules = [r for r in bucket.get("retentionRules") or [] if r.get("type") == "expire"]
    return int(rules[0].get("everySeconds") or 0) if rules else 0


def _days(days: int) -> str:
    return "kept for ever" if days == 0 else f"{days} days"
