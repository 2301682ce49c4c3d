"""webhook: the HTTPS callback of an LwM2M device-management service (Arm mbed Cloud, Pelion, Izuma).

An API Gateway HTTP API (throttled, access-logged) routes `PUT /notifications` to the webhook function in the
private subnets, which reuses the ingest core: the same validation, metadata table, InfluxDB writer, rejected
queue and dead letters as the ingest stack's function (docs/webhook.md). The callback's header secret is
generated in Secrets Manager.

The route has a Lambda authorizer (REQUEST type, identity source the Authorization header, its answer cached per
header value): API Gateway answers 401 itself to a call without the header and 403 to one the authorizer refuses,
so an unauthorized call never invokes the webhook function (in the VPC, reserved concurrency 5). Why this and not
a JWT authorizer or IAM: the service can send only a fixed header. The authorizer is a small function outside the
VPC with its own concurrency; the delivery with the right header is answered from the cache, and a flood of
distinct forged headers costs one authorizer call each (docs/webhook.md prices it). The function still checks
the header itself (both AWSCURRENT and AWSPREVIOUS), in case the route is ever deployed without the authorizer.

Why an HTTP API and not a Lambda function URL: a function URL has no throttling and no access log of its own,
and its only authentication (IAM) is one the service cannot sign; the API gives both for about $1 per million
deliveries.
"""

from __future__ import annotations

from ingest_to_influxdb import environment
from troposphere import (
    GetAtt,
    Ref,
    Sub,
    Template,
    apigatewayv2,
    awslambda,
    iam,
    secretsmanager,
)

from catalog import load_catalog
from catalog.lwm2m import webhook_mapping_json
from infrastructure import function_logging
from infrastructure.common import (
    CONCURRENCY_PARAMETER,
    add_code_parameters,
    add_number_parameter,
    add_output,
    allow,
    assume_role,
    checkov_skip,
    create_log_group,
    guard_skip,
    new_template,
    role_with_policy,
    vpc_function_role,
    write_logs,
    zip_function,
)
from infrastructure.names import Export
from infrastructure.notifications import add_alarm
from infrastructure.registry import StackDefinition
from infrastructure.retention import RETAIN, retain
from infrastructure.stacks import influxdb, ingest, network, relational

NAME = "webhook"
HANDLER = "webhook_to_influxdb.handler.lambda_handler"
ROUTE = "PUT /notifications"  # the callback URL is the API's endpoint + /notifications
LAMBDA_ENVIRONMENT_LIMIT = 4096  # bytes of all variables of a function

CALLBACK_URL = Export(NAME, "CallbackUrl")
SECRET_ARN = Export(NAME, "SecretArn")
FUNCTION_NAME = Export(NAME, "FunctionName")
AUTHORIZER_HANDLER = "webhook_authorizer.handler.lambda_handler"
IDENTITY_SOURCE = "$request.header.Authorization"
# 128 MB at ~2 ms a call (tests/webhook_authorizer) is under 0.01 concurrent per request a second: 10 covers the
# stage's default 50 rps many times over, and a flood past it is throttled there, not in the webhook function.
AUTHORIZER_CONCURRENCY = 10
AUTHORIZER_TIMEOUT_SECONDS = 5  # API Gateway waits at most 10 s for an HTTP API's Lambda authorizer

ACCESS_LOG_FORMAT = (
    '{"requestId":"$context.requestId","ip":"$context.identity.sourceIp","time":"$context.requestTime",'
    '"route":"$context.routeKey","status":"$context.status","length":"$context.responseLength",'
    '"latencyMs":"$context.responseLatency","error":"$context.integrationErrorMessage"}'
)


def create_parameters(template: Template) -> None:
    add_code_parameters(template, "function's")
    add_number_parameter(
        template,
        "ThrottleRate",
        50,
        1,
        description="Deliveries per second the API accepts (each may hold thousands of notifications)",
    )
    add_number_parameter(template, "ThrottleBurst", 100, 1)
    add_number_parameter(
        template,
        "ReservedConcurrency",
        5,
        1,
        description="Most concurrent deliveries in work, so InfluxDB is not overrun",
    )
    add_number_parameter(
        template,
        "AuthorizerCacheSeconds",
        300,
        0,
        3600,
        "How long API Gateway keeps the authorizer's answer for one Authorization header value",
    )
    add_number_parameter(
        template,
        "UnauthorizedThreshold",
        1,
        1,
        description="Refused calls (4xx) in 5 minutes at which the UnauthorizedCalls alarm fires",
    )
    add_number_parameter(template, "MemorySize", 512, 128, 10240)
    add_number_parameter(
        template, "Timeout", 20, 3, 29, "Seconds a delivery may take; API Gateway waits at most 30"
    )


