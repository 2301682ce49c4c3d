"""The influxdb task's backup containers as the stack defines them (infrastructure/stacks/influxdb_backup.py), run
here beside the task's own influxd: `backup` (services/influxdb/backup-loop.sh) and `backup-upload`
(upload-loop.sh). A backup reaches the bucket (moto's S3) and is counted for the BackupMissing alarm (moto's
CloudWatch); with RestoreBackup set it comes back into the running InfluxDB, and is recorded as restored.

Stand-ins: the AWS CLI's two commands (tests/services/aws_cli_standin.py, through boto3 to moto), and the shared
EFS directory is a local one. ECS's part, starting the three containers with their environment, is done here.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from catalog.loader import PROJECT_ROOT
from infrastructure.stacks import influxdb, influxdb_backup
from reach.endpoints import Endpoints
from tests.support.influx_task import (
    InfluxTask,
    aws_client,
    credentials,
    running_task,
    secrets_client,
)

BUCKET = f"backups-{uuid.uuid4().hex[:8]}"


def container_environment(name: str) -> dict[str, Any]:
    """The container's environment in the synthesized influxdb template (values as CloudFormation has them)."""
    template = influxdb.build().to_dict()
    (definition,) = [r for r in template["Resources"].values() if r["Type"] == "AWS::ECS::TaskDefinition"]
    (container,) = [c for c in definition["Properties"]["ContainerDefinitions"] if c["Name"] == name]
    variables = {v["Name"]: v["Value"] for v in container["Environment"]}
    variables.update({s["Name"]: "(secret)" for s in container.get("Secrets", [])})
    return variables


@pytest.fixture(scope="module")
def task(endpoints: Endpoints, tmp_path_factory: pytest.TempPathFactory) -> Iterator[InfluxTask]:
    with running_task(
        secrets_client(endpoints), "loop", tmp_path_factory.mktemp("influx-backup-task")
    ) as task:
        yield task


