"""One ECS service of exactly one task on its own EFS access point, built from a `TaskSpec`.

InfluxDB OSS, Grafana's SQLite and Chronograf's BoltDB must never be opened by two processes: the service keeps
one task (desired 1) and a deployment stops the old task before it starts the new one (maximum 100 %, minimum
healthy 0 %). There is no autoscaling.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from awacs.aws import Action as AwacsAction
from awacs.aws import Allow, Condition, Statement, StringEquals, StringLike
from troposphere import GetAtt, Ref, Sub, Template, ecs, iam

from infrastructure import images
from infrastructure.common import (
    add_number_parameter,
    add_string_parameter,
    allow,
    assume_role,
    cfn_nag_skip,
    create_log_group,
    role_with_policy,
    write_logs,
)
from infrastructure.service_files import WHOLE_SECRET, TaskSpec
from infrastructure.stacks import cluster, network, storage

# The official AWS CLI image: the init container that copies provisioning files from S3 into the task.
FETCH_IMAGE = "public.ecr.aws/aws-cli/aws-cli:2.22.0"
FETCH_CONTAINER = "fetch-files"
FETCHED_VOLUME = "fetched"


@dataclass(frozen=True)
class FetchedFiles:
    """Files the deploy tool stored in S3 (`s3://<bucket>/<prefix>`), copied at every start into a task volume
    that the service's container reads at `path`: they do not ride in the task definition, so it stays small
    whatever their size."""

    bucket: Any  # a parameter reference, filled in by the deploy tool
    prefix: Any  # ends with "/"; holds a content hash, so new files make a new task definition
    path: str


@dataclass(frozen=True)
class ServiceWiring:
    secret_arns: Mapping[str, Any]  # secret name template (as in task.yaml) -> its ARN
    security_groups: Sequence[Any]
    target_group: Any | None = None
    registry_arn: Any | None = None
    substitutions: Mapping[str, Any] | None = None  # extra Fn::Sub variables of the environment values
    task_statements: Sequence[Statement] = ()
    fetched: FetchedFiles | None = None


TMPFS_MIB = 64  # each scratch path's size, from the task's memory


def logical(spec: TaskSpec, suffix: str) -> str:
    return f"{spec.service.capitalize()}{suffix}"


CPU_PARAMETER = "Cpu"
MEMORY_PARAMETER = "Memory"


def create_parameters(template: Template, spec: TaskSpec, cpu: int, memory: int) -> None:
    add_string_parameter(
        template,
        "Image",
        "Container image (a digest pins it: name:tag@sha256:...)",
        default=spec.image,
        pattern=images.REFERENCE,
        constraint="repository[:tag][@sha256:<64 hex digits>]",
    )
    add_number_parameter(template, CPU_PARAMETER, cpu, 128, description="CPU units")
    add_number_parameter(template, MEMORY_PARAMETER, memory, 256, description="MiB")


def create_roles(
    template: Template, spec: TaskSpec, wiring: ServiceWiring, log_group: Any
) -> tuple[iam.Role, iam.Role]:
    execution_statements = [
        write_logs(log_group),
    ]
    if wiring.secret_arns:
        execution_statements += [
            Statement(
                Effect=Allow,
                Action=[AwacsAction("secretsmanager", "GetSecretValue")],
                Resource=list(wiring.secret_arns.values()),
            ),
            allow("kms", ("Decrypt",), [network.DATA_KEY_ARN.imported()]),
        ]
    execution = template.add_resource(
        role_with_policy(
            logical(spec, "ExecutionRole"),
            assume_role("ecs-tasks.amazonaws.com"),
            "start-task",
            execution_statements,
        )
    )
    mount = Statement(
        Effect=Allow,
        Action=[
            AwacsAction("elasticfilesystem", "ClientMount"),
            AwacsAction("elasticfilesystem", "ClientWrite"),
        ],
        Resource=[storage.FILE_SYSTEM_ARN.imported()],
        Condition=Condition(
            StringEquals(
                "elasticfilesystem:AccessPointArn", storage.access_point_arn(spec.service).imported()
            )
        ),
    )
    task = template.add_resource(
        role_with_policy(
            logical(spec, "TaskRole"),
            assume_role("ecs-tasks.amazonaws.com"),
            "task",
            [mount, *wiring.task_statements],
        )
    )
    if any(statement.Resource == ["*"] for statement in wiring.task_statements):
        cfn_nag_skip(
            task,
            W11=f"the {spec.service} task's actions on '*' (task_role_needs in services/{spec.service}/task.yaml) "
            "have no resource-level permissions",
        )
    return execution, task


def environment(spec: TaskSpec, wiring: ServiceWiring) -> list[ecs.Environment]:
    variables = []
    for name, value in sorted(spec.environment.items()):
        if name in spec.templated:
            variables.append(ecs.Environment(Name=name, Value=Sub(value, **dict(wiring.substitutions or {}))))
        else:
            variables.append(ecs.Environment(Name=name, Value=value))
    return variables


def secrets(spec: TaskSpec, wiring: ServiceWiring) -> list[ecs.Secret]:
    """Each variable from one JSON key of a Secrets Manager secret: `<arn>:<key>::`; the whole secret: `<arn>`."""
    return [
        ecs.Secret(
            Name=name,
            ValueFrom=wiring.secret_arns[ref.secret]
            if ref.key == WHOLE_SECRET
            else Sub(f"${{Arn}}:{ref.key}::", Arn=wiring.secret_arns[ref.secret]),
        )
        for name, ref in sorted(spec.secrets.items())
    ]


def fetch_statements(fetched: FetchedFiles) -> list[Statement]:
    """Read access to the fetched files only: the objects under the prefix, and listing that prefix, in a bucket
    of this account (s3:ResourceAccount: the bucket's name is predictable, and one another account took after
    the deploy tool's ownership check would not be read; infrastructure/artifacts.py)."""
    ours = StringEquals("s3:ResourceAccount", Ref("AWS::AccountId"))
    return [
        Statement(
            Effect=Allow,
            Action=[AwacsAction("s3", "GetObject")],
            Resource=[
                Sub(
                    "arn:${AWS::Partition}:s3:::${Bucket}/${Prefix}*",
                    Bucket=fetched.bucket,
                    Prefix=fetched.prefix,
                )
            ],
            Condition=Condition(ours),
        ),
        Statement(
            Effect=Allow,
            Action=[AwacsAction("s3", "ListBucket")],
            Resource=[Sub("arn:${AWS::Partition}:s3:::${Bucket}", Bucket=fetched.bucket)],
            Condition=Condition([StringLike("s3:prefix", [Sub("${Prefix}*", Prefix=fetched.prefix)]), ours]),
        ),
    ]


def fetch_container(fetched: FetchedFiles, log_group: Any) -> ecs.ContainerDefinition:
    """Runs once before the service's container: `aws s3 cp --recursive` into the task volume, then exits."""
    return ecs.ContainerDefinition(
        Name=FETCH_CONTAINER,
        Image=FETCH_IMAGE,
        Essential=False,
        Command=[
            "s3",
            "cp",
            Sub("s3://${Bucket}/${Prefix}", Bucket=fetched.bucket, Prefix=fetched.prefix),
            "/fetched",
            "--recursive",
            "--only-show-errors",
        ],
        MountPoints=[ecs.MountPoint(SourceVolume=FETCHED_VOLUME, ContainerPath="/fetched", ReadOnly=False)],
        # It writes only into the task volume (and the CLI's scratch under /tmp); the copies stay root-owned and
        # world-readable, which is what the service's own unprivileged user needs.
        ReadonlyRootFilesystem=True,
        LinuxParameters=ecs.LinuxParameters(Tmpfs=[ecs.Tmpfs(ContainerPath="/tmp", Size=TMPFS_MIB)]),
        Environment=[ecs.Environment(Name="HOME", Value="/tmp")],
        LogConfiguration=ecs.LogConfiguration(
            LogDriver="awslogs",
            Options={
                "awslogs-group": Ref(log_group),
                "awslogs-region": Ref("AWS::Region"),
                "awslogs-stream-prefix": FETCH_CONTAINER,
            },
        ),
    )


def create_task_definition(template: Template, spec: TaskSpec, wiring: ServiceWiring) -> ecs.TaskDefinition:
    log_group = create_log_group(
        template,
        logical(spec, "LogGroup"),
        Sub(f"/${{EnvironmentName}}/ecs/{spec.service}"),
        network.DATA_KEY_ARN.imported(),
    )
    if wiring.fetched is not None:
        wiring = replace(wiring, task_statements=[*wiring.task_statements, *fetch_statements(wiring.fetched)])
    execution, task = create_roles(template, spec, wiring, log_group)
    health = None
    if spec.health_check_command:
        health = ecs.HealthCheck(
            Command=["CMD-SHELL", spec.health_check_command],
            Interval=15,
            Timeout=5,
            Retries=3,
            StartPeriod=60,
        )
    container = ecs.ContainerDefinition(
        Name=spec.service,
        Image=Ref("Image"),
        Essential=True,
        Command=spec.command or Ref("AWS::NoValue"),
        PortMappings=[ecs.PortMapping(ContainerPort=spec.port, Protocol="tcp")],
        Environment=environment(spec, wiring),
        Secrets=secrets(spec, wiring),
        MountPoints=[
            ecs.MountPoint(SourceVolume="data", ContainerPath=spec.mount, ReadOnly=False),
            *(
                [
                    ecs.MountPoint(
                        SourceVolume=FETCHED_VOLUME, ContainerPath=wiring.fetched.path, ReadOnly=True
                    )
                ]
                if wiring.fetched
                else []
            ),
        ],
        DependsOn=[ecs.ContainerDependency(ContainerName=FETCH_CONTAINER, Condition="SUCCESS")]
        if wiring.fetched
        else Ref("AWS::NoValue"),
        HealthCheck=health if health else Ref("AWS::NoValue"),
        # Not root, and nothing written but the EFS mount and the scratch paths task.yaml names (tmpfs): the
        # user is the one the service's access point enforces on its files.
        User=":".join(str(n) for n in storage.ACCESS_POINTS[spec.service][1:]),
        ReadonlyRootFilesystem=True,
        LinuxParameters=ecs.LinuxParameters(
            Tmpfs=[ecs.Tmpfs(ContainerPath=path, Size=TMPFS_MIB) for path in spec.writable]
        ),
        LogConfiguration=ecs.LogConfiguration(
            LogDriver="awslogs",
            Options={
                "awslogs-group": Ref(log_group),
                "awslogs-region": Ref("AWS::Region"),
                "awslogs-stream-prefix": spec.service,
            },
        ),
    )
    return template.add_resource(
        ecs.TaskDefinition(
            logical(spec, "TaskDefinition"),
            Family=Sub(f"${{EnvironmentName}}-{spec.service}"),
            RequiresCompatibilities=["EC2"],
            NetworkMode="awsvpc",
            Cpu=Ref(CPU_PARAMETER),
            Memory=Ref(MEMORY_PARAMETER),
            ExecutionRoleArn=GetAtt(execution, "Arn"),
            TaskRoleArn=GetAtt(task, "Arn"),
            ContainerDefinitions=[
                container,
                *([fetch_container(wiring.fetched, log_group)] if wiring.fetched else []),
            ],
            Volumes=[
                ecs.Volume(
                    Name="data",
                    EFSVolumeConfiguration=ecs.EFSVolumeConfiguration(
                        FilesystemId=storage.FILE_SYSTEM_ID.imported(),
                        TransitEncryption="ENABLED",
                        AuthorizationConfig=ecs.AuthorizationConfig(
                            AccessPointId=storage.access_point_id(spec.service).imported(), IAM="ENABLED"
                        ),
                    ),
                ),
                # A Docker volume of this task only (EC2 launch type): empty at every start.
                *([ecs.Volume(Name=FETCHED_VOLUME)] if wiring.fetched else []),
            ],
        )
    )


def create_service(
    template: Template,
    spec: TaskSpec,
    definition: ecs.TaskDefinition,
    wiring: ServiceWiring,
    depends_on: Sequence[str] = (),
) -> ecs.Service:
    load_balancers = Ref("AWS::NoValue")
    if wiring.target_group is not None:
        load_balancers = [
            ecs.LoadBalancer(
                ContainerName=spec.service, ContainerPort=spec.port, TargetGroupArn=wiring.target_group
            )
        ]
    registries = Ref("AWS::NoValue")
    if wiring.registry_arn is not None:
        registries = [ecs.ServiceRegistry(RegistryArn=wiring.registry_arn)]
    service = template.add_resource(
        ecs.Service(
            logical(spec, "Service"),
            ServiceName=spec.service,
            Cluster=cluster.CLUSTER_NAME.imported(),
            TaskDefinition=Ref(definition),
            DesiredCount=1,
            DeploymentConfiguration=ecs.DeploymentConfiguration(
                MaximumPercent=100,
                MinimumHealthyPercent=0,
                DeploymentCircuitBreaker=ecs.DeploymentCircuitBreaker(Enable=True, Rollback=True),
            ),
            CapacityProviderStrategy=[
                ecs.CapacityProviderStrategyItem(
                    CapacityProvider=cluster.CAPACITY_PROVIDER.imported(), Weight=1
                )
            ],
            NetworkConfiguration=ecs.NetworkConfiguration(
                AwsvpcConfiguration=ecs.AwsvpcConfiguration(
                    AssignPublicIp="DISABLED",
                    Subnets=[subnet.imported() for subnet in network.PRIVATE_SUBNETS],
                    SecurityGroups=[*wiring.security_groups, storage.CLIENT_SECURITY_GROUP.imported()],
                )
            ),
            LoadBalancers=load_balancers,
            HealthCheckGracePeriodSeconds=120 if wiring.target_group is not None else Ref("AWS::NoValue"),
            ServiceRegistries=registries,
            EnableECSManagedTags=True,
            PropagateTags="SERVICE",
        )
    )
    if depends_on:
        service.DependsOn = list(depends_on)
    return service