def create_secret(template: Template) -> secretsmanager.Secret:
    secret = template.add_resource(
        secretsmanager.Secret(
            "CallbackSecret",
            Name=Sub("${EnvironmentName}/webhook/callback"),
            Description="Sent by the device-management service as 'Authorization: Bearer <secret>' with every delivery",
            KmsKeyId=network.DATA_KEY_ARN.imported(),
            GenerateSecretString=secretsmanager.GenerateSecretString(
                PasswordLength=48, ExcludePunctuation=True
            ),
            # The device-management service holds it: a new one would mean registering the callback again.
            **RETAIN,
        )
    )
    guard_skip(
        secret,
        SECRETSMANAGER_ROTATION_ENABLED_CHECK="rotated by hand together with the service's registration "
        "(docs/deploying.md, Secrets): AWSCURRENT and AWSPREVIOUS are both accepted meanwhile",
    )
    return secret


def create_role(template: Template, log_group: object, secret: secretsmanager.Secret) -> iam.Role:
    statements = [
        write_logs(log_group),
        allow("dynamodb", ("GetItem", "BatchGetItem"), [ingest.METADATA_TABLE_ARN.imported()]),
        allow("secretsmanager", ("GetSecretValue",), [influxdb.secret_arn("writer").imported(), Ref(secret)]),
        allow("kms", ("Decrypt", "GenerateDataKey"), [network.DATA_KEY_ARN.imported()]),
        allow(
            "sqs",
            ("SendMessage",),
            [ingest.REJECTED_QUEUE_ARN.imported(), ingest.DEAD_LETTER_QUEUE_ARN.imported()],
        ),
    ]
    if relational.writes_to_sql(load_catalog()):
        statements += relational.function_statements()
    role = vpc_function_role("webhook", statements)
    template.add_resource(role)
    assert isinstance(role, iam.Role)
    return role


def create_function(template: Template, secret: secretsmanager.Secret, mapping: str) -> awslambda.Function:
    function_logging.add_parameters(template)
    log_group = create_log_group(
        template,
        "FunctionLogGroup",
        Sub("/aws/lambda/${EnvironmentName}-webhook"),
        network.DATA_KEY_ARN.imported(),
    )
    role = create_role(template, log_group, secret)
    function = template.add_resource(
        zip_function(
            "WebhookFunction",
            ingest.RUNTIME,
            HANDLER,
            role,
            network.DATA_KEY_ARN.imported(),
            FunctionName=Sub("${EnvironmentName}-webhook"),
            Description="Device-management webhook: notifications to readings, through the ingest core to InfluxDB",
            MemorySize=Ref("MemorySize"),
            Timeout=Ref("Timeout"),
            ReservedConcurrentExecutions=Ref("ReservedConcurrency"),
            VpcConfig=awslambda.VPCConfig(
                SubnetIds=[subnet.imported() for subnet in network.PRIVATE_SUBNETS],
                # The same reach as the ingest function: InfluxDB's port and the AWS APIs.
                SecurityGroupIds=[influxdb.client_security_group("ingest").imported()],
            ),
            LoggingConfig=function_logging.logging_config(log_group),
            Environment=awslambda.Environment(
                Variables={
                    environment.INFLUXDB_URL: influxdb.URL.imported(),
                    environment.INFLUXDB_DATABASE: influxdb.DATABASE,
                    environment.INFLUXDB_SECRET_ARN: influxdb.secret_arn("writer").imported(),
                    environment.INFLUXDB_CA_CERTIFICATE: influxdb.CA_CERTIFICATE.imported(),  # ECS store's CA
                    environment.METADATA_TABLE: ingest.METADATA_TABLE_NAME.imported(),
                    environment.REJECTED_QUEUE_URL: ingest.REJECTED_QUEUE_URL.imported(),
                    environment.DEAD_LETTER_QUEUE_URL: ingest.DEAD_LETTER_QUEUE_URL.imported(),
                    environment.WEBHOOK_SECRET_ARN: Ref(secret),
                    environment.LWM2M_MAPPING: mapping,
                    environment.SERVICE_NAME: "webhook",
                    environment.METRICS_NAMESPACE: environment.NAMESPACE,
                    environment.LOG_LEVEL: Ref(function_logging.LOG_LEVEL_PARAMETER),
                    **(relational.function_variables() if relational.writes_to_sql(load_catalog()) else {}),
                }
            ),
        )
    )
    guard_skip(
        function,
        LAMBDA_CONCURRENCY_CHECK=CONCURRENCY_PARAMETER,
        LAMBDA_DLQ_CHECK="API Gateway invokes it synchronously: see the checkov note",
    )
    checkov_skip(
        function,
        CKV_AWS_116="API Gateway invokes it synchronously, where a dead-letter config never applies; what cannot "
        "be written goes to the ingest dead-letter queue from the function itself before it answers",
    )
    return function


