"""edge: an internal ALB in the private subnets, which CloudFront reaches through a VPC origin (the load balancer
has no public address; it also requires the origin-verify header), CloudFront (HTTPS only, a WAF web ACL with
rate limits by default) and the private console bucket behind origin access control."""

from __future__ import annotations

from awacs.aws import Action as AwacsAction
from awacs.aws import Allow, Bool, Condition, Deny, PolicyDocument, Principal, Statement, StringEquals
from awacs.s3 import GetObject, PutObject
from troposphere import (
    Equals,
    FindInMap,
    GetAtt,
    If,
    Not,
    Ref,
    Sub,
    Template,
    cloudfront,
    ec2,
    logs,
    s3,
    secretsmanager,
    wafv2,
)
from troposphere import elasticloadbalancingv2 as elb

from infrastructure import service_files
from infrastructure.common import (
    LOG_RETENTION_DAYS,
    MANUAL_ROTATION,
    NO_ACL,
    NO_OBJECT_LOCK,
    add_choice_parameter,
    add_number_parameter,
    add_output,
    add_string_parameter,
    cfn_nag_skip,
    checkov_skip,
    guard_skip,
    new_template,
    tags,
    tcp_ingress,
    tcp_rule,
)
from infrastructure.names import Export
from infrastructure.notifications import add_alarm, create_topic
from infrastructure.registry import StackDefinition
from infrastructure.retention import RETAIN
from infrastructure.stacks import network

NAME = "edge"
LISTENER_ARN = Export(NAME, "ListenerArn")
LOAD_BALANCER_SECURITY_GROUP = Export(NAME, "LoadBalancerSecurityGroupId")
DISTRIBUTION_DOMAIN = Export(NAME, "DistributionDomainName")
DISTRIBUTION_ID = Export(NAME, "DistributionId")
CONSOLE_BUCKET = Export(NAME, "ConsoleBucketName")
ORIGIN_VERIFY_SECRET_ARN = Export(NAME, "OriginVerifySecretArn")
LOAD_BALANCER_FULL_NAME = Export(NAME, "LoadBalancerFullName")  # the ALB metrics' LoadBalancer dimension
ALARM_TOPIC_ARN = Export(NAME, "AlarmTopicArn")

# The parameters the deploy tool fills in from the account (infrastructure/deploy.py, edge_lookups).
PREFIX_LIST_PARAMETER = "CloudFrontPrefixListId"
PREFIX_LIST_NAME = "com.amazonaws.global.cloudfront.origin-facing"  # AWS-managed, one id per region
VPC_ORIGIN_GROUP_PARAMETER = "VpcOriginSecurityGroupId"
# CloudFront makes this group in the VPC with the first VPC origin there; its network interfaces carry the
# origin traffic, so the load balancer admits it (https://docs.aws.amazon.com/AmazonCloudFront/latest/
# DeveloperGuide/private-content-vpc-origins.html).
VPC_ORIGIN_GROUP_NAME = "CloudFront-VPCOrigins-Service-SG"
HAS_VPC_ORIGIN_GROUP = "HasVpcOriginSecurityGroup"
# The services behind the load balancer (a path_pattern in their task.yaml): its only egress is to their ports.
WEB_SERVICES = ("grafana", "chronograf")

ORIGIN_VERIFY_HEADER = "X-Origin-Verify"
# AWS managed CloudFront policies (fixed ids, the same in every account).
CACHING_OPTIMIZED = "658327ea-f89d-4fab-a63d-7e88639e58f6"
CACHING_DISABLED = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
ALL_VIEWER = "216adef6-5c7f-47e4-b989-5492eafa07d3"
SECURITY_HEADERS = "67f7725c-6f97-4210-82d7-5512b31e9d03"
# Paths served by the load balancer; everything else is the console page in S3.
ALB_PATHS = ("/grafana*", "/chronograf*")
# Where a password or an OAuth exchange is tried: Grafana's login form and API, Chronograf's OAuth callbacks.
LOGIN_PATHS = ("/grafana/login", "/grafana/api/login", "/chronograf/oauth")
HAS_WAF = "HasWaf"
# Accounts of Elastic Load Balancing that write access logs, per region (AWS documentation).
ELB_LOG_ACCOUNTS = {
    "us-east-1": "127311923021",
    "us-east-2": "033677994240",
    "us-west-1": "027434742980",
    "us-west-2": "797873946194",
    "eu-west-1": "156460612806",
    "eu-west-2": "652711504416",
    "eu-central-1": "054676820928",
    "ap-southeast-1": "114774131450",
    "ap-southeast-2": "783225319266",
    "ap-northeast-1": "582318560864",
}


