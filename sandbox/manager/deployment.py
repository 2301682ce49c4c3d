"""The whole local deployment: services up, every stack deployed to moto, metadata loaded, rules running."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
from sql_setup.constants import PASSWORD_KEY, USERNAME_KEY
from sql_setup.setup import SetupError, run_setup

from catalog.loader import PROJECT_ROOT
from infrastructure import compat
from infrastructure.names import stack_name
from infrastructure.stacks import influxdb, ingest, ingest_stream, relational, webhook
from local_aws.apigateway import http_api
from local_aws.runner import STATS_FILE
from reach.endpoints import (
    STREAM_FAILURES_KEY,
    STREAM_KEY,
    Endpoints,
    Login,
    WebhookEndpoint,
    environment_set,
)
from sandbox.manager import processes
from sandbox.manager.processes import SandboxError
from sandbox.manager.services import Sandbox

TEMPLATES = PROJECT_ROOT / "build" / "templates"
SAMPLE_METADATA = PROJECT_ROOT / "sample-data" / "device-metadata.json"
RULE_RUNNER = "rule-runner"
WEBHOOK_GATEWAY = "webhook-gateway"
ROLES = ("admin", "writer", "reader")


@contextmanager
def aws_environment(endpoints: Endpoints) -> Iterator[None]:
    """Point boto3 (and anything it runs) at moto for the duration."""
    with environment_set(endpoints.aws.env()):
        yield


# moto's CloudFormation cannot update every stack of an older version of the templates in place (infrastructure/
# compat.py names what it lacks); moto keeps its state in memory only, so a restart deploys the stacks afresh,
# while the broker's sessions, the stored events and the ingest queue are kept on disk.
IN_PLACE_HINT = (
    "if this sandbox ran an older version of the stacks, moto may not update them in place: "
    "run 'make down', then 'make demo' (or 'python -m sandbox up') deploys them afresh and keeps every "
    "reading the broker, the event store and the queues hold"
)


def _run(argv: list[str], what: str, env: dict[str, str] | None = None, hint: str = "") -> None:
    result = subprocess.run(argv, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        output = (result.stdout + result.stderr).strip().splitlines()
        advice = f"\n{hint}" if hint else ""
        raise SandboxError(
            f"{what} failed (status {result.returncode}):\n" + "\n".join(output[-25:]) + advice
        )


def deploy_stacks(
    endpoints: Endpoints,
    environment: str,
    ingest_path: str,
    templates: Path,
    parameters: dict[str, str] | None = None,
) -> None:
    python = [sys.executable, "-m", "infrastructure"]
    extra = [f"--param={name}={value}" for name, value in (parameters or {}).items()]
    env = {**os.environ, **endpoints.aws.env()}
    _run([*python, "synth", "--out", str(templates)], "synthesizing the stacks", env)
    _run(
        [
            *python, "deploy", "--all", "--yes", "--environment", environment,
            "--endpoint-url", endpoints.aws.endpoint_url, "--param", f"IngestPath={ingest_path}", *extra,
        ],
        "deploying the stacks to the local AWS endpoint (moto)",
        env,
        IN_PLACE_HINT,
    )  # fmt: skip


def create_secrets(endpoints: Endpoints, environment: str) -> dict[str, str]:
    """Secrets Manager secrets in moto holding the local users' credentials (moto's CloudFormation skips them)."""
    client = boto3.client("secretsmanager")
    users = endpoints.influxdb.users
    arns = {}
    for role, username in influxdb.ROLES.items():
        user = getattr(users, role)
        if username != user.username:
            raise SandboxError(
                f"the stacks name the {role} user '{username}' but the local InfluxDB has '{user.username}'"
            )
        arns[role] = put_login(client, influxdb.secret_name(role, environment), user)
    return arns


def put_login(client: Any, name: str, user: Login) -> str:
    """A user's secret in moto, {"username", "password"} as the stacks' secrets hold it (made, or its value put
    again): its ARN."""
    value = json.dumps({USERNAME_KEY: user.username, PASSWORD_KEY: user.password})
    try:
        return str(client.create_secret(Name=name, SecretString=value)["ARN"])
    except client.exceptions.ResourceExistsException:
        return str(client.put_secret_value(SecretId=name, SecretString=value)["ARN"])


def create_sql_secrets(endpoints: Endpoints, environment: str) -> dict[str, str]:
    """The SQL sink's users' secrets in moto (`<env>/sql/<role>`, as the relational stack makes them on AWS), with
    the sandbox's passwords: their ARNs by role (none without a SQL sink)."""
    if endpoints.sql is None:
        return {}
    client = boto3.client("secretsmanager")
    return {
        role: put_login(client, relational.secret_name(role, environment), user)
        for role, user in endpoints.sql.users.items()
    }


