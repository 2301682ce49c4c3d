"""webhook: the HTTPS callback of an LwM2M device-management service (Arm mbed Cloud, Pelion, Izuma).

An API Gateway HTTP API (throttled, access-logged) routes `PUT /notifications` to the webhook function in the
private subnets, which reuses the ingest core: the same validation, metadata table, InfluxDB writer, rejected
queue and dead letters as the ingest stack's function (docs/webhook.md). The callback's header secret is
generated in Secrets Manager; the function compares it in constant time and answers 401 without it.

Why an HTTP API and not a Lambda function URL: a function URL has no throttling and no access log of its own,
and its only authentication (IAM) is one the service cannot sign; the API gives both for about $1 per million
deliveries.
"""

from __future__ import annotations

from awacs import logs as logs_actions
from awacs.aws import Action as AwacsAction
from awacs.aws import Allow, Statement
from ingest_to_influxdb.constants import INFLUXDB_CA_VARIABLE
from troposphere import (
    GetAtt,
    Parameter,
    Ref,
    Sub,
    Template,
    apigatewayv2,
    awslambda,
    cloudwatch,
    iam,
    secretsmanager,
)

from catalog import load_catalog
from catalog.lwm2m import webhook_mapping_json
from infrastructure import function_logging
from infrastructure.common import (
    add_output,
    checkov_skip,
    create_log_group,
    new_template,
    vpc_function_role,
)
from infrastructure.names import Export
from infrastructure.registry import StackDefinition
from infrastructure.retention import RETAIN, retain
from infrastructure.stacks import influxdb, ingest, network

NAME = "webhook"
HANDLER = "webhook_to_influxdb.handler.lambda_handler"
ROUTE = "PUT /notifications"  # the callback URL is the API's endpoint + /notifications
LAMBDA_ENVIRONMENT_LIMIT = 4096  # bytes of all variables of a function

CALLBACK_URL = Export(NAME, "CallbackUrl")
SECRET_ARN = Export(NAME, "SecretArn")
FUNCTION_NAME = Export(NAME, "FunctionName")

ACCESS_LOG_FORMAT = (
    '{"requestId":"$context.requestId","ip":"$context.identity.sourceIp","time":"$context.requestTime",'
    '"route":"$context.routeKey","status":"$context.status","length":"$context.responseLength",'
    '"latencyMs":"$context.responseLatency","error":"$context.integrationErrorMessage"}'
)


def create_parameters(template: Template) -> None:
    for name, description in (
        ("CodeBucket", "Bucket of the function's zip (the deploy tool fills it in)"),
        ("CodeKey", "Key of the function's zip (the deploy tool fills it in)"),
    ):
        template.add_parameter(Parameter(name, Type="String", MinLength=1, Description=description))
    template.add_parameter(
        Parameter(
            "ThrottleRate",
            Type="Number",
            Default=50,
            MinValue=1,
            Description="Deliveries per second the API accepts (each may hold thousands of notifications)",
        )
    )
    template.add_parameter(Parameter("ThrottleBurst", Type="Number", Default=100, MinValue=1))
    template.add_parameter(
        Parameter(
            "ReservedConcurrency",
            Type="Number",
            Default=5,
            MinValue=1,
            Description="Most concurrent deliveries in work, so InfluxDB is not overrun",
        )
    )
    template.add_parameter(Parameter("MemorySize", Type="Number", Default=512, MinValue=128, MaxValue=10240))
    template.add_parameter(
        Parameter(
            "Timeout",
            Type="Number",
            Default=20,
            MinValue=3,
            MaxValue=29,
            Description="Seconds a delivery may take; API Gateway waits at most 30",
        )
    )


