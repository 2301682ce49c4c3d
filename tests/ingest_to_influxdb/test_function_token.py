"""The ingest function, as Lambda runs it, against the managed store: its secret in moto's Secrets Manager holds
{"token"} (as lambda/store_setup stores it) and the store is the InfluxDB v2 STAND-IN of tests/support (no v2
server can be installed here; its answers are sourced in test_writer_v2_v3.py)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from ingest_to_influxdb import handler
from ingest_to_influxdb.constants import SYSTEM_ROOTS
from ingest_to_influxdb.environment import INFLUXDB_CA_CERTIFICATE as INFLUXDB_CA_VARIABLE

from tests.support.function_env import FunctionEnv, pressure
from tests.support.influx_v2_standin import InfluxStandIn


def test_the_function_writes_with_the_token_and_follows_its_rotation(
    function: FunctionEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    with InfluxStandIn(flavour="v2") as standin:
        bucket = standin.add_bucket(function.endpoints.influxdb.database)
        monkeypatch.setenv("INFLUXDB_URL", standin.url)
        monkeypatch.setenv(
            INFLUXDB_CA_VARIABLE, SYSTEM_ROOTS
        )  # as the influxdb stack exports it for this store
        secrets = boto3.client("secretsmanager")
        secrets.put_secret_value(
            SecretId=function.secret_arn, SecretString=json.dumps({"username": "writer", "token": "revoked"})
        )
        handler.reset()
        when = datetime.now(UTC) - timedelta(minutes=1)
        with pytest.raises(handler.IngestFailed, match="401: unauthorized access"):
            function.invoke(pressure("tok1", when))  # kept by Lambda's retries and on-failure destination
        secrets.put_secret_value(
            SecretId=function.secret_arn,
            SecretString=json.dumps({"username": "writer", "token": standin.write_token(bucket)}),
        )
        # The same container: the store's 401 makes it read the secret again.
        assert function.invoke(pressure("tok1", when))["written"] == 1
        lines = standin.lines_in(bucket)
        assert [line.split(",")[0] for line in lines if "sensorID=tok1-client" in line] == ["pressure"]
        assert any(line.startswith("ingest_health,") for line in lines)