def set_up_sql(endpoints: Endpoints, environment: str) -> Endpoints:
    """The SQL sink's secrets, and its set-up step run through the local RDS Data API, as the stack's custom
    resource runs it: the database, the tables and the writer and reader users. Idempotent, so a returning
    sandbox keeps its rows. Returns the endpoints with the secrets' ARNs."""
    sql = endpoints.sql
    if sql is None:
        return endpoints
    arns = create_sql_secrets(endpoints, environment)
    data_api = boto3.client("rds-data", endpoint_url=sql.data_api_url)
    try:
        run_setup(
            data_api, boto3.client("secretsmanager"), sql.cluster_arn, arns["master"], arns["writer"],
            arns["reader"], sql.database,
        )  # fmt: skip
    except SetupError as error:
        raise SandboxError(f"setting up the local SQL sink failed: {error}") from None
    return endpoints.model_copy(update={"sql": sql.model_copy(update={"secrets": arns})})


def stack_outputs(stack_name: str) -> dict[str, str]:
    stack = boto3.client("cloudformation").describe_stacks(StackName=stack_name)["Stacks"][0]
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


def ingest_queue_url(stack_name: str, outputs: dict[str, str]) -> str | None:
    """The ingest queue of a stack deployed on the queued path; None on the direct path.

    From the stack's resource when its output is missing: moto's execution of an update change set keeps the
    previous template's outputs (its ChangeSet.apply never rebuilds them), so a sandbox switched from the direct
    to the queued path had no IngestQueueUrl output and counted the queue's readings as lost."""
    client = boto3.client("cloudformation")
    (stack,) = client.describe_stacks(StackName=stack_name)["Stacks"]
    deployed = {p["ParameterKey"]: p.get("ParameterValue") for p in stack.get("Parameters", [])}
    if deployed.get(ingest.INGEST_PATH_PARAMETER) != "queued":
        return None
    if outputs.get(ingest.INGEST_QUEUE_URL.output):
        return outputs[ingest.INGEST_QUEUE_URL.output]
    resource = client.describe_stack_resource(StackName=stack_name, LogicalResourceId=ingest.INGEST_QUEUE)
    return str(resource["StackResourceDetail"]["PhysicalResourceId"])


def stream_queues(stack_name: str, outputs: dict[str, str], region: str, account_id: str) -> dict[str, str]:
    """On the stream path, the stream's ARN (`ingest_stream`) and the on-failure bucket (`stream_failures`), from
    the stack's resources when moto kept an earlier template's outputs (see `ingest_queue_url`); else nothing."""
    client = boto3.client("cloudformation")
    (stack,) = client.describe_stacks(StackName=stack_name)["Stacks"]
    deployed = {p["ParameterKey"]: p.get("ParameterValue") for p in stack.get("Parameters", [])}
    if deployed.get(ingest.INGEST_PATH_PARAMETER) != ingest_stream.STREAM:
        return {}

    def physical(logical_id: str, output: str) -> str:
        if outputs.get(output):
            return outputs[output]
        found = client.describe_stack_resource(StackName=stack_name, LogicalResourceId=logical_id)
        return str(found["StackResourceDetail"]["PhysicalResourceId"])

    name = physical(ingest_stream.INGEST_STREAM, ingest.INGEST_STREAM_NAME.output)
    return {
        STREAM_KEY: f"arn:aws:kinesis:{region}:{account_id}:stream/{name}",
        STREAM_FAILURES_KEY: physical(
            ingest_stream.STREAM_FAILURE_BUCKET, ingest.STREAM_FAILURE_BUCKET_NAME.output
        ),
    }


def start_stand_in(
    sandbox: Sandbox,
    name: str,
    module: str,
    stats: Path,
    template: Path,
    stack: str,
    writer_secret: str,
    *more: str,
) -> None:
    """A stand-in of local_aws (`module`) as a background process of the sandbox, playing `stack` from its
    `template`; ready once it wrote its `stats` file."""
    processes.stop(name, sandbox.pid_file(name))
    stats.unlink(missing_ok=True)
    processes.start(
        name,
        [
            sys.executable, "-m", module, "--root", str(sandbox.root), "--template", str(template),
            "--stack", stack, "--writer-secret", writer_secret, *more,
        ],
        pid_file=sandbox.pid_file(name),
        log_file=sandbox.log_file(name),
        ready=stats.exists,
        timeout=60,
        env={**os.environ, "PYTHONPATH": f"{PROJECT_ROOT}:{PROJECT_ROOT / 'lambda'}"},
    )  # fmt: skip