def create_authorizer_function(template: Template, secret: secretsmanager.Secret) -> awslambda.Function:
    """The authorizer: outside the VPC (it needs only Secrets Manager), its own small reserved concurrency, so
    neither a flood nor its network interfaces touch the webhook function's."""
    log_group = create_log_group(
        template,
        "AuthorizerLogGroup",
        Sub("/aws/lambda/${EnvironmentName}-webhook-authorizer"),
        network.DATA_KEY_ARN.imported(),
    )
    role = template.add_resource(
        role_with_policy(
            "AuthorizerRole",
            assume_role("lambda.amazonaws.com"),
            "read-callback-secret",
            [
                write_logs(log_group),
                allow("secretsmanager", ("GetSecretValue",), [Ref(secret)]),
                allow("kms", ("Decrypt",), [network.DATA_KEY_ARN.imported()]),
            ],
        )
    )
    function = template.add_resource(
        zip_function(
            "AuthorizerFunction",
            ingest.RUNTIME,
            AUTHORIZER_HANDLER,
            role,
            network.DATA_KEY_ARN.imported(),
            Description="Webhook authorizer: is the delivery's Authorization header the callback's secret?",
            MemorySize=128,
            Timeout=AUTHORIZER_TIMEOUT_SECONDS,
            ReservedConcurrentExecutions=AUTHORIZER_CONCURRENCY,
            LoggingConfig=function_logging.logging_config(log_group),
            Environment=awslambda.Environment(Variables={environment.WEBHOOK_SECRET_ARN: Ref(secret)}),
        )
    )
    outside = (
        "outside the VPC on purpose: it reads only Secrets Manager, and a flood of forged calls must not take "
        "network interfaces or concurrency from the VPC function it guards"
    )
    synchronous = (
        "API Gateway calls it synchronously: a dead-letter queue never applies; an error is a 500 to retry"
    )
    checkov_skip(function, CKV_AWS_117=outside, CKV_AWS_116=synchronous)
    guard_skip(function, LAMBDA_INSIDE_VPC=outside, LAMBDA_DLQ_CHECK=synchronous)
    return function


