"""storage: EFS, encrypted, a mount target per private subnet, an access point per service, reachable only
from the cluster (its instances, and the tasks that carry the storage client group)."""

from __future__ import annotations

import json

from awacs.aws import Action as AwacsAction
from awacs.aws import Bool, Condition, Deny, PolicyDocument, Principal, Statement
from troposphere import Ref, Sub, Tags, Template, ec2, efs

from infrastructure.common import add_output, new_template, tcp_rule
from infrastructure.names import Export
from infrastructure.registry import StackDefinition
from infrastructure.retention import RETAIN
from infrastructure.stacks import cluster, network

NAME = "storage"
FILE_SYSTEM_ID = Export(NAME, "FileSystemId")
FILE_SYSTEM_ARN = Export(NAME, "FileSystemArn")
CLIENT_SECURITY_GROUP = Export(NAME, "ClientSecurityGroupId")

# Each service's own directory, owned by the user the access point enforces for every file operation.
ACCESS_POINTS: dict[str, tuple[str, int, int]] = {
    "influxdb": ("/influxdb", 1000, 1000),
    "grafana": ("/grafana", 472, 0),
    "chronograf": ("/chronograf", 999, 999),
}


def access_point_id(service: str) -> Export:
    return Export(NAME, f"{service.capitalize()}AccessPointId")


def access_point_arn(service: str) -> Export:
    return Export(NAME, f"{service.capitalize()}AccessPointArn")


def create_security_groups(template: Template) -> tuple[ec2.SecurityGroup, ec2.SecurityGroup]:
    client = template.add_resource(
        network.security_group(
            "ClientSecurityGroup",
            "Tasks of the cluster that mount EFS",
            "efs-clients",
            SecurityGroupEgress=[
                tcp_rule(2049, "NFS to the mount targets", CidrIp=network.VPC_CIDR.imported())
            ],
        )
    )
    mount = template.add_resource(
        network.security_group(
            "MountTargetSecurityGroup",
            "EFS mount targets: NFS only from the cluster",
            "efs-mount-targets",
            SecurityGroupIngress=[
                tcp_rule(
                    2049,
                    "NFS from the container instances",
                    SourceSecurityGroupId=cluster.HOST_SECURITY_GROUP.imported(),
                ),
                tcp_rule(2049, "NFS from the cluster's tasks", SourceSecurityGroupId=Ref(client)),
            ],
            SecurityGroupEgress=[
                ec2.SecurityGroupRule(
                    IpProtocol="-1", CidrIp="127.0.0.1/32", Description="no outbound traffic"
                )
            ],
        )
    )
    return client, mount


def create_file_system(template: Template) -> efs.FileSystem:
    insecure = Statement(
        Sid="DenyWithoutTls",
        Effect=Deny,
        Principal=Principal("AWS", "*"),
        Action=[AwacsAction("elasticfilesystem", "*")],
        Resource=["*"],
        Condition=Condition(Bool("aws:SecureTransport", "false")),
    )
    return template.add_resource(
        efs.FileSystem(
            "FileSystem",
            Encrypted=True,
            KmsKeyId=network.DATA_KEY_ARN.imported(),
            PerformanceMode="generalPurpose",
            ThroughputMode="elastic",
            BackupPolicy=efs.BackupPolicy(Status="ENABLED"),
            FileSystemPolicy=json.loads(PolicyDocument(Version="2012-10-17", Statement=[insecure]).to_json()),
            FileSystemTags=Tags(Name=Sub("${EnvironmentName}-services")),
            **RETAIN,  # the deploy tool finds it again by its Name tag (infrastructure/reattach.py)
        )
    )


def create_mount_targets(template: Template, file_system: efs.FileSystem, group: ec2.SecurityGroup) -> None:
    for index, subnet in enumerate(network.PRIVATE_SUBNETS, start=1):
        template.add_resource(
            efs.MountTarget(
                f"MountTarget{index}",
                FileSystemId=Ref(file_system),
                SubnetId=subnet.imported(),
                SecurityGroups=[Ref(group)],
            )
        )


def create_access_points(template: Template, file_system: efs.FileSystem) -> dict[str, efs.AccessPoint]:
    points = {}
    for service, (path, uid, gid) in ACCESS_POINTS.items():
        points[service] = template.add_resource(
            efs.AccessPoint(
                f"{service.capitalize()}AccessPoint",
                FileSystemId=Ref(file_system),
                PosixUser=efs.PosixUser(Uid=str(uid), Gid=str(gid)),
                RootDirectory=efs.RootDirectory(
                    Path=path,
                    CreationInfo=efs.CreationInfo(OwnerUid=str(uid), OwnerGid=str(gid), Permissions="750"),
                ),
            )
        )
    return points


def build() -> Template:
    template = new_template(
        "EFS for the services: encrypted, an access point per service, only from the cluster"
    )
    client, mount = create_security_groups(template)
    file_system = create_file_system(template)
    create_mount_targets(template, file_system, mount)
    points = create_access_points(template, file_system)
    add_output(template, FILE_SYSTEM_ID, Ref(file_system), "The file system")
    # ARNs built from ids: the same values as GetAtt Arn, in a form moto also takes.
    fs_arn = Sub(
        "arn:${AWS::Partition}:elasticfilesystem:${AWS::Region}:${AWS::AccountId}:file-system/${FileSystem}"
    )
    add_output(template, FILE_SYSTEM_ARN, fs_arn, "The file system's ARN")
    add_output(template, CLIENT_SECURITY_GROUP, Ref(client), "Group a task carries to mount the file system")
    for service, point in points.items():
        add_output(template, access_point_id(service), Ref(point), f"{service}'s access point")
        arn = Sub(
            f"arn:${{AWS::Partition}}:elasticfilesystem:${{AWS::Region}}:${{AWS::AccountId}}:access-point/${{{point.title}}}"
        )
        add_output(template, access_point_arn(service), arn, f"{service}'s access point ARN")
    return template


STACK = StackDefinition(name=NAME, build=build, depends_on=(network.NAME, cluster.NAME))
