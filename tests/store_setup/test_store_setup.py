"""The managed store's set-up step (lambda/store_setup), a CloudFormation custom resource, against a STAND-IN of
InfluxDB v2 (tests/support/influx_v2_standin.py: no v2 server can be installed here) and moto's Secrets Manager,
answering a local ResponseURL (tests/support/response_url.py) as CloudFormation's pre-signed S3 URL.

The stand-in answers as InfluxData's v2 API reference documents (docs.influxdata.com/influxdb/v2/api/;
influxdata/openapi src/common/paths/*.yml): POST /api/v2/signin (Basic auth, 204 and a session cookie),
/api/v2/orgs ({"orgs": [...]}, 404 for an unknown name), /api/v2/buckets ({"buckets": [...]}, retentionRules
[{"type": "expire", "everySeconds"}]), /api/v2/dbrps ({"content": [...]}, virtual mappings for bucket names,
"A DBRP combination can only be mapped to a single bucket": InfluxDB v2 docs, "Manage DBRP mappings"),
/api/v2/authorizations (the token shown at creation only: InfluxDB OSS 2.9 hashes tokens,
docs.influxdata.com/influxdb/v2/admin/tokens/), /api/v2/tasks (name and every from the Flux `option task`).
The admin's secret has the keys AWS documents for the instance's InfluxAuthParametersSecretArn: organization,
bucket, username and password (AWS SDK reference, GetDbInstance influxAuthParametersSecretArn).
"""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from ingest_to_influxdb.influx_writer import InfluxWriter
from ingest_to_influxdb.secrets import SecretCredentials
from store_setup import constants as c
from store_setup.handler import handler

from catalog import load_catalog
from catalog.export import downsampled
from tests.support.influx_v2_standin import InfluxStandIn
from tests.support.response_url import ResponseUrl

ADMIN = ("admin", "admin-password")
ORG = "iot"
DATABASE = "telemetry"
PROJECT_ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Context:
    seconds: float = 120.0

    def get_remaining_time_in_millis(self) -> int:
        return int(self.seconds * 1000)


@dataclass
class Setup:
    standin: InfluxStandIn
    responses: ResponseUrl
    properties: dict[str, str]

    def run(
        self, request: str = "Create", changes: dict[str, str] | None = None, seconds: float = 120.0
    ) -> dict[str, Any]:
        self.properties.update(changes or {})
        event = {
            "RequestType": request,
            "ResponseURL": self.responses.url,
            "StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/demo-influxdb/1",
            "RequestId": f"request-{len(self.responses.responses)}",
            "LogicalResourceId": "StoreSetup",
            "ResourceType": "Custom::InfluxStoreSetup",
            "ResourceProperties": {"ServiceToken": "arn:aws:lambda:::function:setup", **self.properties},
        }
        if request != "Create":
            event["PhysicalResourceId"] = "influx-store-setup-telemetry"
        handler(event, Context(seconds))
        return self.responses.last

    def secret(self, role: str) -> dict[str, Any]:
        arn = self.properties[c.WRITER_SECRET_ARN if role == "writer" else c.READER_SECRET_ARN]
        value: dict[str, Any] = json.loads(
            boto3.client("secretsmanager").get_secret_value(SecretId=arn)["SecretString"]
        )
        return value

    def bucket(self, name: str) -> dict[str, Any]:
        found = self.standin.bucket_named(name)
        assert found is not None, f"no bucket {name}"
        return found


@pytest.fixture
def setup(aws_env: dict[str, str], moto_reset: None) -> Iterator[Setup]:
    secrets = boto3.client("secretsmanager")
    admin = json.dumps({"username": ADMIN[0], "password": ADMIN[1], "organization": ORG, "bucket": DATABASE})
    arns = {
        name: secrets.create_secret(Name=f"demo/influxdb/{name}", SecretString=value)["ARN"]
        for name, value in (
            ("admin", admin),
            ("writer", json.dumps({"username": "writer"})),
            ("reader", json.dumps({"username": "reader"})),
        )
    }
    with InfluxStandIn(flavour="v2", admin=ADMIN, organization=ORG) as standin, ResponseUrl() as responses:
        standin.add_bucket(DATABASE)  # the instance's initial bucket (its Bucket property), no retention
        yield Setup(
            standin,
            responses,
            {
                c.URL: standin.url,
                c.ADMIN_SECRET_ARN: arns["admin"],
                c.ORGANIZATION: ORG,
                c.DATABASE: DATABASE,
                c.WRITER_SECRET_ARN: arns["writer"],
                c.READER_SECRET_ARN: arns["reader"],
                c.DOWNSAMPLED: downsampled(load_catalog()),
            },
        )