def origin_verify_value(secret_arn: object) -> Sub:
    """The header's value as a dynamic reference: CloudFormation reads it from the secret at deploy time."""
    return Sub("{{resolve:secretsmanager:${Secret}:SecretString:token}}", Secret=secret_arn)


def no_public_access() -> s3.PublicAccessBlockConfiguration:
    return s3.PublicAccessBlockConfiguration(
        BlockPublicAcls=True, BlockPublicPolicy=True, IgnorePublicAcls=True, RestrictPublicBuckets=True
    )


def s3_managed_encryption() -> s3.BucketEncryption:
    return s3.BucketEncryption(
        ServerSideEncryptionConfiguration=[
            s3.ServerSideEncryptionRule(
                ServerSideEncryptionByDefault=s3.ServerSideEncryptionByDefault(SSEAlgorithm="AES256")
            )
        ]
    )


def create_parameters(template: Template) -> None:
    add_string_parameter(
        template,
        PREFIX_LIST_PARAMETER,
        f"Managed prefix list {PREFIX_LIST_NAME} in this region (the deploy tool looks it up; the default is "
        "us-east-1's)",
        default="pl-3b927c52",
        pattern="^pl-[0-9a-f]+$",
    )
    add_string_parameter(
        template,
        VPC_ORIGIN_GROUP_PARAMETER,
        f"The {VPC_ORIGIN_GROUP_NAME} group CloudFront made in the VPC (the deploy tool looks it up after the VPC "
        "origin exists and deploys again with it; empty: not made yet)",
        default="",
        pattern="^(sg-[0-9a-f]+)?$",
    )
    template.add_condition(HAS_VPC_ORIGIN_GROUP, Not(Equals(Ref(VPC_ORIGIN_GROUP_PARAMETER), "")))
    add_choice_parameter(
        template,
        "Waf",
        "enabled",
        ("enabled", "disabled"),
        "A WAF web ACL on the distribution: rate limits per address, strict on the login paths (about 8 USD a "
        "month plus 0.60 USD per million requests; CloudFront web ACLs exist only in us-east-1)",
    )
    add_number_parameter(
        template,
        "LoginRateLimit",
        100,
        10,
        description="Requests to the login paths one address may make in 5 minutes before it is blocked",
    )
    add_number_parameter(
        template,
        "RequestRateLimit",
        3000,
        100,
        description="Requests of any kind one address may make in 5 minutes before it is blocked",
    )
    template.add_condition(HAS_WAF, Equals(Ref("Waf"), "enabled"))
    template.add_mapping(
        "ElbLogAccounts", {region: {"Account": account} for region, account in ELB_LOG_ACCOUNTS.items()}
    )


