"""Secure by default, asserted on the synthesized templates: logins, identity from the connection, no clear text
on the way in, least privilege in the cluster, and every remaining finding carrying its reason."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from infrastructure.registry import all_stacks
from infrastructure.service_files import load
from infrastructure.stacks import chronograf, edge, storage

SERVICES = ("influxdb", "grafana", "chronograf")


def resources(template: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    return {k: r for k, r in template["Resources"].items() if r["Type"] == resource_type}


def props(template: dict[str, Any], logical_id: str) -> dict[str, Any]:
    return template["Resources"][logical_id]["Properties"]  # type: ignore[no-any-return]


def statements(template: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] == "AWS::IAM::Role":
            for policy in resource["Properties"].get("Policies", []):
                for statement in policy["PolicyDocument"]["Statement"]:
                    yield logical_id, statement


def test_chronograf_only_with_a_login_and_left_out_of_deploy_all(templates: dict[str, Any]) -> None:
    template = templates["chronograf"]
    for name in ("OAuthSecretArn", "OAuthAuthUrl", "OAuthTokenUrl", "OAuthApiUrl", "OAuthDomains"):
        assert "Default" not in template["Parameters"][name], (
            f"{name} must be given: no Chronograf without login"
        )
    # An empty domain list would admit anyone the provider signs in: at least one domain, nothing else.
    domains = re.compile(template["Parameters"]["OAuthDomains"]["AllowedPattern"])
    assert domains.match("example.com") and domains.match("example.com,corp.example.org")
    for refused in ("", "example", "example.com,", "*.example.com", "example.com, other.org"):
        assert not domains.match(refused), refused
    (definition,) = resources(template, "AWS::ECS::TaskDefinition").values()
    container = definition["Properties"]["ContainerDefinitions"][0]
    secrets = {s["Name"]: s["ValueFrom"] for s in container["Secrets"]}
    for name in ("TOKEN_SECRET", "GENERIC_CLIENT_ID", "GENERIC_CLIENT_SECRET"):
        assert secrets[name]["Fn::Sub"][1]["Arn"] == {"Ref": "OAuthSecretArn"}
    environment = {e["Name"]: e["Value"] for e in container["Environment"]}
    assert environment["GENERIC_AUTH_URL"]["Fn::Sub"][0] == "${OAuthAuthUrl}"
    assert all_stacks()["chronograf"].left_out == chronograf.LEFT_OUT
    assert [name for name, stack in all_stacks().items() if stack.left_out] == ["chronograf"]


def test_every_rule_hands_the_function_the_connections_client_id(templates: dict[str, Any]) -> None:
    rules = resources(templates["ingest"], "AWS::IoT::TopicRule").values()
    assert rules
    for rule in rules:
        sql = rule["Properties"]["TopicRulePayload"]["Sql"]["Fn::Sub"]
        assert "clientid() AS connection_clientid" in sql
        # after *, so the rule's column overwrites what a payload claims
        assert sql.index("*") < sql.index("clientid()")
        # and its principal (the certificate id), kept with a rejected reading for audit
        assert "principal() AS connection_principal" in sql
        assert sql.index("*") < sql.index("principal()")


def test_load_balancer_is_internal_and_reached_through_a_vpc_origin(templates: dict[str, Any]) -> None:
    template = templates["edge"]
    balancer = props(template, "LoadBalancer")
    assert balancer["Scheme"] == "internal"
    assert all("PrivateSubnet" in json.dumps(subnet) for subnet in balancer["Subnets"])
    endpoint = props(template, "LoadBalancerVpcOrigin")["VpcOriginEndpointConfig"]
    assert endpoint["Arn"] == {"Ref": "LoadBalancer"}
    distribution = props(template, "Distribution")["DistributionConfig"]
    (alb,) = [o for o in distribution["Origins"] if o["Id"] == "alb"]
    assert "CustomOriginConfig" not in alb
    assert alb["VpcOriginConfig"]["VpcOriginId"] == {"Fn::GetAtt": ["LoadBalancerVpcOrigin", "Id"]}


def test_waf_by_default_with_a_strict_rate_limit_on_the_login_paths(templates: dict[str, Any]) -> None:
    template = templates["edge"]
    assert template["Parameters"]["Waf"]["Default"] == "enabled"
    acl = template["Resources"]["WebAcl"]
    assert acl["Condition"] == edge.HAS_WAF and acl["Properties"]["Scope"] == "CLOUDFRONT"
    distribution = props(template, "Distribution")["DistributionConfig"]
    assert distribution["WebACLId"] == {
        "Fn::If": [edge.HAS_WAF, {"Fn::GetAtt": ["WebAcl", "Arn"]}, {"Ref": "AWS::NoValue"}]
    }
    rules = {r["Name"]: r for r in acl["Properties"]["Rules"]}
    login = rules["login-rate"]["Statement"]["RateBasedStatement"]
    assert login["Limit"] == {"Ref": "LoginRateLimit"} and login["AggregateKeyType"] == "IP"
    paths = {
        s["ByteMatchStatement"]["SearchString"]
        for s in login["ScopeDownStatement"]["OrStatement"]["Statements"]
    }
    assert paths == set(edge.LOGIN_PATHS)
    assert "Block" in rules["login-rate"]["Action"] and "Block" in rules["request-rate"]["Action"]


def test_tasks_cannot_reach_the_metadata_service_and_the_host_role_is_trimmed(
    templates: dict[str, Any],
) -> None:
    template = templates["cluster"]
    user_data = props(template, "HostLaunchTemplate")["LaunchTemplateData"]["UserData"]["Fn::Base64"][
        "Fn::Sub"
    ]
    assert "ECS_AWSVPC_BLOCK_IMDS=true" in user_data
    options = props(template, "HostLaunchTemplate")["LaunchTemplateData"]["MetadataOptions"]
    assert options["HttpTokens"] == "required" and options["HttpPutResponseHopLimit"] == 1
    role = props(template, "HostRole")
    assert "ManagedPolicyArns" not in role
    on_everything = {
        action for _, s in statements(template) if s["Resource"] == ["*"] for action in s["Action"]
    }
    assert on_everything == {
        "ecs:DiscoverPollEndpoint",
        "ssmmessages:CreateControlChannel",
        "ssmmessages:CreateDataChannel",
        "ssmmessages:OpenControlChannel",
        "ssmmessages:OpenDataChannel",
    }
    assert not any(
        a.startswith(("ecr:", "logs:", "ec2:")) for _, s in statements(template) for a in s["Action"]
    )


@pytest.mark.parametrize("service", SERVICES)
def test_containers_run_unprivileged_on_a_read_only_root(templates: dict[str, Any], service: str) -> None:
    (definition,) = resources(templates[service], "AWS::ECS::TaskDefinition").values()
    containers = definition["Properties"]["ContainerDefinitions"]
    (container,) = [c for c in containers if c["Name"] == service]
    assert all(c["ReadonlyRootFilesystem"] is True for c in containers)  # the init container's too
    uid, gid = storage.ACCESS_POINTS[service][1:]
    assert container["User"] == f"{uid}:{gid}" and uid != 0
    assert container["ReadonlyRootFilesystem"] is True
    scratch = [t["ContainerPath"] for t in container["LinuxParameters"]["Tmpfs"]]
    assert scratch == load(service).writable and "/tmp" in scratch


def test_influxdb_debug_endpoints_only_for_the_admin(templates: dict[str, Any]) -> None:
    (definition,) = resources(templates["influxdb"], "AWS::ECS::TaskDefinition").values()
    environment = {
        e["Name"]: e["Value"] for e in definition["Properties"]["ContainerDefinitions"][0]["Environment"]
    }
    assert environment["INFLUXDB_HTTP_AUTH_ENABLED"] == "true"
    # 1.8: pprof-auth-enabled (which needs pprof-enabled) puts /debug/pprof, /debug/vars, /debug/requests behind
    # the admin; with pprof-enabled=false alone /debug/vars would answer anyone.
    assert environment["INFLUXDB_HTTP_PPROF_ENABLED"] == "true"
    assert environment["INFLUXDB_HTTP_PPROF_AUTH_ENABLED"] == "true"


def test_the_function_has_a_reserved_concurrency_by_default(templates: dict[str, Any]) -> None:
    template = templates["ingest"]
    (function,) = resources(template, "AWS::Lambda::Function").values()
    assert function["Properties"]["ReservedConcurrentExecutions"] == {"Ref": "ReservedConcurrency"}
    assert template["Parameters"]["ReservedConcurrency"]["Default"] == 10


def test_every_wildcard_and_open_egress_carries_its_reason(templates: dict[str, Any]) -> None:
    for name, template in templates.items():
        for logical_id, statement in statements(template):
            if statement["Resource"] == ["*"]:
                metadata = template["Resources"][logical_id].get("Metadata", {})
                nag = {r["id"] for r in metadata.get("cfn_nag", {}).get("rules_to_suppress", [])}
                assert "W11" in nag, f"{name}.{logical_id}: a statement on '*' without its reason"
        for logical_id, group in resources(template, "AWS::EC2::SecurityGroup").items():
            if any(
                e.get("CidrIp") == "0.0.0.0/0" for e in group["Properties"].get("SecurityGroupEgress", [])
            ):
                nag = {
                    r["id"] for r in group.get("Metadata", {}).get("cfn_nag", {}).get("rules_to_suppress", [])
                }
                assert "W5" in nag, f"{name}.{logical_id}: egress to anywhere without its reason"


def test_every_suppression_names_its_reason(templates: dict[str, Any]) -> None:
    count = 0
    for name, template in templates.items():
        for logical_id, resource in template["Resources"].items():
            metadata = resource.get("Metadata", {})
            notes = [
                *((s["id"], s["comment"]) for s in metadata.get("checkov", {}).get("skip", [])),
                *((r["id"], r["reason"]) for r in metadata.get("cfn_nag", {}).get("rules_to_suppress", [])),
            ]
            guard = metadata.get("guard", {})
            notes += [
                (rule, guard.get("Reasons", {}).get(rule, "")) for rule in guard.get("SuppressedRules", [])
            ]
            for rule, reason in notes:
                count += 1
                assert len(reason) > 20, f"{name}.{logical_id}: {rule} is suppressed without a reason"
    assert count > 20
