"""cluster: ECS on an EC2 Auto Scaling group with a capacity provider, and the Cloud Map namespace `<env>`."""

from __future__ import annotations

from awacs.aws import Action as AwacsAction
from awacs.aws import Allow, Statement
from troposphere import (
    Base64,
    GetAtt,
    Parameter,
    Ref,
    Sub,
    Template,
    autoscaling,
    ec2,
    ecs,
    iam,
    servicediscovery,
)

from infrastructure.common import (
    add_number_parameter,
    add_output,
    add_string_parameter,
    assume_role,
    cfn_nag_skip,
    checkov_skip,
    new_template,
    role_with_policy,
    tcp_rule,
)
from infrastructure.names import Export
from infrastructure.registry import StackDefinition
from infrastructure.stacks import network

NAME = "cluster"
CLUSTER_NAME = Export(NAME, "ClusterName")
CAPACITY_PROVIDER = Export(NAME, "CapacityProviderName")
HOST_SECURITY_GROUP = Export(NAME, "HostSecurityGroupId")
NAMESPACE_ID = Export(NAME, "NamespaceId")

# Parameters the capacity model (benchmarks/capacity.py) sets: named once, here.
INSTANCE_TYPE_PARAMETER = "InstanceType"
DESIRED_CAPACITY_PARAMETER = "DesiredCapacity"
MAX_SIZE_PARAMETER = "MaxSize"

ECS_AMI = "/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id"


def create_parameters(template: Template) -> None:
    add_string_parameter(
        template, INSTANCE_TYPE_PARAMETER, default="t3.large", pattern=r"^[a-z][a-z0-9]*\.[a-z0-9]+$"
    )
    add_number_parameter(template, DESIRED_CAPACITY_PARAMETER, 2, 1, 10)
    add_number_parameter(template, MAX_SIZE_PARAMETER, 4, 1, 10)
    template.add_parameter(
        Parameter(
            "EcsAmi",
            Type="AWS::SSM::Parameter::Value<AWS::EC2::Image::Id>",
            Default=ECS_AMI,
            Description="ECS-optimised Amazon Linux 2023 AMI",
        )
    )


def create_host_security_group(template: Template) -> ec2.SecurityGroup:
    return template.add_resource(
        network.https_out_group(
            "HostSecurityGroup",
            "ECS container instances: no inbound; tasks have their own groups (awsvpc)",
            "ecs-hosts",
            "ECS, SSM and the public image registries over HTTPS",
            tcp_rule(2049, "EFS inside the VPC", CidrIp=network.VPC_CIDR.imported()),
        )
    )


def host_statements() -> list[Statement]:
    """What the ECS agent and Session Manager need, and nothing else (the AWS-managed policies allow every
    cluster, ECR, CloudWatch Logs and all of Systems Manager). Images come from public registries and logs go
    through each task's execution role, so neither ECR nor CloudWatch Logs is here."""
    cluster_arn = Sub(
        "arn:${AWS::Partition}:ecs:${AWS::Region}:${AWS::AccountId}:cluster/${EnvironmentName}-cluster"
    )
    instances = Sub(
        "arn:${AWS::Partition}:ecs:${AWS::Region}:${AWS::AccountId}:container-instance/${EnvironmentName}-cluster/*"
    )
    return [
        Statement(
            Sid="AgentJoinsItsCluster",
            Effect=Allow,
            Action=[
                AwacsAction("ecs", a)
                for a in (
                    "RegisterContainerInstance",
                    "DeregisterContainerInstance",
                    "SubmitContainerStateChange",
                    "SubmitTaskStateChange",
                    "SubmitAttachmentStateChanges",
                )
            ],
            Resource=[cluster_arn],
        ),
        Statement(
            Sid="AgentReportsAsItsInstance",
            Effect=Allow,
            Action=[
                AwacsAction("ecs", a)
                for a in ("Poll", "StartTelemetrySession", "UpdateContainerInstancesState", "TagResource")
            ],
            Resource=[instances],
        ),
        Statement(
            Sid="NoResourceLevelPermissions",
            Effect=Allow,
            # ECS's endpoint discovery and Session Manager's channels cannot be limited to a resource.
            Action=[
                AwacsAction("ecs", "DiscoverPollEndpoint"),
                AwacsAction("ssmmessages", "CreateControlChannel"),
                AwacsAction("ssmmessages", "CreateDataChannel"),
                AwacsAction("ssmmessages", "OpenControlChannel"),
                AwacsAction("ssmmessages", "OpenDataChannel"),
            ],
            Resource=["*"],
        ),
        Statement(
            Sid="SessionManagerRegistersThisInstance",
            Effect=Allow,
            Action=[AwacsAction("ssm", "UpdateInstanceInformation")],
            Resource=[Sub("arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}:instance/*")],
        ),
    ]


def create_instance_profile(template: Template) -> iam.InstanceProfile:
    role = template.add_resource(
        role_with_policy(
            "HostRole", assume_role("ec2.amazonaws.com"), "ecs-agent-and-session-manager", host_statements()
        )
    )
    checkov_skip(
        role,
        CKV_AWS_111="only ecs:DiscoverPollEndpoint and Session Manager's ssmmessages channels are on '*': "
        "neither has resource-level permissions; every other statement names the cluster or its instances",
    )
    cfn_nag_skip(role, W11="see the checkov note: the actions on '*' have no resource-level permissions")
    return template.add_resource(iam.InstanceProfile("HostInstanceProfile", Roles=[Ref(role)]))


