"""`make smoke`: after a deploy, one command that says whether the deployment works, one line per check, and exits
non-zero with what to do when one fails.

1. stacks: every stack of the environment is deployed and complete (none failed, rolled back or in progress);
2. grafana: `/grafana/api/health` answers through the CloudFront URL (the edge stack's DistributionDomainName),
   which proves CloudFront's VPC origin reaches the internal ALB and Grafana's task is healthy;
3. reading: a test thing is provisioned as `simulator provision` does (its certificate from IoT Core, or locally
   from the sandbox's CA), publishes one reading over mutual TLS to IoT Core's data endpoint (locally: the
   sandbox's IoT endpoint), and the reading is found written: on AWS in the ingest function's ReadingsWritten
   metric (InfluxDB is inside the VPC), locally in InfluxDB through the reader.

`--local` runs it against the sandbox (`make demo` or `python -m sandbox up` and a deploy of the stacks to its
moto): there is no CloudFront there, so the grafana check says "skipped".
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import boto3
from botocore.exceptions import BotoCoreError, ClientError
from ingest_to_influxdb import environment

from catalog import load_catalog
from infrastructure.deploy import DEPLOYED
from infrastructure.names import DEFAULT_ENVIRONMENT, stack_name
from infrastructure.registry import all_stacks, deploy_order
from infrastructure.stacks import edge
from reach.endpoints import DEFAULT_ROOT, Endpoints, endpoints_file
from reach.influx import InfluxReader, QueryError
from sandbox.manager.deployment import aws_environment

Status = Literal["ok", "FAIL", "skipped"]
HEALTH_PATH = "/grafana/api/health"
METRIC_NAMESPACE = environment.NAMESPACE  # the functions' metrics namespace
WRITTEN_METRIC = "ReadingsWritten"  # ingest_to_influxdb.handler.publish_metrics, dimensions service and kind
FUNCTION_SERVICE = "ingest"
DEFAULT_KIND = "pressure"
AWS_TIMEOUT = 300.0  # the function's metrics reach CloudWatch a minute or two after the reading
LOCAL_TIMEOUT = 60.0
DOCS = "docs/deploying.md, 'Smoke test'"


@dataclass(frozen=True)
class Check:
    name: str
    status: Status
    detail: str
    fix: str = ""  # what to do, when it failed

    def line(self) -> str:
        text = f"{self.status:<7} {self.name}: {self.detail}"
        return f"{text}\n        what to do: {self.fix}" if self.status == "FAIL" and self.fix else text


class SmokeFailed(RuntimeError):
    def __init__(self, check: Check) -> None:
        super().__init__(check.detail)
        self.check = check


# -- 1. the stacks -----------------------------------------------------------------------------------------------
def check_stacks(cloudformation: Any, environment: str) -> Check:
    stacks = all_stacks()
    complete, problems = [], []
    for name in deploy_order(stacks):
        full = stack_name(environment, name)
        try:
            found = cloudformation.describe_stacks(StackName=full)["Stacks"]
        except ClientError as error:
            if "does not exist" not in str(error):
                raise
            found = []
        status = found[0]["StackStatus"] if found else "DELETE_COMPLETE"
        if status == "DELETE_COMPLETE":
            if not stacks[name].left_out_now():  # a stack deployed only when named may be absent
                problems.append(f"{full} is not deployed")
        elif status in DEPLOYED:
            complete.append(name)
        else:
            problems.append(f"{full} is {status}")
    if problems:
        return Check(
            "stacks",
            "FAIL",
            "; ".join(problems),
            f"deploy them (make deploy-all ENVIRONMENT={environment}); a FAILED or ROLLBACK status: read the "
            "stack's events in the CloudFormation console, fix the cause and deploy again",
        )
    return Check("stacks", "ok", f"{len(complete)} complete ({', '.join(complete)})")


def outputs(cloudformation: Any, environment: str, name: str) -> dict[str, str]:
    stack = cloudformation.describe_stacks(StackName=stack_name(environment, name))["Stacks"][0]
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


# -- 2. Grafana through CloudFront -------------------------------------------------------------------------------
def check_grafana(domain: str | None, get: Callable[[str], tuple[int, str]] | None = None) -> Check:
    if domain is None:
        return Check("grafana", "skipped", "no CloudFront locally")
    url = f"https://{domain}{HEALTH_PATH}"
    status, body = (get or _get)(url)
    try:
        database = json.loads(body).get("database") if status == 200 else None
    except (ValueError, AttributeError):
        database = None
    if status == 200 and database == "ok":
        return Check("grafana", "ok", f"{url} answered 200, database ok")
    what = "no answer" if status == 0 else f"{status} {body.strip()[:120]}"
    return Check(
        "grafana",
        "FAIL",
        f"{url}: {what}",
        "a timeout or 502/504: CloudFront cannot reach the internal ALB (its security group must admit the "
        "CloudFront-VPCOrigins-Service-SG group) or Grafana's task is unhealthy (ECS console: the grafana "
        f"service's events and its target group's health); see {DOCS}",
    )


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=15) as response:
            return int(response.status), response.read().decode(errors="replace")
    except urllib.error.HTTPError as error:
        return int(error.code), error.read().decode(errors="replace")
    except OSError as error:
        return 0, str(error)


# -- 3. one reading, from a provisioned thing to the store -------------------------------------------------------
@dataclass(frozen=True)
class Where:
    """Where the test thing connects and how its reading is found written."""

    endpoints_path: Path | None  # the sandbox's endpoints.json; None: AWS
    keys: Path  # the test thing's certificate and key
    ca_file: Path | None  # Amazon's root CA (AWS); the sandbox's CA comes from endpoints.json

    @property
    def local(self) -> Endpoints | None:
        return Endpoints.load(self.endpoints_path) if self.endpoints_path is not None else None


def publish_one(where: Where, kind: str) -> tuple[str, datetime]:
    """Provision one thing of `kind`, publish one reading as it; its name (the MQTT client id) and when."""
    from simulator.api import FleetGroup, run_groups
    from simulator.cli import aws_target
    from simulator.provisioning import provision, thing_name

    name = thing_name(kind, 0)
    local = where.local
    if where.endpoints_path is None or local is None:
        if where.ca_file is None or not where.ca_file.is_file():
            raise SmokeFailed(
                Check(
                    "reading",
                    "FAIL",
                    f"no Amazon root CA at {where.ca_file}",
                    f"curl -o {where.ca_file} https://www.amazontrust.com/repository/AmazonRootCA1.pem",
                )
            )
        list(provision(kind, 1, where.keys))
        target = aws_target(where.ca_file, where.keys)
    else:
        from local_aws.iot.access import local_registry
        from local_aws.iot.ca import LocalCa
        from local_aws.iot.endpoint import RELOAD_SECONDS

        mqtt = local.mqtt
        if mqtt.ca_file is None or mqtt.tls_port is None:
            raise SmokeFailed(
                Check(
                    "reading",
                    "FAIL",
                    "the sandbox has no device endpoint",
                    "restart it: python -m sandbox up",
                )
            )
        with local_registry(where.endpoints_path) as ca:
            list(provision(kind, 1, where.keys, issuer=LocalCa(ca)))
        time.sleep(
            2 * RELOAD_SECONDS
        )  # the local endpoint reloads its access rules this often (as make demo)
        target = aws_target(Path(mqtt.ca_file), where.keys, f"{mqtt.host}:{mqtt.tls_port}")
    since = datetime.now(UTC) - timedelta(seconds=1)
    deadline = time.monotonic() + 15
    while True:  # the local endpoint applies a new registration within a second; IoT Core at once
        try:
            summary = run_groups(None, [FleetGroup(kind, 1)], rate=1, count=1, target=target)
            break
        except ConnectionError as error:
            if time.monotonic() > deadline:
                raise SmokeFailed(
                    Check(
                        "reading",
                        "FAIL",
                        f"{name} could not connect: {error}",
                        "check the thing's certificate is ACTIVE and its policy attached (python -m simulator "
                        f"provision --type {kind} --devices 1), and that this machine reaches port 8883",
                    )
                ) from error
            time.sleep(0.5)
    if summary.acknowledged != 1:
        raise SmokeFailed(
            Check(
                "reading",
                "FAIL",
                f"{name}'s reading was not acknowledged (denied: {summary.denied}, failed: {summary.failed})",
                f"its policy must allow iot:Publish to the kind's topic ({kind}); see {DOCS}",
            )
        )
    return name, since


def written_in_influxdb(endpoints: Endpoints, kind: str, thing: str, since: datetime) -> tuple[int, bool]:
    """Points in the kind's measurement since `since`, through the reader, and whether the thing's own sensor id
    is among them. On AWS the sensor id is the thing (the rule's clientid()); a broker that does not name the
    publisher to the rules (the sandbox's before it passes the client id on) leaves the payload's, so the points
    of the window count then, as the function's metric counts on AWS."""
    measurement = load_catalog().kind(kind).measurement
    reader = InfluxReader.of(endpoints)
    text = (
        f'SELECT count(*) FROM "{measurement}" WHERE time >= {int(since.timestamp() * 1000)}ms '
        'GROUP BY "sensorID"'
    )
    try:
        series = reader.raw(text)
    finally:
        reader.client.close()
    counts = {
        str((s.get("tags") or {}).get("sensorID", "")): max(
            (int(v) for v in s["values"][0][1:] if v), default=0
        )
        for s in series
        if s.get("values")
    }
    return sum(counts.values()), thing in counts


def written_in_metrics(cloudwatch: Any, kind: str, since: datetime) -> int:
    """Readings of `kind` the ingest function counted as written since `since` (its EMF metric)."""
    answer = cloudwatch.get_metric_statistics(
        Namespace=METRIC_NAMESPACE,
        MetricName=WRITTEN_METRIC,
        Dimensions=[{"Name": "service", "Value": FUNCTION_SERVICE}, {"Name": "kind", "Value": kind}],
        StartTime=since - timedelta(minutes=1),
        EndTime=datetime.now(UTC) + timedelta(minutes=1),
        Period=60,
        Statistics=["Sum"],
    )
    return int(sum(point["Sum"] for point in answer.get("Datapoints", [])))


def check_reading(
    where: Where, kind: str, timeout: float, cloudwatch: Any = None, poll: float = 1.0
) -> Check:
    try:
        thing, since = publish_one(where, kind)
    except SmokeFailed as failed:
        return failed.check
    local = where.local
    deadline = time.monotonic() + timeout
    found, as_thing = 0, False
    while True:
        try:
            if local is not None:
                found, as_thing = written_in_influxdb(local, kind, thing, since)
            else:
                found = written_in_metrics(cloudwatch or boto3.client("cloudwatch"), kind, since)
        except QueryError as error:
            return Check("reading", "FAIL", str(error), "is the sandbox up? python -m sandbox status")
        if found or time.monotonic() > deadline:
            break
        time.sleep(poll)
    where_found = "InfluxDB (through the reader)" if local else f"the function's {WRITTEN_METRIC} metric"
    if found:
        named = f" as sensorID {thing}" if as_thing else ""
        return Check("reading", "ok", f"{thing} published one {kind} reading; found in {where_found}{named}")
    fix = (
        "the rule runner or the function did not write it: python -m sandbox status, and its log under .sandbox/logs"
        if local
        else "read the ingest function's log group and the dead-letter queue (docs/operations.md, 'When an alarm "
        "fires'); a reading refused as malformed is in the rejected queue"
    )
    return Check(
        "reading", "FAIL", f"{thing}'s reading was not found in {where_found} within {timeout:g} s", fix
    )


# -- the command -------------------------------------------------------------------------------------------------
def run(
    environment: str,
    local: Path | None,
    keys: Path,
    ca_file: Path | None,
    kind: str = DEFAULT_KIND,
    timeout: float | None = None,
    print_line: Callable[[str], None] = print,
) -> int:
    """Every check in turn, one line each; 0 when none failed. A failed stacks check stops the rest."""
    endpoints_path = endpoints_file(local) if local is not None else None
    endpoints = Endpoints.load(endpoints_path) if endpoints_path is not None else None
    checks: list[Check] = []

    def record(check: Check) -> Check:
        checks.append(check)
        print_line(check.line())
        return check

    context = aws_environment(endpoints) if endpoints is not None else _nothing()
    with context:
        try:
            cloudformation = boto3.client("cloudformation")
            if record(check_stacks(cloudformation, environment)).status != "FAIL":  # the rest needs them
                domain = None
                if endpoints is None:
                    domain = outputs(cloudformation, environment, edge.NAME)[edge.DISTRIBUTION_DOMAIN.output]
                record(check_grafana(domain))
                where = Where(endpoints_path, keys, ca_file)
                record(check_reading(where, kind, timeout or (LOCAL_TIMEOUT if endpoints else AWS_TIMEOUT)))
        except (ClientError, BotoCoreError) as error:
            record(
                Check(
                    "aws",
                    "FAIL",
                    str(error),
                    "check the AWS credentials and region (aws sts get-caller-identity)",
                )
            )
    failed = [c for c in checks if c.status == "FAIL"]
    passed = sum(1 for c in checks if c.status == "ok")
    skipped = len(checks) - passed - len(failed)
    summary = f"smoke: {passed} passed, {skipped} skipped, {len(failed)} failed"
    print_line(summary + (": see 'what to do' above" if failed else ""))
    return 1 if failed else 0


@contextmanager
def _nothing() -> Iterator[None]:
    yield


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ingest_tools.smoke", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--environment", default=DEFAULT_ENVIRONMENT, help="the stacks' environment (default: demo)"
    )
    parser.add_argument(
        "--local",
        type=Path,
        nargs="?",
        const=DEFAULT_ROOT,
        help="against the local sandbox in this folder (default .sandbox) instead of AWS",
    )
    parser.add_argument(
        "--kind", default=DEFAULT_KIND, help="the test thing's device kind (default: pressure)"
    )
    parser.add_argument(
        "--keys",
        type=Path,
        default=Path(".smoke/devices"),
        help="where the test thing's key and certificate go",
    )
    parser.add_argument(
        "--ca-file", type=Path, default=Path(".devices/AmazonRootCA1.pem"), help="Amazon's root CA (AWS only)"
    )
    parser.add_argument("--timeout", type=float, help="seconds to wait for the reading to be found written")
    args = parser.parse_args(argv)
    try:
        return run(args.environment, args.local, args.keys, args.ca_file, args.kind, args.timeout)
    except FileNotFoundError as error:
        print(f"FAIL    setup: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