def create_api(template: Template, function: awslambda.Function) -> apigatewayv2.Api:
    api = template.add_resource(
        apigatewayv2.Api(
            "CallbackApi",
            Name=Sub("${EnvironmentName}-webhook"),
            ProtocolType="HTTP",
            Description="Callback of the device-management service",
            DisableExecuteApiEndpoint=False,
        )
    )
    integration = template.add_resource(
        apigatewayv2.Integration(
            "FunctionIntegration",
            ApiId=Ref(api),
            IntegrationType="AWS_PROXY",
            IntegrationUri=GetAtt(function, "Arn"),
            PayloadFormatVersion="2.0",
            TimeoutInMillis=29000,
        )
    )
    authorizer = template.add_resource(
        apigatewayv2.Authorizer(
            "CallbackAuthorizer",
            ApiId=Ref(api),
            Name=Sub("${EnvironmentName}-webhook-callback"),
            AuthorizerType="REQUEST",
            AuthorizerUri=Sub(
                "arn:${AWS::Partition}:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/"
                "${AuthorizerFunction.Arn}/invocations"
            ),
            AuthorizerPayloadFormatVersion="2.0",
            EnableSimpleResponses=True,
            # Without this header API Gateway answers 401 and calls nobody; its answer is cached per value.
            IdentitySource=[IDENTITY_SOURCE],
            AuthorizerResultTtlInSeconds=Ref("AuthorizerCacheSeconds"),
        )
    )
    template.add_resource(
        apigatewayv2.Route(
            "NotificationsRoute",
            ApiId=Ref(api),
            RouteKey=ROUTE,
            AuthorizationType="CUSTOM",
            AuthorizerId=Ref(authorizer),
            Target=Sub("integrations/${FunctionIntegration}"),
        )
    )
    template.add_resource(
        awslambda.Permission(
            "AuthorizerInvokePermission",
            Action="lambda:InvokeFunction",
            FunctionName=Ref("AuthorizerFunction"),
            Principal="apigateway.amazonaws.com",
            SourceArn=Sub(
                "arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${CallbackApi}/authorizers/"
                "${CallbackAuthorizer}"
            ),
        )
    )
    del integration
    access_logs = retain(  # an audit record: it outlives the stack, and expires by its retention
        create_log_group(
            template,
            "AccessLogGroup",
            Sub("/aws/apigateway/${EnvironmentName}-webhook"),
            network.DATA_KEY_ARN.imported(),
        )
    )
    template.add_resource(
        apigatewayv2.Stage(
            "DefaultStage",
            ApiId=Ref(api),
            StageName="$default",
            AutoDeploy=True,
            AccessLogSettings=apigatewayv2.AccessLogSettings(
                DestinationArn=GetAtt(access_logs, "Arn"), Format=ACCESS_LOG_FORMAT
            ),
            DefaultRouteSettings=apigatewayv2.RouteSettings(
                ThrottlingRateLimit=Ref("ThrottleRate"), ThrottlingBurstLimit=Ref("ThrottleBurst")
            ),
        )
    )
    template.add_resource(
        awslambda.Permission(
            "ApiInvokePermission",
            Action="lambda:InvokeFunction",
            FunctionName=Ref(function),
            Principal="apigateway.amazonaws.com",
            SourceArn=Sub(
                "arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${CallbackApi}/*/PUT/notifications"
            ),
        )
    )
    return api


def create_alarms(template: Template, function: awslambda.Function, api: apigatewayv2.Api) -> None:
    add_alarm(
        template,
        "UnauthorizedCallsAlarm",
        "Calls were refused before the function (401 without the header, 403 with a wrong one; also 429 "
        "throttled and 400 bad deliveries): a forged caller, or the service registered with an old secret",
        ("AWS/ApiGateway", "4xx", {"ApiId": Ref(api), "Stage": "$default"}),
        "Sum",
        "GreaterThanOrEqualToThreshold",
        Ref("UnauthorizedThreshold"),
        ingest.ALARM_TOPIC_ARN.imported(),
        period=300,
    )
    for logical, description, metric in (
        (
            "ErrorsAlarm",
            "The webhook function failed: deliveries were answered 5xx and will come again",
            "Errors",
        ),
        ("ThrottlesAlarm", "Deliveries were throttled: raise ReservedConcurrency", "Throttles"),
    ):
        add_alarm(
            template,
            logical,
            description,
            ("AWS/Lambda", metric, {"FunctionName": Ref(function)}),
            "Sum",
            "GreaterThanOrEqualToThreshold",
            1,
            ingest.ALARM_TOPIC_ARN.imported(),
            period=300,
        )


def build() -> Template:
    mapping = webhook_mapping_json(load_catalog())
    if len(mapping.encode()) > LAMBDA_ENVIRONMENT_LIMIT - 1024:
        raise ValueError(
            f"the lwm2m sections of device-kinds/ make a {len(mapping)}-byte mapping; the function's environment "
            f"holds at most {LAMBDA_ENVIRONMENT_LIMIT} bytes in all: map fewer resources"
        )
    template = new_template("Webhook: HTTPS callback of a device-management service, into the ingest core")
    create_parameters(template)
    secret = create_secret(template)
    function = create_function(template, secret, mapping)
    create_authorizer_function(template, secret)
    api = create_api(template, function)
    create_alarms(template, function, api)
    add_output(
        template,
        CALLBACK_URL,
        Sub("https://${CallbackApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}/notifications"),
        "The URL to register as the device-management service's callback",
    )
    add_output(template, SECRET_ARN, Ref(secret), "The callback's header secret (Authorization: Bearer ...)")
    add_output(template, FUNCTION_NAME, Ref(function), "The webhook function")
    return template


STACK = StackDefinition(
    name=NAME,
    build=build,
    depends_on=(network.NAME, influxdb.NAME, ingest.NAME),
    depends_when=relational.sql_dependency,
)