def create_logs_bucket(template: Template) -> s3.Bucket:
    """Access logs of CloudFront, the load balancer and the console bucket."""
    bucket = template.add_resource(
        s3.Bucket(
            "LogsBucket",
            # CloudFront standard logs are written with an ACL; the owner keeps every object.
            OwnershipControls=s3.OwnershipControls(
                Rules=[s3.OwnershipControlsRule(ObjectOwnership="BucketOwnerPreferred")]
            ),
            PublicAccessBlockConfiguration=no_public_access(),
            BucketEncryption=s3_managed_encryption(),  # ELB access logs support only S3-managed keys
            VersioningConfiguration=s3.VersioningConfiguration(Status="Enabled"),
            LifecycleConfiguration=s3.LifecycleConfiguration(
                Rules=[
                    s3.LifecycleRule(
                        Id="expire",
                        Status="Enabled",
                        ExpirationInDays=90,
                        NoncurrentVersionExpirationInDays=7,
                    )
                ]
            ),
            Tags=tags("access-logs"),
            **RETAIN,  # the access record outlives the stack; its objects still expire by the lifecycle rule
        )
    )
    no_self_logging = "this is the access-log bucket itself; logging it into itself would loop"
    checkov_skip(bucket, CKV_AWS_18=no_self_logging)
    cfn_nag_skip(bucket, W35=no_self_logging)
    guard_skip(
        bucket,
        S3_BUCKET_LOGGING_ENABLED=no_self_logging,
        S3_DEFAULT_ENCRYPTION_KMS="Elastic Load Balancing writes access logs only to buckets with S3-managed keys",
        S3_BUCKET_DEFAULT_LOCK_ENABLED=NO_OBJECT_LOCK,
        S3_BUCKET_NO_PUBLIC_RW_ACL=NO_ACL,
        S3_BUCKET_REPLICATION_ENABLED="access logs of this region: a copy elsewhere is the owner's choice",
    )
    template.add_resource(
        s3.BucketPolicy(
            "LogsBucketPolicy",
            Bucket=Ref(bucket),
            PolicyDocument=PolicyDocument(
                Version="2012-10-17",
                Statement=[
                    Statement(
                        Sid="LoadBalancerWritesAccessLogs",
                        Effect=Allow,
                        Principal=Principal(
                            "AWS",
                            Sub(
                                "arn:${AWS::Partition}:iam::${Account}:root",
                                Account=FindInMap("ElbLogAccounts", Ref("AWS::Region"), "Account"),
                            ),
                        ),
                        Action=[PutObject],
                        Resource=[Sub("${LogsBucket.Arn}/alb/AWSLogs/${AWS::AccountId}/*")],
                    ),
                    deny_insecure_transport("LogsBucket"),
                ],
            ),
        )
    )
    return bucket


def deny_insecure_transport(bucket: str) -> Statement:
    return Statement(
        Sid="DenyWithoutTls",
        Effect=Deny,
        Principal=Principal("AWS", "*"),
        Action=[AwacsAction("s3", "*")],
        Resource=[GetAtt(bucket, "Arn"), Sub(f"${{{bucket}.Arn}}/*")],
        Condition=Condition(Bool("aws:SecureTransport", False)),  # a JSON boolean, as the Guard rule reads it
    )


def create_console_bucket(template: Template, logs_bucket: s3.Bucket) -> s3.Bucket:
    bucket = template.add_resource(
        s3.Bucket(
            "ConsoleBucket",
            PublicAccessBlockConfiguration=no_public_access(),
            OwnershipControls=s3.OwnershipControls(
                Rules=[s3.OwnershipControlsRule(ObjectOwnership="BucketOwnerEnforced")]
            ),
            BucketEncryption=s3_managed_encryption(),
            VersioningConfiguration=s3.VersioningConfiguration(Status="Enabled"),
            LoggingConfiguration=s3.LoggingConfiguration(
                DestinationBucketName=Ref(logs_bucket), LogFilePrefix="console/"
            ),
            Tags=tags("console"),
        )
    )
    guard_skip(
        bucket,
        S3_DEFAULT_ENCRYPTION_KMS="the console page is served to anyone through CloudFront: a KMS key would guard "
        "nothing secret and CloudFront's origin access control would need its own key grant",
        S3_BUCKET_DEFAULT_LOCK_ENABLED=NO_OBJECT_LOCK,
        S3_BUCKET_NO_PUBLIC_RW_ACL=NO_ACL,
        S3_BUCKET_REPLICATION_ENABLED="the console page is rebuilt by every deploy: nothing to replicate",
    )
    template.add_resource(
        s3.BucketPolicy(
            "ConsoleBucketPolicy",
            Bucket=Ref(bucket),
            PolicyDocument=PolicyDocument(
                Version="2012-10-17",
                Statement=[
                    Statement(
                        Sid="CloudFrontReadsThroughOriginAccessControl",
                        Effect=Allow,
                        Principal=Principal("Service", "cloudfront.amazonaws.com"),
                        Action=[GetObject],
                        Resource=[Sub("${ConsoleBucket.Arn}/*")],
                        Condition=Condition(
                            StringEquals(
                                "AWS:SourceArn",
                                Sub(
                                    "arn:${AWS::Partition}:cloudfront::${AWS::AccountId}:distribution/${Distribution}"
                                ),
                            )
                        ),
                    ),
                    deny_insecure_transport("ConsoleBucket"),
                ],
            ),
        )
    )
    return bucket