def grants(auth: dict[str, Any]) -> set[tuple[str, str]]:
    return {(p["action"], p["resource"]["id"]) for p in auth["permissions"]}


def test_create_makes_the_buckets_mappings_tokens_and_tasks(setup: Setup) -> None:
    answer = setup.run()
    assert answer["Status"] == "SUCCESS", answer["Reason"]
    assert answer["PhysicalResourceId"] == "influx-store-setup-telemetry"
    assert answer["StackId"].endswith("demo-influxdb/1") and answer["LogicalResourceId"] == "StoreSetup"
    assert setup.responses.content_types == [""]  # the pre-signed URL is signed for an empty content type
    raw, minute, hour = (setup.bucket(n) for n in ("telemetry", "telemetry/rp_1m", "telemetry/rp_1h"))
    assert [b["retentionRules"][0]["everySeconds"] // 86_400 for b in (raw, minute, hour)] == [30, 90, 1095]
    explicit = {
        (m["database"], m["retention_policy"], m["bucketID"], m["default"])
        for m in setup.standin.dbrps.values()
    }
    assert explicit == {
        ("telemetry", "autogen", raw["id"], True),
        ("telemetry", "rp_1m", minute["id"], False),
        ("telemetry", "rp_1h", hour["id"], False),
    }
    writer, reader = setup.secret("writer"), setup.secret("reader")
    assert writer["username"] == "writer" and writer["token"] and writer["authorizationID"]
    writer_auth = setup.standin.authorization_for(writer["token"])
    reader_auth = setup.standin.authorization_for(reader["token"])
    assert writer_auth is not None and reader_auth is not None
    assert grants(writer_auth) == {("write", raw["id"])}  # the roles stay apart
    assert grants(reader_auth) == {("read", raw["id"]), ("read", minute["id"]), ("read", hour["id"])}
    tasks = {t["name"]: t for t in setup.standin.tasks.values()}
    assert sorted(tasks) == ["cq_pressure_1h", "cq_pressure_1m", "cq_product_count_1h", "cq_product_count_1m"]
    assert {t["every"] for t in tasks.values()} == {"1m", "1h"} and {t["status"] for t in tasks.values()} == {
        "active"
    }


def test_the_writer_writes_with_the_token_the_setup_stored(setup: Setup) -> None:
    """The ingest function's own writer and secret reader, through the DBRP mapping, as deployed."""
    assert setup.run()["Status"] == "SUCCESS"
    credentials = SecretCredentials(boto3.client("secretsmanager"), setup.properties[c.WRITER_SECRET_ARN])
    writer = InfluxWriter(setup.standin.url, DATABASE, credentials)
    line = "pressure,sensorID=s1 pressureValue=812 1700000000000000000"
    assert writer.write([line], lambda: 30.0) == {}
    assert setup.standin.lines_in(setup.bucket("telemetry")["id"]) == [line]


def test_a_rerun_changes_nothing(setup: Setup) -> None:
    assert setup.run()["Status"] == "SUCCESS"
    changes, writer, reader = list(setup.standin.changes), setup.secret("writer"), setup.secret("reader")
    answer = setup.run("Update")
    assert answer["Status"] == "SUCCESS" and answer["Reason"] == "store set up: nothing to change"
    assert setup.standin.changes == changes
    assert (setup.secret("writer"), setup.secret("reader")) == (writer, reader)  # the running writer goes on


def test_an_update_applies_what_changed_and_keeps_the_tokens(setup: Setup) -> None:
    assert setup.run()["Status"] == "SUCCESS"
    writer, reader = setup.secret("writer"), setup.secret("reader")
    only_pressure = "pressure max:pressureValue:pressureValue_max"
    answer = setup.run("Update", {c.RETENTION_DAYS: "7", c.DOWNSAMPLED: only_pressure})
    assert answer["Status"] == "SUCCESS", answer["Reason"]
    assert "set the retention of bucket telemetry to 7 days" in answer["Reason"]
    assert setup.bucket("telemetry")["retentionRules"] == [{"type": "expire", "everySeconds": 7 * 86_400}]
    tasks = {t["name"]: t["flux"] for t in setup.standin.tasks.values()}
    assert sorted(tasks) == ["cq_pressure_1h", "cq_pressure_1m"]  # the shelf's downsampling is gone
    assert "fn: max" in tasks["cq_pressure_1m"] and '"pressureValue_max"' in tasks["cq_pressure_1m"]
    assert (setup.secret("writer"), setup.secret("reader")) == (writer, reader)


def test_a_token_no_longer_valid_is_replaced_and_only_that_one(setup: Setup) -> None:
    assert setup.run()["Status"] == "SUCCESS"
    writer, reader = setup.secret("writer"), setup.secret("reader")
    setup.standin.set_status(writer["authorizationID"], "inactive")
    answer = setup.run("Update")
    assert answer["Status"] == "SUCCESS" and "made the writer's token" in answer["Reason"]
    assert setup.secret("writer")["token"] != writer["token"] and setup.secret("reader") == reader


def test_an_operator_token_in_the_admin_secret_is_used_instead_of_signing_in(setup: Setup) -> None:
    token = setup.standin.add_operator_token()
    boto3.client("secretsmanager").put_secret_value(
        SecretId=setup.properties[c.ADMIN_SECRET_ARN], SecretString=json.dumps({"token": token})
    )
    assert setup.run()["Status"] == "SUCCESS"
    assert setup.standin.sessions == set()


def test_delete_changes_nothing(setup: Setup) -> None:
    assert setup.run()["Status"] == "SUCCESS"
    changes = list(setup.standin.changes)
    answer = setup.run("Delete")
    assert answer["Status"] == "SUCCESS" and answer["PhysicalResourceId"] == "influx-store-setup-telemetry"
    assert setup.standin.changes == changes and setup.bucket("telemetry/rp_1h")


@pytest.mark.parametrize(
    ("breakage", "reason"),
    [
        ("store", r"GET /api/v2/buckets answered 500: an internal error has occurred"),
        ("password", r"signing in as 'admin' failed: 401"),
        ("unreachable", r"unreachable"),
        ("property", r"the resource properties WriterSecretArn are missing"),
        ("secret", r"cannot read the admin's secret"),
        ("downsampling", r"the resource properties Downsampled are missing"),
    ],
)
def test_a_failing_setup_answers_failed_saying_what_failed(setup: Setup, breakage: str, reason: str) -> None:
    changes: dict[str, str] = {}
    if breakage == "store":
        setup.standin.broken["/api/v2/buckets"] = 500
    elif breakage == "password":
        boto3.client("secretsmanager").put_secret_value(
            SecretId=setup.properties[c.ADMIN_SECRET_ARN],
            SecretString=json.dumps({"username": "admin", "password": "wrong", "organization": ORG}),
        )
    elif breakage == "unreachable":
        changes[c.URL] = "http://127.0.0.1:9"  # the discard port: nothing listens there
    elif breakage == "property":
        changes[c.WRITER_SECRET_ARN] = ""
    elif breakage == "downsampling":
        del setup.properties[c.DOWNSAMPLED]  # not passed at all: the tasks are not silently dropped
    else:
        changes[c.ADMIN_SECRET_ARN] = "arn:aws:secretsmanager:us-east-1:123456789012:secret:no-such-secret"
    answer = setup.run(changes=changes)
    assert answer["Status"] == "FAILED" and re.search(reason, answer["Reason"]), answer["Reason"]
    assert answer["PhysicalResourceId"] == "influx-store-setup-telemetry"
    assert "admin-password" not in answer["Reason"]


def test_a_store_that_never_answers_fails_the_step_within_the_functions_time(setup: Setup) -> None:
    """Every request is bounded by the function's remaining time (less what answering CloudFormation needs)."""
    with socket.socket() as silent:  # accepts connections (the kernel's backlog) and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        answer = setup.run(changes={c.URL: f"http://127.0.0.1:{silent.getsockname()[1]}"}, seconds=6.5)
    assert answer["Status"] == "FAILED" and "unreachable (ReadTimeoutError)" in answer["Reason"], answer[
        "Reason"
    ]


def test_the_names_match_the_ecs_store() -> None:
    """Retention policies, durations and continuous-query schedules as services/influxdb/init-influxdb.sh sets
    them, the policies as the dashboards read them, the database as the ECS task names it."""
    from grafana import names

    script = (PROJECT_ROOT / "services" / "influxdb" / "init-influxdb.sh").read_text()
    assert f"INFLUXDB_RAW_RETENTION:={c.RAW_RETENTION_DAYS}d" in script
    assert f"ensure_rp {c.DEFAULT_POLICY} " in script
    for policy in c.DOWNSAMPLED_POLICIES:
        assert f"ensure_rp {policy.policy} " in script
        variable = f"INFLUXDB_{policy.interval.upper()}_RETENTION"
        assert f"{variable}:={policy.retention_days}d" in script
        assert re.search(
            rf'ensure_cq "cq_\${{measurement}}_{policy.interval}" {policy.interval} {policy.interval} {policy.window} ',
            script,
        )
        assert "rp_$interval" in script and policy.policy == f"rp_{policy.interval}"
    assert [p.policy for p in c.DOWNSAMPLED_POLICIES] == [names.RP_1M, names.RP_1H]
    assert "INFLUXDB_DB: telemetry" in (PROJECT_ROOT / "services" / "influxdb" / "task.yaml").read_text()
