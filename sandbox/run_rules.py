"""`python -m sandbox.run_rules`: the rule runner as a background process of the sandbox.

It reads the rules from the synthesized ingest template and the deployed stack (parameters, physical
ids, exports) in moto, subscribes to the rules' topics on the local broker, and writes its counters
to `rule-runner.json` in the sandbox folder until it receives SIGTERM; then it stops taking messages,
finishes what it has, and writes the final counters.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

import boto3
from awscrt import io, mqtt
from ingest_to_influxdb.kinds import FILE_VARIABLE

from sandbox.endpoints import Endpoints, mqtt_login
from sandbox.function_code import write_packed_kinds
from sandbox.iot_sql import RuleSqlError
from sandbox.rule_runner import RuleRunner, load_rules, write_stats
from sandbox.template import DeployedTemplate, TemplateError

STATS_FILE = "rule-runner.json"


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
    """Where the function's environment must point instead of AWS: the local InfluxDB and its secret."""
    secret = boto3.client("secretsmanager").describe_secret(SecretId=writer_secret_name)
    return {"INFLUXDB_URL": endpoints.influxdb.url, "INFLUXDB_SECRET_ARN": secret["ARN"]}


def connect(endpoints: Endpoints, client_id: str, topics: list[str], runner: RuleRunner) -> mqtt.Connection:
    def on_message(topic: str, payload: bytes, **_: Any) -> None:
        runner.on_message(topic, payload)

    def resubscribe(connection: mqtt.Connection, session_present: bool, **_: Any) -> None:
        if not session_present:
            for topic in topics:
                connection.subscribe(topic, mqtt.QoS.AT_LEAST_ONCE)

    bootstrap = io.ClientBootstrap.get_or_create_static_default()
    username, password = mqtt_login(endpoints)
    connection = mqtt.Connection(
        client=mqtt.Client(bootstrap),
        host_name=endpoints.mqtt.host,
        port=endpoints.mqtt.port,
        client_id=client_id,
        username=username,
        password=password,
        disable_metrics=True,  # awscrt would append its metrics to the user name
        clean_session=False,  # the broker keeps our QoS 1 messages while we reconnect
        keep_alive_secs=30,
        on_connection_resumed=resubscribe,
    )
    # One handler for every message, so what the broker kept for this session while we were away is not
    # missed before the subscriptions are renewed.
    connection.on_message(on_message)
    connection.connect().result(timeout=10)
    for topic in topics:
        future, _ = connection.subscribe(topic, mqtt.QoS.AT_LEAST_ONCE)
        future.result(timeout=10)
    return connection


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox.run_rules", description=__doc__)
    parser.add_argument("--root", type=Path, required=True, help="the sandbox folder (endpoints.json)")
    parser.add_argument("--template", type=Path, required=True, help="the synthesized ingest template")
    parser.add_argument("--stack", required=True, help="the deployed ingest stack's name")
    parser.add_argument("--writer-secret", required=True, help="the writer secret's name in Secrets Manager")
    args = parser.parse_args(argv)

    endpoints = Endpoints.load(args.root / "endpoints.json")
    os.environ.update(endpoints.aws.env())
    deployed = deployed_template(args.template, args.stack, endpoints.aws.region, endpoints.aws.account_id)
    try:
        overrides = local_overrides(endpoints, args.writer_secret)
        overrides[FILE_VARIABLE] = str(write_packed_kinds(deployed, args.root))
        rules, mappings = load_rules(deployed, overrides)
    except (RuleSqlError, TemplateError) as error:
        print(f"rule runner: cannot play the rules: {error}", file=sys.stderr, flush=True)
        return 2
    take_over_event_source_mappings({mapping.function.name for mapping in mappings})
    runner = RuleRunner(rules, mappings, endpoints.aws.region)
    runner.start()
    connection = connect(endpoints, f"local-rules-{args.stack}", runner.topic_filters, runner)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stats = args.root / STATS_FILE
    rules_text = ", ".join(f"{r.name} ({r.query.topic_filter})" for r in rules)
    print(f"rule runner: {len(rules)} rules: {rules_text}; {len(mappings)} queue mappings", flush=True)
    while not stop.wait(0.2):
        write_stats(stats, runner)
    connection.disconnect().result(timeout=10)
    runner.stop()
    write_stats(stats, runner)
    print(f"rule runner stopped: {runner.counters.snapshot()}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