def create_origin_verify_secret(template: Template) -> secretsmanager.Secret:
    secret = template.add_resource(
        secretsmanager.Secret(
            "OriginVerifySecret",
            Name=Sub("${EnvironmentName}/edge/origin-verify"),
            Description="Value of the header CloudFront sends and the load balancer requires",
            KmsKeyId=network.DATA_KEY_ARN.imported(),
            GenerateSecretString=secretsmanager.GenerateSecretString(
                SecretStringTemplate="{}",
                GenerateStringKey="token",
                PasswordLength=48,
                ExcludePunctuation=True,
            ),
        )
    )
    guard_skip(secret, SECRETSMANAGER_ROTATION_ENABLED_CHECK=MANUAL_ROTATION)
    return secret


def create_load_balancer(
    template: Template, logs_bucket: s3.Bucket
) -> tuple[elb.LoadBalancer, elb.Listener, ec2.SecurityGroup]:
    ports = sorted({service_files.load(service).port for service in WEB_SERVICES})
    group = template.add_resource(
        network.security_group(
            "LoadBalancerSecurityGroup",
            "Load balancer: HTTP only from CloudFront (its VPC origin, origin-facing prefix list)",
            "alb",
            SecurityGroupIngress=[
                tcp_rule(
                    80, "CloudFront origin-facing servers", SourcePrefixListId=Ref(PREFIX_LIST_PARAMETER)
                )
            ],
            # Only to the services' ports (their tasks have addresses of the VPC: awsvpc network mode).
            SecurityGroupEgress=[
                tcp_rule(port, "to the services' tasks in the VPC", CidrIp=network.VPC_CIDR.imported())
                for port in ports
            ],
        )
    )
    template.add_resource(
        tcp_ingress(
            "VpcOriginIngress",
            Ref(group),
            80,
            f"CloudFront's VPC origin ({VPC_ORIGIN_GROUP_NAME})",
            Condition=HAS_VPC_ORIGIN_GROUP,
            SourceSecurityGroupId=Ref(VPC_ORIGIN_GROUP_PARAMETER),
        )
    )
    balancer = template.add_resource(
        elb.LoadBalancer(
            "LoadBalancer",
            # No public address: CloudFront reaches it through the VPC origin, nothing else from outside can.
            Scheme="internal",
            Type="application",
            Subnets=[subnet.imported() for subnet in network.PRIVATE_SUBNETS],
            SecurityGroups=[Ref(group)],
            LoadBalancerAttributes=[
                elb.LoadBalancerAttributes(
                    Key="routing.http.drop_invalid_header_fields.enabled", Value="true"
                ),
                elb.LoadBalancerAttributes(Key="idle_timeout.timeout_seconds", Value="60"),
                elb.LoadBalancerAttributes(Key="access_logs.s3.enabled", Value="true"),
                elb.LoadBalancerAttributes(Key="access_logs.s3.bucket", Value=Ref(logs_bucket)),
                elb.LoadBalancerAttributes(Key="access_logs.s3.prefix", Value="alb"),
            ],
            DependsOn="LogsBucketPolicy",
            Tags=tags("alb"),
        )
    )
    listener = template.add_resource(
        elb.Listener(
            "Listener",
            LoadBalancerArn=Ref(balancer),
            Port=80,
            Protocol="HTTP",
            # Anything without a matching rule (paths and the origin-verify header) is refused.
            DefaultActions=[
                elb.Action(
                    Type="fixed-response",
                    FixedResponseConfig=elb.FixedResponseConfig(
                        StatusCode="403", ContentType="text/plain", MessageBody="Forbidden"
                    ),
                )
            ],
        )
    )
    reason = (
        "HTTP inside the VPC only: the load balancer is internal (no public address) and CloudFront, where TLS "
        "ends, reaches it through its VPC origin on AWS's network; HTTPS here would need a domain of the user's own"
    )
    checkov_skip(listener, CKV_AWS_2=reason, CKV_AWS_103="no TLS on this listener, see CKV_AWS_2")
    cfn_nag_skip(listener, W56=reason, W55="no TLS on this listener, so no SSL policy: see W56")
    guard_skip(listener, ELB_TLS_HTTPS_LISTENERS_ONLY=reason, ELBV2_ACM_CERTIFICATE_REQUIRED=reason)
    guard_skip(
        balancer,
        ELB_DELETION_PROTECTION_ENABLED="off so that destroy can remove the stack: the load balancer holds no "
        "data and a deploy re-creates it identically",
    )
    return balancer, listener, group