def create_secret(template: Template) -> secretsmanager.Secret:
    return template.add_resource(
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


def create_role(template: Template, log_group: object, secret: secretsmanager.Secret) -> iam.Role:
    statements = [
        Statement(
            Effect=Allow,
            Action=[logs_actions.CreateLogStream, logs_actions.PutLogEvents],
            Resource=[GetAtt(log_group, "Arn")],
        ),
        Statement(
            Effect=Allow,
            Action=[AwacsAction("dynamodb", "GetItem"), AwacsAction("dynamodb", "BatchGetItem")],
            Resource=[ingest.METADATA_TABLE_ARN.imported()],
        ),
        Statement(
            Effect=Allow,
            Action=[AwacsAction("secretsmanager", "GetSecretValue")],
            Resource=[influxdb.secret_arn("writer").imported(), Ref(secret)],
        ),
        Statement(
            Effect=Allow,
            Action=[AwacsAction("kms", "Decrypt"), AwacsAction("kms", "GenerateDataKey")],
            Resource=[network.DATA_KEY_ARN.imported()],
        ),
        Statement(
            Effect=Allow,
            Action=[AwacsAction("sqs", "SendMessage")],
            Resource=[ingest.REJECTED_QUEUE_ARN.imported(), ingest.DEAD_LETTER_QUEUE_ARN.imported()],
        ),
    ]
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
        awslambda.Function(
            "WebhookFunction",
            FunctionName=Sub("${EnvironmentName}-webhook"),
            Description="Device-management webhook: notifications to readings, through the ingest core to InfluxDB",
            Runtime=ingest.RUNTIME,
            Handler=HANDLER,
            Architectures=["arm64"],
            Code=awslambda.Code(S3Bucket=Ref("CodeBucket"), S3Key=Ref("CodeKey")),
            Role=GetAtt(role, "Arn"),
            MemorySize=Ref("MemorySize"),
            Timeout=Ref("Timeout"),
            ReservedConcurrentExecutions=Ref("ReservedConcurrency"),
            KmsKeyArn=network.DATA_KEY_ARN.imported(),
            VpcConfig=awslambda.VPCConfig(
                SubnetIds=[subnet.imported() for subnet in network.PRIVATE_SUBNETS],
                # The same reach as the ingest function: InfluxDB's port and the AWS APIs.
                SecurityGroupIds=[influxdb.client_security_group("ingest").imported()],
            ),
            LoggingConfig=function_logging.logging_config(log_group),
            Environment=awslambda.Environment(
                Variables={
                    "INFLUXDB_URL": influxdb.URL.imported(),
                    "INFLUXDB_DATABASE": "telemetry",
                    "INFLUXDB_SECRET_ARN": influxdb.secret_arn("writer").imported(),
                    INFLUXDB_CA_VARIABLE: influxdb.CA_CERTIFICATE.imported(),  # the ECS store's CA; empty: managed
                    "METADATA_TABLE": ingest.METADATA_TABLE_NAME.imported(),
                    "REJECTED_QUEUE_URL": ingest.REJECTED_QUEUE_URL.imported(),
                    "DEAD_LETTER_QUEUE_URL": ingest.DEAD_LETTER_QUEUE_URL.imported(),
                    "WEBHOOK_SECRET_ARN": Ref(secret),
                    "LWM2M_MAPPING": mapping,
                    "POWERTOOLS_SERVICE_NAME": "webhook",
                    "POWERTOOLS_METRICS_NAMESPACE": "IoTTelemetry",
                    "POWERTOOLS_LOG_LEVEL": Ref(function_logging.LOG_LEVEL_PARAMETER),
                }
            ),
        )
    )
    checkov_skip(
        function,
        CKV_AWS_116="API Gateway invokes it synchronously, where a dead-letter config never applies; what cannot "
        "be written goes to the ingest dead-letter queue from the function itself before it answers",
    )
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
    route = checkov_skip(
        apigatewayv2.Route(
            "NotificationsRoute",
            ApiId=Ref(api),
            RouteKey=ROUTE,
            AuthorizationType="NONE",
            Target=Sub("integrations/${FunctionIntegration}"),
        ),
        CKV_AWS_309="the service can send only a fixed header, not sign requests or fetch tokens: the function "
        "checks that header against Secrets Manager in constant time and answers 401 without it",
    )
    template.add_resource(route)
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


def create_alarms(template: Template, function: awslambda.Function) -> None:
    for logical, description, metric in (
        (
            "WebhookErrorsAlarm",
            "The webhook function failed: deliveries were answered 5xx and will come again",
            "Errors",
        ),
        ("WebhookThrottlesAlarm", "Deliveries were throttled: raise ReservedConcurrency", "Throttles"),
    ):
        template.add_resource(
            cloudwatch.Alarm(
                logical,
                AlarmName=Sub(
                    f"${{EnvironmentName}}-webhook-{logical.removesuffix('Alarm').removeprefix('Webhook')}"
                ),
                AlarmDescription=description,
                Namespace="AWS/Lambda",
                MetricName=metric,
                Dimensions=[cloudwatch.MetricDimension(Name="FunctionName", Value=Ref(function))],
                Statistic="Sum",
                Period=300,
                EvaluationPeriods=1,
                Threshold=1,
                ComparisonOperator="GreaterThanOrEqualToThreshold",
                TreatMissingData="notBreaching",
                AlarmActions=[ingest.ALARM_TOPIC_ARN.imported()],
                OKActions=[ingest.ALARM_TOPIC_ARN.imported()],
            )
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
    api = create_api(template, function)
    create_alarms(template, function)
    add_output(
        template,
        CALLBACK_URL,
        Sub("https://${CallbackApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}/notifications"),
        "The URL to register as the device-management service's callback",
    )
    add_output(template, SECRET_ARN, Ref(secret), "The callback's header secret (Authorization: Bearer ...)")
    add_output(template, FUNCTION_NAME, Ref(function), "The webhook function")
    del api
    return template


STACK = StackDefinition(name=NAME, build=build, depends_on=(network.NAME, influxdb.NAME, ingest.NAME))
