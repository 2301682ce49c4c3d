"""network: VPC, public and private subnets in two AZs, NAT per AZ, flow logs, gateway endpoints, the data key."""

from __future__ import annotations

from typing import Any

from awacs.aws import Action, Allow, ArnLike, Condition, PolicyDocument, Principal, Statement, StringEquals
from awacs.aws import Action as AwacsAction
from troposphere import GetAtt, GetAZs, Parameter, Ref, Select, Sub, Template, ec2, kms

from infrastructure.common import (
    OPEN_HTTPS_EGRESS,
    add_output,
    allow,
    assume_role,
    cfn_nag_skip,
    create_log_group,
    guard_skip,
    new_template,
    role_with_policy,
    tags,
    tcp_rule,
)
from infrastructure.names import Export
from infrastructure.registry import StackDefinition
from infrastructure.retention import RETAIN, retain

NAME = "network"
VPC_ID = Export(NAME, "VpcId")
VPC_CIDR = Export(NAME, "VpcCidr")
PUBLIC_SUBNETS = (Export(NAME, "PublicSubnet1Id"), Export(NAME, "PublicSubnet2Id"))
PRIVATE_SUBNETS = (Export(NAME, "PrivateSubnet1Id"), Export(NAME, "PrivateSubnet2Id"))
DATA_KEY_ARN = Export(NAME, "DataKeyArn")

CIDRS = {
    "VpcCidr": "10.0.0.0/16",
    "PublicSubnet1Cidr": "10.0.0.0/24",
    "PublicSubnet2Cidr": "10.0.1.0/24",
    "PrivateSubnet1Cidr": "10.0.2.0/24",
    "PrivateSubnet2Cidr": "10.0.3.0/24",
}


def security_group(logical_id: str, description: str, name: str, **properties: Any) -> ec2.SecurityGroup:
    """A security group in the environment's VPC, tagged `<env>-<name>`; `properties`: its rules (and Condition)."""
    return ec2.SecurityGroup(
        logical_id, GroupDescription=description, VpcId=VPC_ID.imported(), Tags=tags(name), **properties
    )


def https_out_group(
    logical_id: str,
    description: str,
    name: str,
    https_to: str,
    *more_egress: ec2.SecurityGroupRule,
    **properties: Any,
) -> ec2.SecurityGroup:
    """A security group (security_group) that sends HTTPS anywhere, to `https_to` (its rule's description), and
    `more_egress`, with cfn_nag told why 443 is open (OPEN_HTTPS_EGRESS)."""
    egress = [tcp_rule(443, https_to, CidrIp="0.0.0.0/0"), *more_egress]
    group = security_group(logical_id, description, name, SecurityGroupEgress=egress, **properties)
    cfn_nag_skip(group, W5=OPEN_HTTPS_EGRESS)
    return group


def create_parameters(template: Template) -> None:
    for name, default in CIDRS.items():
        template.add_parameter(
            Parameter(name, Type="String", Default=default, AllowedPattern=r"^\d+\.\d+\.\d+\.\d+/\d+$")
        )


def create_data_key(template: Template) -> kms.Key:
    """The environment's key for logs, secrets, the table, alarms' topic and the function's environment."""
    account_root = Principal("AWS", Sub("arn:${AWS::Partition}:iam::${AWS::AccountId}:root"))
    policy = PolicyDocument(
        Version="2012-10-17",
        Statement=[
            # A key policy's "*" resource is this key; the account keeps administering it through IAM.
            Statement(
                Sid="AccountAdministers",
                Effect=Allow,
                Principal=account_root,
                Action=[AwacsAction("kms", "*")],
                Resource=["*"],
            ),
            Statement(
                Sid="CloudWatchLogsEncrypt",
                Effect=Allow,
                Principal=Principal("Service", Sub("logs.${AWS::Region}.amazonaws.com")),
                Action=[
                    AwacsAction("kms", a)
                    for a in ("Encrypt*", "Decrypt*", "ReEncrypt*", "GenerateDataKey*", "Describe*")
                ],
                Resource=["*"],
                # Only for this account's log groups: CloudWatch Logs passes the log group's ARN as the encryption
                # context (https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/encrypt-log-data-kms.html).
                Condition=Condition(
                    [
                        StringEquals("aws:SourceAccount", Ref("AWS::AccountId")),
                        ArnLike(
                            "kms:EncryptionContext:aws:logs:arn",
                            Sub("arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:*"),
                        ),
                    ]
                ),
            ),
            Statement(
                Sid="AlarmsPublishToEncryptedTopic",
                Effect=Allow,
                Principal=Principal("Service", "cloudwatch.amazonaws.com"),
                Action=[AwacsAction("kms", "Decrypt"), AwacsAction("kms", "GenerateDataKey*")],
                Resource=["*"],
                Condition=Condition(StringEquals("aws:SourceAccount", Ref("AWS::AccountId"))),
            ),
        ],
    )
    key = template.add_resource(
        kms.Key(
            "DataKey",
            Description=Sub("${EnvironmentName} data key"),
            EnableKeyRotation=True,
            KeyPolicy=policy,
            # The file system and the table (retained) are encrypted with it: deleting the stack must not
            # schedule its deletion. The deploy tool finds it again by its alias (infrastructure/reattach.py).
            **RETAIN,
        )
    )
    template.add_resource(
        kms.Alias(
            "DataKeyAlias", AliasName=Sub("alias/${EnvironmentName}-data"), TargetKeyId=Ref(key), **RETAIN
        )
    )
    return key