def create_distribution(
    template: Template, balancer: elb.LoadBalancer, logs_bucket: s3.Bucket, secret: secretsmanager.Secret
) -> cloudfront.Distribution:
    control = template.add_resource(
        cloudfront.OriginAccessControl(
            "ConsoleOriginAccessControl",
            OriginAccessControlConfig=cloudfront.OriginAccessControlConfig(
                Name=Sub("${EnvironmentName}-console"),
                OriginAccessControlOriginType="s3",
                SigningBehavior="always",
                SigningProtocol="sigv4",
            ),
        )
    )
    vpc_origin = template.add_resource(
        cloudfront.VpcOrigin(
            "LoadBalancerVpcOrigin",
            VpcOriginEndpointConfig=cloudfront.VpcOriginEndpointConfig(
                Name=Sub("${EnvironmentName}-alb"),
                Arn=Ref(balancer),
                HTTPPort=80,
                HTTPSPort=443,
                OriginProtocolPolicy="http-only",
            ),
            Tags=tags("alb-origin"),
        )
    )
    alb_behaviours = [
        cloudfront.CacheBehavior(
            PathPattern=path,
            TargetOriginId="alb",
            ViewerProtocolPolicy="https-only",
            AllowedMethods=["GET", "HEAD", "OPTIONS", "PUT", "POST", "PATCH", "DELETE"],
            CachedMethods=["GET", "HEAD"],
            CachePolicyId=CACHING_DISABLED,
            OriginRequestPolicyId=ALL_VIEWER,
            ResponseHeadersPolicyId=SECURITY_HEADERS,
            Compress=True,
        )
        for path in ALB_PATHS
    ]
    distribution = template.add_resource(
        cloudfront.Distribution(
            "Distribution",
            DistributionConfig=cloudfront.DistributionConfig(
                Enabled=True,
                Comment=Sub("${EnvironmentName} console, Grafana and Chronograf"),
                HttpVersion="http2and3",
                DefaultRootObject="index.html",
                PriceClass="PriceClass_100",
                Origins=[
                    cloudfront.Origin(
                        Id="console",
                        DomainName=GetAtt("ConsoleBucket", "RegionalDomainName"),
                        S3OriginConfig=cloudfront.S3OriginConfig(OriginAccessIdentity=""),
                        OriginAccessControlId=Ref(control),
                    ),
                    cloudfront.Origin(
                        Id="alb",
                        DomainName=GetAtt(balancer, "DNSName"),
                        VpcOriginConfig=cloudfront.VpcOriginConfig(
                            VpcOriginId=GetAtt(vpc_origin, "Id"),
                            OriginReadTimeout=60,
                            OriginKeepaliveTimeout=5,
                        ),
                        OriginCustomHeaders=[
                            cloudfront.OriginCustomHeader(
                                HeaderName=ORIGIN_VERIFY_HEADER, HeaderValue=origin_verify_value(Ref(secret))
                            )
                        ],
                    ),
                ],
                DefaultCacheBehavior=cloudfront.DefaultCacheBehavior(
                    TargetOriginId="console",
                    ViewerProtocolPolicy="https-only",
                    CachePolicyId=CACHING_OPTIMIZED,
                    ResponseHeadersPolicyId=SECURITY_HEADERS,
                    Compress=True,
                ),
                CacheBehaviors=alb_behaviours,
                Logging=cloudfront.Logging(Bucket=GetAtt(logs_bucket, "DomainName"), Prefix="cloudfront/"),
                ViewerCertificate=cloudfront.ViewerCertificate(CloudFrontDefaultCertificate=True),
                WebACLId=If(HAS_WAF, GetAtt("WebAcl", "Arn"), Ref("AWS::NoValue")),
            ),
            Tags=tags("cdn"),
        )
    )
    checkov_skip(
        distribution,
        CKV_AWS_174="the default *.cloudfront.net certificate fixes the TLS policy; a minimum version needs "
        "a certificate for a domain of the user's own (docs/deploying.md)",
        CKV_AWS_68="the web ACL is attached unless the Waf parameter is disabled (checkov does not follow the "
        "condition)",
    )
    guard_skip(
        distribution,
        CLOUDFRONT_MINIMUM_PROTOCOL_VERSION_RULE="the default *.cloudfront.net certificate fixes the TLS policy; a "
        "minimum version needs a certificate for a domain of the user's own (docs/deploying.md)",
    )
    return distribution


