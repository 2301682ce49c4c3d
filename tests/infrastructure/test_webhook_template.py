"""The webhook stack: its route, throttling and access log, its function in the VPC with the catalog's mapping, and
the callback's secret, as the local gateway and the registration helper read them."""

from __future__ import annotations

import json
from typing import Any

from catalog import load_catalog
from catalog.lwm2m import webhook_mapping_json
from infrastructure.stacks import webhook
from tests.support.templates import one


def test_the_route_reaches_the_function_through_a_proxy_integration(templates: dict[str, Any]) -> None:
    template = templates["webhook"]
    route = one(template, "AWS::ApiGatewayV2::Route")
    assert route["RouteKey"] == "PUT /notifications" and route["Target"] == {
        "Fn::Sub": "integrations/${FunctionIntegration}"
    }
    integration = one(template, "AWS::ApiGatewayV2::Integration")
    assert integration["IntegrationType"] == "AWS_PROXY" and integration["PayloadFormatVersion"] == "2.0"
    assert integration["IntegrationUri"] == {"Fn::GetAtt": ["WebhookFunction", "Arn"]}
    assert integration["TimeoutInMillis"] < 30_000
    permission = template["Resources"]["ApiInvokePermission"]["Properties"]  # (the authorizer has its own)
    assert permission["Principal"] == "apigateway.amazonaws.com"
    assert permission["SourceArn"]["Fn::Sub"].endswith(
        "${CallbackApi}/*/PUT/notifications"
    )  # this route only


def test_the_stage_is_throttled_and_access_logged(templates: dict[str, Any]) -> None:
    stage = one(templates["webhook"], "AWS::ApiGatewayV2::Stage")
    assert stage["DefaultRouteSettings"] == {
        "ThrottlingBurstLimit": {"Ref": "ThrottleBurst"},
        "ThrottlingRateLimit": {"Ref": "ThrottleRate"},
    }
    assert stage["AccessLogSettings"]["DestinationArn"] == {"Fn::GetAtt": ["AccessLogGroup", "Arn"]}
    assert set(json.loads(stage["AccessLogSettings"]["Format"])) >= {"requestId", "ip", "status", "route"}


def test_the_function_runs_in_the_vpc_with_the_catalogs_mapping_and_the_secret(
    templates: dict[str, Any],
) -> None:
    template = templates["webhook"]
    function = template["Resources"]["WebhookFunction"]["Properties"]  # (beside AuthorizerFunction)
    assert function["Handler"] == webhook.HANDLER and function["Runtime"] == "python3.12"
    assert function["VpcConfig"]["SubnetIds"] and function["KmsKeyArn"]
    variables = function["Environment"]["Variables"]
    assert variables["LWM2M_MAPPING"] == webhook_mapping_json(load_catalog())  # one fact: device-kinds/
    assert variables["WEBHOOK_SECRET_ARN"] == {"Ref": "CallbackSecret"}
    assert {"REJECTED_QUEUE_URL", "DEAD_LETTER_QUEUE_URL", "METADATA_TABLE", "INFLUXDB_SECRET_ARN"} <= set(
        variables
    )
    secret = one(template, "AWS::SecretsManager::Secret")
    assert secret["KmsKeyId"] and secret["GenerateSecretString"]["PasswordLength"] >= 32
    outputs = template["Outputs"]
    assert {"CallbackUrl", "SecretArn", "FunctionName"} <= set(outputs)
    assert webhook.STACK.depends_on == ("network", "influxdb", "ingest")