def read_stats(path: Path) -> dict[str, Any]:
    """A stand-in's stats file; {} while there is none (or it cannot be read)."""
    try:
        stats: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return stats


def start_rule_runner(sandbox: Sandbox, templates: Path, environment: str, writer_secret: str) -> None:
    start_stand_in(
        sandbox, RULE_RUNNER, "local_aws.runner", sandbox.root / STATS_FILE, templates / "ingest.json",
        stack_name(environment, ingest.NAME), writer_secret,
    )  # fmt: skip


def rule_runner_stats(sandbox: Sandbox) -> dict[str, Any]:
    return read_stats(sandbox.root / STATS_FILE)


def start_webhook_gateway(
    sandbox: Sandbox, templates: Path, environment: str, writer_secret: str
) -> WebhookEndpoint:
    """The gateway as a background process of the sandbox; where it listens and the secret it expects."""
    secret_name = f"{environment}/webhook/callback"
    http_api.create_callback_secret(secret_name)
    stats = sandbox.root / http_api.STATS_FILE
    start_stand_in(
        sandbox, WEBHOOK_GATEWAY, "local_aws.apigateway.http_api", stats, templates / "webhook.json",
        stack_name(environment, webhook.NAME), writer_secret, "--callback-secret", secret_name,
    )  # fmt: skip
    return WebhookEndpoint(url=json.loads(stats.read_text())["url"], secret_name=secret_name)


def webhook_gateway_stats(sandbox: Sandbox) -> dict[str, Any]:
    return read_stats(sandbox.root / http_api.STATS_FILE)


def deploy_local(
    sandbox: Sandbox,
    environment: str = "demo",
    ingest_path: str = "direct",
    templates: Path = TEMPLATES,
    metadata: Path = SAMPLE_METADATA,
    parameters: dict[str, str] | None = None,
) -> Endpoints:
    """Everything `make demo` needs running: the local stand-in for a deployment on AWS. `parameters` are
    more stack parameters (e.g. a kind's topic: PressureTopic=/plant1/pressure)."""
    endpoints = sandbox.up()
    try:
        with aws_environment(endpoints):
            deploy_stacks(endpoints, environment, ingest_path, templates, parameters)
    except SandboxError as error:
        if compat.MOTO_LOST not in " ".join(str(error).split()):  # (as the deploy tool's console wrapped it)
            raise
        # moto cannot put such a stack right in place (infrastructure/compat.py); it keeps its state in memory only,
        # so restarted it takes every stack afresh, while the broker, the event store and the queues keep theirs.
        print(
            "the local AWS (moto) lost part of a stack in this redeploy: restarting the local services to deploy "
            "every stack afresh (every reading the broker, the event store and the queues hold is kept)",
            flush=True,
        )
        sandbox.down()
        endpoints = sandbox.up()
        with aws_environment(endpoints):
            deploy_stacks(endpoints, environment, ingest_path, templates, parameters)
    with aws_environment(endpoints):
        secrets = create_secrets(endpoints, environment)
        endpoints = set_up_sql(endpoints, environment)
        outputs = stack_outputs(stack_name(environment, ingest.NAME))
        _run(
            [
                sys.executable, "-m", "ingest_tools.load_metadata", str(metadata),
                "--table", outputs[ingest.METADATA_TABLE_NAME.output],
            ],
            f"loading {metadata.name} into {outputs[ingest.METADATA_TABLE_NAME.output]}",
            {**os.environ, **endpoints.aws.env()},
        )  # fmt: skip
        endpoints = endpoints.model_copy(
            update={
                "queues": {
                    "dead_letter": outputs[ingest.DEAD_LETTER_QUEUE_URL.output],
                    "rejected": outputs[ingest.REJECTED_QUEUE_URL.output],
                    **(
                        {"ingest": queue}
                        if (queue := ingest_queue_url(stack_name(environment, ingest.NAME), outputs))
                        else {}
                    ),
                    **stream_queues(
                        stack_name(environment, ingest.NAME),
                        outputs,
                        endpoints.aws.region,
                        endpoints.aws.account_id,
                    ),
                }
            }
        )
        endpoints.save(sandbox.endpoints_path)
        start_rule_runner(sandbox, templates, environment, secrets["writer"])
        webhook = start_webhook_gateway(sandbox, templates, environment, secrets["writer"])
        endpoints = endpoints.model_copy(update={"webhook": webhook})
        endpoints.save(sandbox.endpoints_path)
    return endpoints