@pytest.fixture(scope="module")
def aws(endpoints: Endpoints, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """PATH with the stand-in `aws` first, and the environment that points it (and boto3 here) at moto."""
    folder = tmp_path_factory.mktemp("aws-cli")
    cli = folder / "aws"
    cli.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m tests.services.aws_cli_standin "$@"\n')
    cli.chmod(0o755)
    env = {**endpoints.aws.env(), "PATH": f"{folder}:{os.environ['PATH']}", "PYTHONPATH": str(PROJECT_ROOT)}
    aws_client(endpoints, "s3").create_bucket(Bucket=BUCKET)
    return env


def environments(task: InfluxTask, aws: dict[str, str], restore: str | None) -> dict[str, dict[str, str]]:
    """Each container's environment: the template's variables, with this machine's paths and ports."""
    admin, password = credentials(task.secrets, task.environment, "admin")
    common = {
        **aws,
        "TMPDIR": str(task.root),
        "HOME": str(task.root),
        "INFLUXDB_BACKUP_DIR": str(task.root / "efs" / "backups"),
        "POLL_SECONDS": "1",
        **({"INFLUXDB_RESTORE": restore} if restore else {}),
    }
    return {
        influxdb_backup.BACKUP_CONTAINER: {
            **common,
            "BACKUP_INFLUXDB_SH": influxdb_backup.script("backup-influxdb.sh"),
            "RESTORE_INFLUXDB_SH": influxdb_backup.script("restore-influxdb.sh"),
            "INFLUXDB_DB": "telemetry",
            "INFLUXDB_BACKUP_INTERVAL": "3600",
            "INFLUXDB_PORT": str(task.http),  # the task's: 8086 and influxd's RPC default 127.0.0.1:8088
            "INFLUXDB_RPC": f"127.0.0.1:{task.rpc}",
            "INFLUXDB_ADMIN_USER": admin,
            "INFLUXDB_ADMIN_PASSWORD": password,
            "INFLUXDB_TLS_CA_CERTIFICATE": Path(task.ca_file).read_text(),
        },
        influxdb_backup.UPLOAD_CONTAINER: {
            **common,
            "BACKUP_BUCKET": BUCKET,
            "BACKUP_PREFIX": influxdb_backup.PREFIX,
            "METRIC_NAMESPACE": influxdb_backup.METRIC_NAMESPACE,
            "METRIC_NAME": influxdb_backup.METRIC,
            "ENVIRONMENT_NAME": task.environment,
        },
    }


class Containers:
    """The two containers' commands, started and stopped (SIGTERM, as ECS does) together."""

    SCRIPTS = {
        influxdb_backup.BACKUP_CONTAINER: "backup-loop.sh",
        influxdb_backup.UPLOAD_CONTAINER: "upload-loop.sh",
    }

    def __init__(self, task: InfluxTask, aws: dict[str, str], restore: str | None = None) -> None:
        self.backups = task.root / "efs" / "backups"
        self.logs = {name: task.root / f"{name}.log" for name in self.SCRIPTS}
        self.processes = []
        for name, env in environments(task, aws, restore).items():
            with self.logs[name].open("ab") as log:
                self.processes.append(
                    subprocess.Popen(
                        ["sh", "-c", influxdb_backup.script(self.SCRIPTS[name])],
                        env=env,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
                )

    def stop(self) -> None:
        for process in self.processes:
            process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=5)

    def text(self) -> str:
        return "\n".join(path.read_text(errors="replace") for path in self.logs.values())


def wait_for(check: Callable[[], bool], containers: Containers, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, (
            f"not within {timeout} s; the containers' logs:\n{containers.text()}"
        )
        time.sleep(0.2)


def backups_in_bucket(endpoints: Endpoints) -> list[str]:
    s3 = aws_client(endpoints, "s3")
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix=influxdb_backup.PREFIX).get("Contents", [])
    return sorted({item["Key"].split("/")[1] for item in listed if item["Key"].endswith(".manifest")})


def count(task: InfluxTask, sensor: str) -> int:
    user, password = credentials(task.secrets, task.environment, "admin")
    series = task.query(f'SELECT count(*) FROM "pressure" WHERE "sensorID" = \'{sensor}\'', user, password)
    return int(series[0]["values"][0][1]) if series else 0


def test_each_container_gets_the_variables_of_the_template(task: InfluxTask, aws: dict[str, str]) -> None:
    for name, given in environments(task, aws, restore="s3://b/influxdb/x/").items():
        assert set(container_environment(name)) <= set(given), name


def test_backed_up_to_the_bucket_and_restored_once(
    task: InfluxTask, aws: dict[str, str], endpoints: Endpoints
) -> None:
    user, password = credentials(task.secrets, task.environment, "writer")
    at = (int(time.time()) - 600) * 1000
    lines = "\n".join(f"pressure,sensorID=looped pressureValue={i}.5 {at + i}" for i in range(40))
    assert (
        requests.post(
            f"{task.url}/write",
            params={"db": "telemetry", "precision": "ms"},
            auth=(user, password),
            data=lines,
            timeout=30,
            verify=task.ca_file,
        ).status_code
        == 204
    )

    containers = Containers(task, aws)
    try:
        wait_for(lambda: bool(backups_in_bucket(endpoints)), containers)
        wait_for(
            lambda: not any((containers.backups / "outgoing").iterdir()), containers
        )  # deleted once uploaded
    finally:
        containers.stop()
    (name,) = backups_in_bucket(endpoints)
    metrics = aws_client(endpoints, "cloudwatch").list_metrics(
        Namespace=influxdb_backup.METRIC_NAMESPACE, MetricName=influxdb_backup.METRIC
    )["Metrics"]
    assert {"Name": "Environment", "Value": task.environment} in [d for m in metrics for d in m["Dimensions"]]

    admin, admin_password = credentials(task.secrets, task.environment, "admin")
    task.query('DELETE FROM "pressure" WHERE "sensorID" = \'looped\'', admin, admin_password)
    assert count(task, "looped") == 0

    source = f"s3://{BUCKET}/{influxdb_backup.PREFIX}{name}/"
    containers = Containers(task, aws, restore=source)
    try:
        wait_for(lambda: (containers.backups / "restored" / name).exists(), containers)
    finally:
        containers.stop()
    assert count(task, "looped") == 40
    assert (containers.backups / "restored" / name).read_text().strip()  # when: later starts skip it