def rate_rule(
    name: str, priority: int, limit: object, scope_down: wafv2.Statement | None = None
) -> wafv2.WebACLRule:
    rate = wafv2.RateBasedStatement(AggregateKeyType="IP", Limit=limit, EvaluationWindowSec=300)
    if scope_down is not None:
        rate.ScopeDownStatement = scope_down
    return wafv2.WebACLRule(
        Name=name,
        Priority=priority,
        Action=wafv2.RuleAction(Block=wafv2.BlockAction()),
        Statement=wafv2.Statement(RateBasedStatement=rate),
        VisibilityConfig=wafv2.VisibilityConfig(
            CloudWatchMetricsEnabled=True, MetricName=name, SampledRequestsEnabled=True
        ),
    )


def login_paths() -> wafv2.Statement:
    """Requests whose path starts with one of the login paths (any case)."""
    matches = [
        wafv2.Statement(
            ByteMatchStatement=wafv2.ByteMatchStatement(
                FieldToMatch=wafv2.FieldToMatch(UriPath={}),
                PositionalConstraint="STARTS_WITH",
                SearchString=path,
                TextTransformations=[wafv2.TextTransformation(Priority=0, Type="LOWERCASE")],
            )
        )
        for path in LOGIN_PATHS
    ]
    return wafv2.Statement(OrStatement=wafv2.OrStatement(Statements=matches))


def managed_rule_group(name: str, priority: int, metric: str) -> wafv2.WebACLRule:
    """An AWS managed rule group, its own actions kept (block what it matches)."""
    return wafv2.WebACLRule(
        Name=metric,
        Priority=priority,
        OverrideAction=wafv2.OverrideAction(**{"None": {}}),
        Statement=wafv2.Statement(
            ManagedRuleGroupStatement=wafv2.ManagedRuleGroupStatement(VendorName="AWS", Name=name)
        ),
        VisibilityConfig=wafv2.VisibilityConfig(
            CloudWatchMetricsEnabled=True, MetricName=metric, SampledRequestsEnabled=True
        ),
    )


def basic_auth() -> wafv2.Statement:
    """Requests carrying HTTP Basic credentials (Grafana takes them on /grafana/api/*): each is a password try."""
    return wafv2.Statement(
        ByteMatchStatement=wafv2.ByteMatchStatement(
            FieldToMatch=wafv2.FieldToMatch(SingleHeader=wafv2.SingleHeader(Name="authorization")),
            PositionalConstraint="STARTS_WITH",
            SearchString="basic ",
            TextTransformations=[wafv2.TextTransformation(Priority=0, Type="LOWERCASE")],
        )
    )


