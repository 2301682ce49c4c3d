"""The one adjustment a template needs on a local endpoint (moto), applied only there.

moto skips some resource types (CloudFront, Secrets Manager secrets, Cloud Map, IoT rules, alarms, ECS capacity
providers, ...): a `Fn::GetAtt` on one of them fails the stack and leaves it stuck in CREATE_IN_PROGRESS. The
templates already use forms both accept where AWS offers one (ARNs built with `Fn::Sub`, `Ref` for ids); what
remains (the CloudFront domain name) is replaced by a placeholder text on a local endpoint. An output whose value
is a `Ref` to a skipped resource is silently dropped by moto (and its export with it, so importing stacks fail):
such a `Ref` becomes a placeholder text too. AWS always gets the template as synthesized. The managed store
(a Timestream for InfluxDB instance and the custom resource of its start-up step) is skipped the same way.
"""

from __future__ import annotations

import copy
from typing import Any
from urllib.parse import urlparse

MOTO_SKIPPED_TYPES = frozenset(
    {
        "AWS::CloudFront::Distribution",
        "AWS::CloudFront::OriginAccessControl",
        "AWS::CloudFront::VpcOrigin",
        "AWS::WAFv2::WebACL",
        "AWS::SecretsManager::Secret",
        "AWS::ServiceDiscovery::PrivateDnsNamespace",
        "AWS::ServiceDiscovery::Service",
        "AWS::IoT::TopicRule",
        "AWS::CloudWatch::Alarm",
        "AWS::ECS::CapacityProvider",
        "AWS::ECS::ClusterCapacityProviderAssociations",
        "AWS::Timestream::InfluxDBInstance",
        "AWS::CloudFormation::CustomResource",
    }
)


def is_local(endpoint_url: str | None) -> bool:
    if not endpoint_url:
        return False
    host = urlparse(endpoint_url).hostname or ""
    return host in ("localhost", "127.0.0.1", "::1") or host.startswith("127.")


def local_template(template: dict[str, Any]) -> dict[str, Any]:
    """The template with every `Fn::GetAtt` and `Ref` on a type moto skips replaced by a placeholder text:
    `<logical id>.<attribute>.local` and `<logical id>.local` (lower case)."""
    resources = template.get("Resources", {})
    skipped = {name for name, resource in resources.items() if resource.get("Type") in MOTO_SKIPPED_TYPES}

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            if set(node) == {"Fn::GetAtt"}:
                target = node["Fn::GetAtt"]
                logical_id, attribute = target if isinstance(target, list) else str(target).split(".", 1)
                if logical_id in skipped:
                    return f"{logical_id.lower()}.{str(attribute).lower()}.local"
            if set(node) == {"Ref"} and node["Ref"] in skipped:
                return f"{str(node['Ref']).lower()}.local"
            return {key: walk(value) for key, value in node.items()}
        if isinstance(node, list):
            return [walk(item) for item in node]
        return node

    return walk(copy.deepcopy(template))  # type: ignore[no-any-return]