def create_cluster(template: Template) -> ecs.Cluster:
    return template.add_resource(
        ecs.Cluster(
            "Cluster",
            ClusterName=Sub("${EnvironmentName}-cluster"),
            ClusterSettings=[ecs.ClusterSetting(Name="containerInsights", Value="enabled")],
        )
    )


def create_hosts(
    template: Template, cluster: ecs.Cluster, group: ec2.SecurityGroup, profile: iam.InstanceProfile
) -> autoscaling.AutoScalingGroup:
    # ECS_AWSVPC_BLOCK_IMDS: tasks (all awsvpc) cannot reach the instance metadata service, so not the host's role.
    user_data = Sub(
        "#!/bin/bash\ncat >> /etc/ecs/ecs.config <<EOF\nECS_CLUSTER=${Cluster}\nECS_AWSVPC_BLOCK_IMDS=true\nEOF\n"
    )
    launch_template = template.add_resource(
        ec2.LaunchTemplate(
            "HostLaunchTemplate",
            LaunchTemplateData=ec2.LaunchTemplateData(
                ImageId=Ref("EcsAmi"),
                InstanceType=Ref(INSTANCE_TYPE_PARAMETER),
                IamInstanceProfile=ec2.IamInstanceProfile(Arn=GetAtt(profile, "Arn")),
                SecurityGroupIds=[Ref(group)],
                MetadataOptions=ec2.MetadataOptions(
                    HttpTokens="required", HttpPutResponseHopLimit=1, HttpEndpoint="enabled"
                ),
                BlockDeviceMappings=[
                    ec2.LaunchTemplateBlockDeviceMapping(
                        DeviceName="/dev/xvda",
                        Ebs=ec2.EBSBlockDevice(Encrypted=True, VolumeSize=30, VolumeType="gp3"),
                    )
                ],
                Monitoring=ec2.Monitoring(Enabled=True),
                UserData=Base64(user_data),
            ),
        )
    )
    return template.add_resource(
        autoscaling.AutoScalingGroup(
            "HostGroup",
            MinSize="1",
            MaxSize=Ref(MAX_SIZE_PARAMETER),
            DesiredCapacity=Ref(DESIRED_CAPACITY_PARAMETER),
            VPCZoneIdentifier=[subnet.imported() for subnet in network.PRIVATE_SUBNETS],
            LaunchTemplate=autoscaling.LaunchTemplateSpecification(
                LaunchTemplateId=Ref(launch_template), Version=GetAtt(launch_template, "LatestVersionNumber")
            ),
            Tags=[autoscaling.Tag("Name", Sub("${EnvironmentName}-ecs-host"), True)],
        )
    )


def create_capacity_provider(
    template: Template, cluster: ecs.Cluster, group: autoscaling.AutoScalingGroup
) -> ecs.CapacityProvider:
    """Tasks are placed through the capacity provider, which grows the group when they do not fit."""
    provider = template.add_resource(
        ecs.CapacityProvider(
            "CapacityProvider",
            AutoScalingGroupProvider=ecs.AutoScalingGroupProvider(
                AutoScalingGroupArn=Ref(group),
                ManagedScaling=ecs.ManagedScaling(Status="ENABLED", TargetCapacity=100),
                ManagedTerminationProtection="DISABLED",
            ),
        )
    )
    template.add_resource(
        ecs.ClusterCapacityProviderAssociations(
            "CapacityProviderAssociation",
            Cluster=Ref(cluster),
            CapacityProviders=[Ref(provider)],
            DefaultCapacityProviderStrategy=[
                ecs.CapacityProviderStrategy(CapacityProvider=Ref(provider), Weight=1, Base=0)
            ],
        )
    )
    return provider


def create_namespace(template: Template) -> servicediscovery.PrivateDnsNamespace:
    return template.add_resource(
        servicediscovery.PrivateDnsNamespace(
            "Namespace",
            Name=Ref("EnvironmentName"),
            Vpc=network.VPC_ID.imported(),
            Description="Private names of the services, e.g. influx.<env>",
        )
    )


def build() -> Template:
    template = new_template(
        "ECS cluster on an EC2 Auto Scaling group with a capacity provider; Cloud Map namespace"
    )
    create_parameters(template)
    group = create_host_security_group(template)
    profile = create_instance_profile(template)
    cluster = create_cluster(template)
    hosts = create_hosts(template, cluster, group, profile)
    provider = create_capacity_provider(template, cluster, hosts)
    namespace = create_namespace(template)
    add_output(template, CLUSTER_NAME, Ref(cluster), "The ECS cluster")
    add_output(template, CAPACITY_PROVIDER, Ref(provider), "Capacity provider the services are placed with")
    add_output(template, HOST_SECURITY_GROUP, Ref(group), "Security group of the container instances")
    # Ref, not GetAtt: both give the namespace id.
    add_output(template, NAMESPACE_ID, Ref(namespace), "Cloud Map private DNS namespace <env>")
    return template


STACK = StackDefinition(name=NAME, build=build, depends_on=(network.NAME,))