def create_web_acl(template: Template) -> wafv2.WebACL:
    """Rate limits per client address, strict on the login paths and on Basic credentials (password guessing),
    AWS's rules against addresses of bad reputation, common exploits and known bad inputs; every request it
    blocks or counts is logged."""
    acl = template.add_resource(
        wafv2.WebACL(
            "WebAcl",
            Condition=HAS_WAF,
            Name=Sub("${EnvironmentName}-edge"),
            Scope="CLOUDFRONT",
            DefaultAction=wafv2.DefaultAction(Allow=wafv2.AllowAction()),
            Rules=[
                managed_rule_group("AWSManagedRulesAmazonIpReputationList", 0, "ip-reputation"),
                rate_rule("login-rate", 1, Ref("LoginRateLimit"), login_paths()),
                rate_rule("basic-auth-rate", 2, Ref("LoginRateLimit"), basic_auth()),
                rate_rule("request-rate", 3, Ref("RequestRateLimit")),
                # Request patterns known to exploit software (Log4j lookups, ...): few false positives.
                managed_rule_group("AWSManagedRulesKnownBadInputsRuleSet", 4, "known-bad-inputs"),
                managed_rule_group("AWSManagedRulesCommonRuleSet", 5, "common"),
            ],
            VisibilityConfig=wafv2.VisibilityConfig(
                CloudWatchMetricsEnabled=True,
                MetricName=Sub("${EnvironmentName}-edge"),
                SampledRequestsEnabled=True,
            ),
            Tags=tags("edge"),
        )
    )
    # WAF writes only to a log group whose name starts with aws-waf-logs-, in the web ACL's region.
    log_group = template.add_resource(
        logs.LogGroup(
            "WafLogGroup",
            Condition=HAS_WAF,
            LogGroupName=Sub("aws-waf-logs-${EnvironmentName}-edge"),
            RetentionInDays=LOG_RETENTION_DAYS,
            KmsKeyId=network.DATA_KEY_ARN.imported(),
        )
    )
    template.add_resource(
        wafv2.LoggingConfiguration(
            "WafLogging",
            Condition=HAS_WAF,
            ResourceArn=GetAtt(acl, "Arn"),
            LogDestinationConfigs=[GetAtt(log_group, "Arn")],
            # Credentials and sessions stay out of the log.
            RedactedFields=[
                wafv2.LoggingConfigurationFieldToMatch(SingleHeader=wafv2.SingleHeader(Name=header))
                for header in ("authorization", "cookie")
            ],
        )
    )
    return acl


def create_alarms(template: Template, balancer: elb.LoadBalancer) -> None:
    topic = create_topic(
        template,
        "AlarmTopic",
        "edge-alarms",
        "AlarmEmail",
        "Address the load balancer's alarms are sent to",
        network.DATA_KEY_ARN.imported(),
    )
    for logical, metric, description in (
        (
            "LoadBalancer5xxAlarm",
            "HTTPCode_ELB_5XX_Count",
            "The load balancer answered 5xx itself: no healthy task behind a path (502/503) or one too slow (504)",
        ),
        (
            "Target5xxAlarm",
            "HTTPCode_Target_5XX_Count",
            "Grafana or Chronograf answered 5xx",
        ),
    ):
        add_alarm(
            template,
            logical,
            description,
            ("AWS/ApplicationELB", metric, {"LoadBalancer": GetAtt(balancer, "LoadBalancerFullName")}),
            "Sum",
            "GreaterThanOrEqualToThreshold",
            5,
            Ref(topic),
            period=300,
        )
    add_output(
        template, ALARM_TOPIC_ARN, Ref(topic), "Topic of the load balancer's and the web services' alarms"
    )


def build() -> Template:
    template = new_template(
        "Load balancer behind CloudFront (HTTPS only, origin-verify header) and console bucket"
    )
    create_parameters(template)
    logs_bucket = create_logs_bucket(template)
    create_console_bucket(template, logs_bucket)
    secret = create_origin_verify_secret(template)
    balancer, listener, group = create_load_balancer(template, logs_bucket)
    create_web_acl(template)
    distribution = create_distribution(template, balancer, logs_bucket, secret)
    create_alarms(template, balancer)
    add_output(template, LISTENER_ARN, Ref(listener), "Listener the services add their path rules to")
    add_output(template, LOAD_BALANCER_SECURITY_GROUP, Ref(group), "Security group of the load balancer")
    add_output(
        template,
        LOAD_BALANCER_FULL_NAME,
        GetAtt(balancer, "LoadBalancerFullName"),
        "The load balancer's name in its CloudWatch metrics",
    )
    add_output(template, DISTRIBUTION_DOMAIN, GetAtt(distribution, "DomainName"), "The public domain name")
    add_output(template, DISTRIBUTION_ID, Ref(distribution), "The distribution's id")
    add_output(template, CONSOLE_BUCKET, Ref("ConsoleBucket"), "Bucket holding the console page")
    add_output(
        template, ORIGIN_VERIFY_SECRET_ARN, Ref(secret), "Secret holding the origin-verify header's value"
    )
    return template


STACK = StackDefinition(name=NAME, build=build, depends_on=(network.NAME,))