def create_vpc(template: Template) -> ec2.VPC:
    vpc = template.add_resource(
        ec2.VPC(
            "Vpc", CidrBlock=Ref("VpcCidr"), EnableDnsHostnames=True, EnableDnsSupport=True, Tags=tags("vpc")
        )
    )
    gateway = template.add_resource(ec2.InternetGateway("InternetGateway", Tags=tags("igw")))
    template.add_resource(
        ec2.VPCGatewayAttachment("GatewayAttachment", VpcId=Ref(vpc), InternetGatewayId=Ref(gateway))
    )
    return vpc


def create_subnet(template: Template, vpc: ec2.VPC, kind: str, index: int) -> ec2.Subnet:
    return template.add_resource(
        ec2.Subnet(
            f"{kind}Subnet{index}",
            VpcId=Ref(vpc),
            CidrBlock=Ref(f"{kind}Subnet{index}Cidr"),
            AvailabilityZone=Select(index - 1, GetAZs("")),
            MapPublicIpOnLaunch=False,  # only the NAT gateways and the load balancer live here, with their own IPs
            Tags=tags(f"{kind.lower()}-{index}"),
        )
    )


def create_public_routes(template: Template, vpc: ec2.VPC, subnets: list[ec2.Subnet]) -> None:
    table = template.add_resource(ec2.RouteTable("PublicRouteTable", VpcId=Ref(vpc), Tags=tags("public")))
    template.add_resource(
        ec2.Route(
            "PublicDefaultRoute",
            DependsOn="GatewayAttachment",
            RouteTableId=Ref(table),
            DestinationCidrBlock="0.0.0.0/0",
            GatewayId=Ref("InternetGateway"),
        )
    )
    guard_skip(
        template.resources["PublicDefaultRoute"],
        NO_UNRESTRICTED_ROUTE_TO_IGW="the public subnets hold only the NAT gateways, whose way out this is; "
        "every task and function is in the private subnets",
    )
    for index, subnet in enumerate(subnets, start=1):
        template.add_resource(
            ec2.SubnetRouteTableAssociation(
                f"PublicSubnet{index}RouteTableAssociation", SubnetId=Ref(subnet), RouteTableId=Ref(table)
            )
        )


def create_private_routes(
    template: Template, vpc: ec2.VPC, public: list[ec2.Subnet], private: list[ec2.Subnet]
) -> list[ec2.RouteTable]:
    """A NAT gateway per AZ, so one AZ's outage does not cut the other's way out."""
    tables = []
    for index, (public_subnet, private_subnet) in enumerate(zip(public, private, strict=True), start=1):
        eip = template.add_resource(ec2.EIP(f"NatEip{index}", Domain="vpc", DependsOn="GatewayAttachment"))
        nat = template.add_resource(
            ec2.NatGateway(
                f"NatGateway{index}",
                AllocationId=GetAtt(eip, "AllocationId"),
                SubnetId=Ref(public_subnet),
                Tags=tags(f"nat-{index}"),
            )
        )
        table = template.add_resource(
            ec2.RouteTable(f"PrivateRouteTable{index}", VpcId=Ref(vpc), Tags=tags(f"private-{index}"))
        )
        template.add_resource(
            ec2.Route(
                f"PrivateDefaultRoute{index}",
                RouteTableId=Ref(table),
                DestinationCidrBlock="0.0.0.0/0",
                NatGatewayId=Ref(nat),
            )
        )
        template.add_resource(
            ec2.SubnetRouteTableAssociation(
                f"PrivateSubnet{index}RouteTableAssociation",
                SubnetId=Ref(private_subnet),
                RouteTableId=Ref(table),
            )
        )
        tables.append(table)
    return tables


# Buckets of AWS's own that hosts in the VPC read through the S3 endpoint: Amazon Linux's package repositories,
# ECR's image layers, and the SSM and ECS agents' updates (AWS documents each for endpoint policies:
# https://docs.aws.amazon.com/AmazonECR/latest/userguide/vpc-endpoints.html,
# https://docs.aws.amazon.com/systems-manager/latest/userguide/ssm-agent-minimum-s3-permissions.html).
AWS_SERVICE_BUCKETS = (
    "al2023-repos-${AWS::Region}-*",
    "amazonlinux-2-repos-${AWS::Region}",
    "prod-${AWS::Region}-starport-layer-bucket",
    "amazon-ssm-${AWS::Region}",
    "amazon-ssm-packages-${AWS::Region}",
    "aws-ssm-${AWS::Region}",
    "${AWS::Region}-birdwatcher-prod",
    "aws-ssm-document-attachments-${AWS::Region}",
    "amazon-ecs-agent-${AWS::Region}",
)


