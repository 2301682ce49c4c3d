"""The webhook's route is authorized before the function: an authorizer of its own (outside the VPC, its own
concurrency, cached per header), refused calls alarmed, and the function that does the work reached only after."""

from __future__ import annotations

import json
from typing import Any

import pytest

from infrastructure.stacks import webhook


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(webhook.build().to_json())
    return document


def of_type(template: dict[str, Any], kind: str) -> dict[str, Any]:
    return {k: r for k, r in template["Resources"].items() if r["Type"] == kind}


def test_the_route_needs_the_authorizer_which_caches_by_the_header(template: dict[str, Any]) -> None:
    [route] = of_type(template, "AWS::ApiGatewayV2::Route").values()
    [(logical, authorizer)] = of_type(template, "AWS::ApiGatewayV2::Authorizer").items()
    assert route["Properties"]["AuthorizationType"] == "CUSTOM"
    assert route["Properties"]["AuthorizerId"] == {"Ref": logical}
    props = authorizer["Properties"]
    assert props["AuthorizerType"] == "REQUEST" and props["EnableSimpleResponses"] is True
    # Without this header API Gateway answers 401 itself; with it, one authorizer call per value and TTL.
    assert props["IdentitySource"] == ["$request.header.Authorization"]
    assert props["AuthorizerResultTtlInSeconds"] == {"Ref": "AuthorizerCacheSeconds"}
    assert template["Parameters"]["AuthorizerCacheSeconds"]["Default"] > 0
    assert "${AuthorizerFunction.Arn}" in props["AuthorizerUri"]["Fn::Sub"]


def test_the_authorizer_is_apart_from_the_function_it_guards(template: dict[str, Any]) -> None:
    functions = of_type(template, "AWS::Lambda::Function")
    guard, work = functions["AuthorizerFunction"]["Properties"], functions["WebhookFunction"]["Properties"]
    assert guard["Handler"] == webhook.AUTHORIZER_HANDLER
    assert "VpcConfig" not in guard and "VpcConfig" in work
    assert guard["ReservedConcurrentExecutions"] == webhook.AUTHORIZER_CONCURRENCY
    assert guard["Role"] != work["Role"]
    assert guard["Environment"]["Variables"] == {"WEBHOOK_SECRET_ARN": {"Ref": "CallbackSecret"}}
    [policy] = template["Resources"]["AuthorizerRole"]["Properties"]["Policies"]
    actions = {a for s in policy["PolicyDocument"]["Statement"] for a in s["Action"]}
    assert actions == {
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "secretsmanager:GetSecretValue",
        "kms:Decrypt",
    }
    permissions = {
        r["Properties"]["FunctionName"]["Ref"]: r["Properties"]["SourceArn"]["Fn::Sub"]
        for r in of_type(template, "AWS::Lambda::Permission").values()
    }
    assert permissions["AuthorizerFunction"].endswith("/authorizers/${CallbackAuthorizer}")
    assert permissions["WebhookFunction"].endswith("/*/PUT/notifications")


def test_refused_calls_raise_an_alarm(template: dict[str, Any]) -> None:
    alarm = template["Resources"]["UnauthorizedCallsAlarm"]["Properties"]
    assert (alarm["Namespace"], alarm["MetricName"]) == ("AWS/ApiGateway", "4xx")
    dimensions = {d["Name"]: d["Value"] for d in alarm["Dimensions"]}
    assert dimensions == {"ApiId": {"Ref": "CallbackApi"}, "Stage": "$default"}
