"""`python -m local_aws.runner`: the rule runner as a background process of the sandbox.

It reads the rules from the synthesized ingest template and the deployed stack (parameters, physical
ids, exports) in moto, subscribes to the rules' topics on the local broker, and writes its counters
to `rule-runner.json` in the sandbox folder until it receives SIGTERM; then it stops taking messages,
finishes the hand-off under way, and writes the final counters. What it had not acknowledged stays
with the broker, and stored events stay in the event store, for the next start. If one of its threads
dies, it writes that into its counters and exits with status 3.
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import signal
import sys
import threading
from pathlib import Path

import boto3
from ingest_to_influxdb import environment
from ingest_to_influxdb.kinds import FILE_VARIABLE

from local_aws.cloudformation.template import DeployedTemplate, TemplateError
from local_aws.iot.mqtt_session import Intake
from local_aws.iot.sql import RuleSqlError
from local_aws.iot.subscriptions import SUBSCRIPTIONS_FILE, SubscriptionRecord
from local_aws.kinesis import streams as local_streams
from local_aws.lambda_.event_store import EventStore
from local_aws.lambda_.function_zip import write_packed_kinds
from local_aws.rule_runner import RuleRunner, load, write_stats
from local_aws.sqs.queues import STORE_FILE, LocalQueues
from reach.endpoints import Endpoints, endpoints_file

STATS_FILE = "rule-runner.json"
EVENT_STORE = "lambda-events.sqlite"  # the direct path's stand-in for Lambda's asynchronous event queue


def deployed_template(template_path: Path, stack_name: str, region: str, account_id: str) -> DeployedTemplate:
    cloudformation = boto3.client("cloudformation")
    stack = cloudformation.describe_stacks(StackName=stack_name)["Stacks"][0]
    resources = cloudformation.describe_stack_resources(StackName=stack_name)["StackResources"]
    exports: dict[str, str] = {}
    for page in cloudformation.get_paginator("list_exports").paginate():
        exports.update(
            {e["Name"]: e.get("Value", "") for e in page["Exports"]}
        )  # moto: none for skipped types
    return DeployedTemplate(
        template=json.loads(template_path.read_text()),
        parameters={p["ParameterKey"]: p.get("ParameterValue", "") for p in stack.get("Parameters", [])},
        region=region,
        account_id=account_id,
        stack_name=stack_name,
        # moto lists the types it does not model without ids: those have no physical resource to point at.
        physical_ids={
            r["LogicalResourceId"]: r["PhysicalResourceId"] for r in resources if r.get("PhysicalResourceId")
        },
        exports=exports,
    )


def take_over_event_source_mappings(function_names: set[str]) -> int:
    """Disable moto's own SQS event source mappings: it would invoke the function in Docker, which is not
    here, and each failed try counts as a receive, so messages end in the dead letters. The runner plays them."""
    client, disabled = boto3.client("lambda"), 0
    for name in function_names:
        for mapping in client.list_event_source_mappings(FunctionName=name).get("EventSourceMappings", []):
            if mapping.get("State") != "Disabled":
                client.update_event_source_mapping(UUID=mapping["UUID"], Enabled=False)
                disabled += 1
    return disabled


def local_overrides(endpoints: Endpoints, writer_secret_name: str) -> dict[str, str]:
    """Where the function's environment must point instead of AWS: the local InfluxDB (over HTTPS, verified against
    the sandbox's CA) and its secret; the local SQL sink (MariaDB through the local RDS Data API) and its writer's
    secret, which a catalog with a SQL kind needs."""
    secret = boto3.client("secretsmanager").describe_secret(SecretId=writer_secret_name)
    sql = endpoints.sql.function_environment() if endpoints.sql else {}
    return {
        **endpoints.influxdb.function_environment(),
        environment.INFLUXDB_SECRET_ARN: secret["ARN"],
        **sql,
    }


def stack_parser(prog: str, description: str | None, stack: str) -> argparse.ArgumentParser:
    """The options of a process that plays a deployed stack: the sandbox, the stack's template and name, and the
    secret its functions write to InfluxDB with (the rule runner: the ingest stack; the gateway: the webhook's)."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--root", type=Path, required=True, help="the sandbox folder (endpoints.json)")
    parser.add_argument("--template", type=Path, required=True, help=f"the synthesized {stack} template")
    parser.add_argument("--stack", required=True, help=f"the deployed {stack} stack's name")
    parser.add_argument("--writer-secret", required=True, help="the InfluxDB writer secret's name")
    return parser


def play_stack(args: argparse.Namespace) -> tuple[Endpoints, DeployedTemplate]:
    """The sandbox's endpoints, this process's AWS settings pointed at its moto, and the stack as deployed there."""
    endpoints = Endpoints.load(endpoints_file(args.root))
    os.environ.update(endpoints.aws.env())
    return endpoints, deployed_template(
        args.template, args.stack, endpoints.aws.region, endpoints.aws.account_id
    )


def main(argv: list[str] | None = None) -> int:
    args = stack_parser("python -m local_aws.runner", __doc__, "ingest").parse_args(argv)
    endpoints, deployed = play_stack(args)
    try:
        overrides = local_overrides(endpoints, args.writer_secret)
        overrides[FILE_VARIABLE] = str(write_packed_kinds(deployed, args.root))
        loaded = load(deployed, overrides)
        rules, mappings = loaded.rules, loaded.mappings
    except (RuleSqlError, TemplateError) as error:
        print(f"rule runner: cannot play the rules: {error}", file=sys.stderr, flush=True)
        return 2
    take_over_event_source_mappings(
        {m.function.name for m in mappings} | {m.function.name for m in loaded.stream_mappings}
    )
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    runner = RuleRunner(
        rules,
        mappings,
        endpoints.aws.region,
        EventStore(args.root / EVENT_STORE),
        LocalQueues(args.root / STORE_FILE),
        streams=local_streams.LocalStreams(args.root / local_streams.STORE_FILE),
        stream_mappings=loaded.stream_mappings,
    )
    runner.start()
    client_id = f"local-rules-{args.stack}"
    intake = Intake(
        endpoints,
        client_id,
        runner.topic_filters,
        runner.on_delivery,
        SubscriptionRecord(args.root / SUBSCRIPTIONS_FILE, client_id),
    )
    intake.start()
    # Every message makes short-lived objects without cycles: collect less often, and never scan again what the
    # start-up made (boto3, the templates), which full collections otherwise walked at a few thousand a second.
    gc.freeze()
    gc.set_threshold(20_000, 50, 50)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stats = args.root / STATS_FILE
    rules_text = ", ".join(f"{r.name} ({r.query.topic_filter})" for r in rules)
    print(
        f"rule runner: {len(rules)} rules: {rules_text}; {len(mappings)} queue mappings, "
        f"{len(loaded.stream_mappings)} stream mappings",
        flush=True,
    )
    while not stop.wait(0.2) and not runner.supervisor.failed.is_set():
        write_stats(stats, runner)
    runner.stop()
    intake.stop()
    write_stats(stats, runner)
    if runner.supervisor.failure:
        print(f"rule runner failed: {runner.supervisor.failure}", file=sys.stderr, flush=True)
        return 3
    print(f"rule runner stopped: {runner.counters.snapshot()}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
