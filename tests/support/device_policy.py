"""The ingest stack's device policy of a kind as CloudFormation renders it (partition `aws`), for the tests of
the local IoT endpoint, which judge devices by it, and a STAND-IN for the stack where moto was reset: the same
policy created under the same name, as CloudFormation would."""

from __future__ import annotations

import json
import re
from typing import Any

import boto3

from catalog import load_catalog
from infrastructure.stacks import ingest

_SUB = re.compile(r"\$\{(!?)([^}]+)\}")


def policy_document(
    region: str,
    account: str,
    topic: str,
    basic_ingest: bool = False,
    environment: str = "demo",
    kind: str = "pressure",
) -> dict[str, Any]:
    """The kind's policy with the stack's parameters: `topic` its <Kind>Topic, `basic_ingest` its BasicIngest."""
    device_kind = load_catalog().kind(kind)
    values = {
        "AWS::Partition": "aws",
        "AWS::Region": region,
        "AWS::AccountId": account,
        "EnvironmentName": environment,
        device_kind.topic_parameter: topic,
    }
    conditions = {ingest.basic_ingest_condition(device_kind): basic_ingest}

    def render(node: Any) -> Any:
        if isinstance(node, dict):
            if set(node) == {"Fn::Sub"}:
                return _SUB.sub(
                    lambda m: "${" + m.group(2) + "}" if m.group(1) else values[m.group(2)], node["Fn::Sub"]
                )
            if set(node) == {"Fn::If"}:
                name, yes, no = node["Fn::If"]
                return render(yes if conditions[name] else no)
            return {key: render(value) for key, value in node.items()}
        if isinstance(node, list):
            return [render(item) for item in node]
        return node

    document = json.loads(
        json.dumps(ingest.device_policy_document(device_kind), default=lambda o: o.to_dict())
    )
    rendered: dict[str, Any] = render(document)
    return rendered


def create_device_policy(kind: str = "pressure", environment: str = "demo", topic: str | None = None) -> str:
    """STAND-IN for the ingest stack on a reset moto: its policy for `kind`, by its name; the name."""
    client = boto3.client("iot")
    region = client.meta.region_name
    account = boto3.client("sts").get_caller_identity()["Account"]
    name = f"{environment}-{kind}-device-policy"
    document = policy_document(
        region, account, topic or load_catalog().kind(kind).topic, False, environment, kind
    )
    client.create_policy(policyName=name, policyDocument=json.dumps(document))
    return name