S3_ACTIONS = (
    "GetObject",
    "PutObject",
    "ListBucket",
    "GetBucketLocation",
    "AbortMultipartUpload",
    "ListMultipartUploadParts",
)


def endpoint_policy(service: str) -> PolicyDocument:
    """What the VPC may reach through a gateway endpoint: this account's tables; this account's buckets and the
    AWS service buckets above (read only). Anything else goes through the NAT gateways, or nowhere."""
    if service == "DynamoDB":
        statements = [
            Statement(
                Sid="ThisAccountsTables",
                Effect=Allow,
                Principal=Principal("AWS", "*"),
                Action=[Action("dynamodb", "*")],
                Resource=[Sub("arn:${AWS::Partition}:dynamodb:${AWS::Region}:${AWS::AccountId}:table/*")],
            )
        ]
    else:
        statements = [
            Statement(
                Sid="ThisAccountsBuckets",
                Effect=Allow,
                Principal=Principal("AWS", "*"),
                # What the tasks do with S3: fetch their files, upload and restore backups (in parts).
                Action=[Action("s3", a) for a in S3_ACTIONS],
                Resource=[Sub("arn:${AWS::Partition}:s3:::*")],
                Condition=Condition(StringEquals("aws:ResourceAccount", Ref("AWS::AccountId"))),
            ),
            Statement(
                Sid="AwsServiceBucketsReadOnly",
                Effect=Allow,
                Principal=Principal("AWS", "*"),
                Action=[Action("s3", "GetObject")],
                Resource=[Sub(f"arn:${{AWS::Partition}}:s3:::{bucket}/*") for bucket in AWS_SERVICE_BUCKETS],
            ),
        ]
    return PolicyDocument(Version="2012-10-17", Statement=statements)


def create_gateway_endpoints(template: Template, vpc: ec2.VPC, tables: list[ec2.RouteTable]) -> None:
    """DynamoDB and S3 without the NAT gateways: cheaper and private, each with a policy."""
    for service in ("DynamoDB", "S3"):
        template.add_resource(
            ec2.VPCEndpoint(
                f"{service}Endpoint",
                VpcId=Ref(vpc),
                ServiceName=Sub(f"com.amazonaws.${{AWS::Region}}.{service.lower()}"),
                VpcEndpointType="Gateway",
                RouteTableIds=[Ref(table) for table in tables],
                PolicyDocument=endpoint_policy(service),
            )
        )


def create_flow_logs(template: Template, vpc: ec2.VPC, key: kms.Key) -> None:
    group = create_log_group(
        template, "FlowLogGroup", Sub("/${EnvironmentName}/vpc-flow-logs"), GetAtt(key, "Arn")
    )
    retain(group)  # an audit record: it outlives the network, and expires by its retention
    role = template.add_resource(
        # Only this account's flow logs may act through it (the service sets aws:SourceArn to the flow log's
        # ARN, whose id is not known before it exists:
        # https://docs.aws.amazon.com/vpc/latest/userguide/flow-logs-iam-role.html).
        role_with_policy(
            "FlowLogRole",
            assume_role(
                "vpc-flow-logs.amazonaws.com",
                Sub("arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}:vpc-flow-log/*"),
            ),
            "write-flow-logs",
            [
                allow(
                    "logs", ("CreateLogStream", "PutLogEvents", "DescribeLogStreams"), [GetAtt(group, "Arn")]
                )
            ],
        )
    )
    template.add_resource(
        ec2.FlowLog(
            "VpcFlowLog",
            ResourceId=Ref(vpc),
            ResourceType="VPC",
            TrafficType="ALL",
            LogDestinationType="cloud-watch-logs",
            LogGroupName=Ref(group),
            DeliverLogsPermissionArn=GetAtt(role, "Arn"),
        )
    )


def build() -> Template:
    template = new_template(
        "VPC with public and private subnets in two AZs, NAT per AZ, flow logs and endpoints"
    )
    create_parameters(template)
    key = create_data_key(template)
    vpc = create_vpc(template)
    public = [create_subnet(template, vpc, "Public", index) for index in (1, 2)]
    private = [create_subnet(template, vpc, "Private", index) for index in (1, 2)]
    create_public_routes(template, vpc, public)
    tables = create_private_routes(template, vpc, public, private)
    create_gateway_endpoints(template, vpc, tables)
    create_flow_logs(template, vpc, key)
    add_output(template, VPC_ID, Ref(vpc), "The VPC")
    add_output(template, VPC_CIDR, GetAtt(vpc, "CidrBlock"), "The VPC's address range")
    for export, subnet in zip(PUBLIC_SUBNETS + PRIVATE_SUBNETS, public + private, strict=True):
        add_output(template, export, Ref(subnet), f"Subnet {subnet.title}")
    add_output(template, DATA_KEY_ARN, GetAtt(key, "Arn"), "KMS key for logs, secrets, table and topic")
    return template


STACK = StackDefinition(name=NAME, build=build, depends_on=())
