"""`python -m local_aws.rds_data` as the sandbox starts it: it listens on its port, answers, and stops on SIGTERM;
a connection MariaDB closed is reopened."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from typing import Any

from reach.endpoints import Endpoints
from sandbox.manager.processes import free_port
from tests.support.mariadb import CLUSTER_ARN, MariaDb, aws_client


def listening(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.2)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def test_the_command_serves_until_sigterm(endpoints: Endpoints, mariadb: MariaDb, master_secret: str) -> None:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "local_aws.rds_data", "--host", "127.0.0.1", "--port", str(port),
         "--cluster-arn", CLUSTER_ARN, "--mysql-host", mariadb.host, "--mysql-port", str(mariadb.port),
         "--aws-endpoint", endpoints.aws.endpoint_url],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while not listening(port):
            assert process.poll() is None and time.monotonic() < deadline, (
                process.stdout and process.stdout.read()
            )
            time.sleep(0.05)
        client = aws_client(endpoints, "rds-data", f"http://127.0.0.1:{port}")
        answer = client.execute_statement(
            resourceArn=CLUSTER_ARN, secretArn=master_secret, sql="SELECT 1 + 1"
        )
        assert answer["records"] == [[{"longValue": 2}]]
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=20)
    assert process.returncode == 0, output
    assert "rds-data stopped: 1 requests" in output


def test_a_connection_the_database_closed_is_reopened(
    rds_data: Any, master_secret: str, mariadb: MariaDb
) -> None:
    target = {"resourceArn": CLUSTER_ARN, "secretArn": master_secret}
    first = rds_data.execute_statement(**target, sql="SELECT CONNECTION_ID()")["records"][0][0]["longValue"]
    with mariadb.admin() as admin, admin.cursor() as cursor:
        cursor.execute(f"KILL {int(first)}")
    second = rds_data.execute_statement(**target, sql="SELECT CONNECTION_ID()")["records"][0][0]["longValue"]
    assert second != first
