"""The influxdb stack's backups: `influxd backup -portable` every `BackupInterval` seconds, inside the task, to a
versioned bucket encrypted with the environment's data key; `RestoreBackup` brings one back into the running
InfluxDB.

Why this and not AWS Backup of the file system: a portable backup is a consistent snapshot taken by influxd itself
while it writes, and `influxd restore -portable` brings it into a running InfluxDB (services/influxdb/
restore-influxdb.sh merges it, so nothing written since is lost); a copy of EFS under a running influxd is at best
crash-consistent, restores only as files beside the live ones, and needs influxd stopped to swap them in. The
backup speaks to influxd's RPC port, which listens on 127.0.0.1, so it runs in the task: two containers that are
not essential (a failed backup never stops InfluxDB), `backup` (the influxdb image: influxd's tools) and
`backup-upload` (the AWS CLI image), handing over through a directory on the task's own EFS access point
(services/influxdb/backup-loop.sh, upload-loop.sh).

The bucket is kept when the stack is deleted, its name is generated (so nothing blocks the next create), and the
task may read the backups of any bucket this stack has ever made (`<stack>-backupbucket-*`), so a deployment made
anew restores from the old one's bucket.
"""

from __future__ import annotations

from typing import Any

from awacs.aws import Action as AwacsAction
from awacs.aws import Allow, Condition, PolicyDocument, Statement, StringEquals, StringLike
from ingest_to_influxdb import environment
from troposphere import Equals, If, Not, Parameter, Ref, Sub, Template, ecs, s3

from catalog.loader import PROJECT_ROOT
from infrastructure.common import (
    NO_OBJECT_LOCK,
    add_number_parameter,
    add_output,
    add_string_parameter,
    cfn_nag_skip,
    checkov_skip,
    env,
    guard_skip,
)
from infrastructure.ecs_service import FETCH_IMAGE, TMPFS_MIB, logical
from infrastructure.names import Export
from infrastructure.notifications import add_alarm
from infrastructure.service_files import TaskSpec
from infrastructure.stacks import network
from infrastructure.stacks.edge import deny_insecure_transport, no_public_access

BUCKET = "BackupBucket"
BUCKET_EXPORT = Export("influxdb", "BackupBucketName")
PREFIX = "influxdb/"  # every backup is s3://<bucket>/influxdb/<UTC time>/
INTERVAL_PARAMETER = "BackupInterval"
RETENTION_PARAMETER = "BackupRetentionDays"
RESTORE_PARAMETER = "RestoreBackup"
HAS_RESTORE = "HasRestoreBackup"
BACKUP_DIR = "/var/lib/influxdb/backups"  # on the task's EFS access point: both containers see it
BACKUP_CONTAINER = "backup"
UPLOAD_CONTAINER = "backup-upload"
SCRIPTS = PROJECT_ROOT / "services" / "influxdb"
# restore-influxdb.sh needs the admin, and the CA to verify influxd's HTTPS (backup-loop.sh)
ADMIN_VARIABLES = ("INFLUXDB_ADMIN_USER", "INFLUXDB_ADMIN_PASSWORD", "INFLUXDB_TLS_CA_CERTIFICATE")
# The upload container counts each backup in the bucket (upload-loop.sh); the alarm fires when none came for a day.
METRIC_NAMESPACE = environment.NAMESPACE  # the functions' namespace, which the alarms read
METRIC = "InfluxdbBackupsUploaded"
ALARM_TOPIC = "AlarmTopic"  # the influxdb stack's (create_task_alarm)


def create_parameters(template: Template) -> None:
    template.add_parameter(
        Parameter(
            INTERVAL_PARAMETER,
            Type="Number",
            Default=21600,
            AllowedValues=[3600, 10800, 21600, 43200],  # at least two a day: the alarm looks at one day
            Description="Seconds between two InfluxDB backups (portable, to the backup bucket)",
        )
    )
    add_number_parameter(
        template,
        RETENTION_PARAMETER,
        14,  # each backup is a full copy: 56 of them at the default interval
        1,
        description="Days a backup is kept in the bucket (then 7 more days as a non-current version)",
    )
    add_string_parameter(
        template,
        RESTORE_PARAMETER,
        "s3://<backup bucket>/influxdb/<backup>/ to restore into the running InfluxDB once (docs/deploying.md, "
        "Backups); empty: none",
        default="",
        pattern=r"^(s3://[a-z0-9.-]+/influxdb/[0-9TZ]+/)?$",
    )
    template.add_condition(HAS_RESTORE, Not(Equals(Ref(RESTORE_PARAMETER), "")))


def create_bucket(template: Template) -> s3.Bucket:
    bucket = template.add_resource(
        s3.Bucket(
            BUCKET,
            DeletionPolicy="Retain",  # the backups outlive the stack, as the file system does
            UpdateReplacePolicy="Retain",
            PublicAccessBlockConfiguration=no_public_access(),
            OwnershipControls=s3.OwnershipControls(
                Rules=[s3.OwnershipControlsRule(ObjectOwnership="BucketOwnerEnforced")]
            ),
            BucketEncryption=s3.BucketEncryption(
                ServerSideEncryptionConfiguration=[
                    s3.ServerSideEncryptionRule(
                        ServerSideEncryptionByDefault=s3.ServerSideEncryptionByDefault(
                            SSEAlgorithm="aws:kms", KMSMasterKeyID=network.DATA_KEY_ARN.imported()
                        ),
                        BucketKeyEnabled=True,  # one KMS request per backup rather than per object
                    )
                ]
            ),
            VersioningConfiguration=s3.VersioningConfiguration(Status="Enabled"),
            LifecycleConfiguration=s3.LifecycleConfiguration(
                Rules=[
                    s3.LifecycleRule(
                        Id="expire-old-backups",
                        Status="Enabled",
                        Prefix=PREFIX,
                        ExpirationInDays=Ref(RETENTION_PARAMETER),
                        NoncurrentVersionExpiration=s3.NoncurrentVersionExpiration(NoncurrentDays=7),
                        AbortIncompleteMultipartUpload=s3.AbortIncompleteMultipartUpload(
                            DaysAfterInitiation=1
                        ),
                    )
                ]
            ),
        )
    )
    checkov_skip(
        bucket,
        CKV_AWS_18="who reads or writes backups is in CloudTrail; server access logs would need the edge "
        "stack's log bucket, which the influxdb stack does not depend on",
    )
    guard_skip(
        bucket,
        S3_BUCKET_LOGGING_ENABLED="who reads or writes backups is in CloudTrail",
        S3_BUCKET_REPLICATION_ENABLED="a second region is the owner's choice (docs/deploying.md, Backups)",
        S3_BUCKET_NO_PUBLIC_RW_ACL="no ACL at all: BucketOwnerEnforced turns ACLs off; the rule fails on a missing "
        "AccessControl",
        S3_BUCKET_DEFAULT_LOCK_ENABLED=NO_OBJECT_LOCK,
    )
    template.add_resource(
        s3.BucketPolicy(
            "BackupBucketPolicy",
            Bucket=Ref(bucket),
            PolicyDocument=PolicyDocument(Version="2012-10-17", Statement=[deny_insecure_transport(BUCKET)]),
        )
    )
    add_output(template, BUCKET_EXPORT, Ref(bucket), "Bucket of the InfluxDB backups")
    return bucket


def task_statements() -> list[Statement]:
    """What the upload container does with the task's role: write backups to this stack's bucket, read them
    back from any bucket this stack has made (a restore into a deployment made anew), and use the data key."""
    any_backup_bucket = "arn:${AWS::Partition}:s3:::${AWS::StackName}-backupbucket-*"
    return [
        Statement(
            Effect=Allow,
            Action=[AwacsAction("s3", "PutObject")],
            Resource=[Sub(f"${{{BUCKET}.Arn}}/{PREFIX}*")],
        ),
        Statement(
            Effect=Allow,
            Action=[AwacsAction("s3", "GetObject")],
            Resource=[Sub(f"{any_backup_bucket}/{PREFIX}*")],
        ),
        Statement(
            Effect=Allow,
            Action=[AwacsAction("s3", "ListBucket")],
            Resource=[Sub(any_backup_bucket)],
            Condition=Condition(StringLike("s3:prefix", [f"{PREFIX}*"])),
        ),
        Statement(
            Effect=Allow,
            Action=[AwacsAction("kms", "GenerateDataKey"), AwacsAction("kms", "Decrypt")],
            Resource=[network.DATA_KEY_ARN.imported()],
        ),
        Statement(  # PutMetricData has no resource-level permission; the namespace is the limit
            Effect=Allow,
            Action=[AwacsAction("cloudwatch", "PutMetricData")],
            Resource=["*"],
            Condition=Condition(StringEquals("cloudwatch:namespace", METRIC_NAMESPACE)),
        ),
    ]


def create_alarm(template: Template) -> None:
    """No backup reached the bucket for a day (at least two are made a day). Runbook: docs/operations.md."""
    add_alarm(
        template,
        "BackupMissingAlarm",
        "No InfluxDB backup reached the backup bucket for 24 hours",
        (METRIC_NAMESPACE, METRIC, {"Environment": env()}),
        "Sum",
        "LessThanThreshold",
        1,
        Ref(ALARM_TOPIC),
        period=86400,
        missing_data="breaching",  # no count at all: no backup
    )


def script(name: str) -> str:
    return (SCRIPTS / name).read_text()


def _log(spec: TaskSpec, prefix: str) -> ecs.LogConfiguration:
    return ecs.LogConfiguration(
        LogDriver="awslogs",
        Options={
            "awslogs-group": Ref(logical(spec, "LogGroup")),
            "awslogs-region": Ref("AWS::Region"),
            "awslogs-stream-prefix": prefix,
        },
    )


def containers(spec: TaskSpec, main: ecs.ContainerDefinition) -> list[ecs.ContainerDefinition]:
    """The two containers, as the service's own one: its user, its EFS mount, a read-only root."""
    shared: dict[str, Any] = {
        "Essential": False,
        "User": main.User,
        "ReadonlyRootFilesystem": True,
        "MountPoints": [ecs.MountPoint(SourceVolume="data", ContainerPath=spec.mount, ReadOnly=False)],
        "LinuxParameters": ecs.LinuxParameters(Tmpfs=[ecs.Tmpfs(ContainerPath="/tmp", Size=TMPFS_MIB)]),
    }
    restore = ecs.Environment(
        Name="INFLUXDB_RESTORE", Value=If(HAS_RESTORE, Ref(RESTORE_PARAMETER), Ref("AWS::NoValue"))
    )
    backup = ecs.ContainerDefinition(
        Name=BACKUP_CONTAINER,
        Image=Ref("Image"),
        Command=["sh", "-c", script("backup-loop.sh")],
        Environment=[
            ecs.Environment(Name="BACKUP_INFLUXDB_SH", Value=script("backup-influxdb.sh")),
            ecs.Environment(Name="RESTORE_INFLUXDB_SH", Value=script("restore-influxdb.sh")),
            ecs.Environment(Name="INFLUXDB_DB", Value=spec.environment["INFLUXDB_DB"]),
            ecs.Environment(Name="INFLUXDB_BACKUP_DIR", Value=BACKUP_DIR),
            ecs.Environment(Name="INFLUXDB_BACKUP_INTERVAL", Value=Ref(INTERVAL_PARAMETER)),
            restore,
        ],
        Secrets=[secret for secret in main.Secrets if secret.Name in ADMIN_VARIABLES],
        LogConfiguration=_log(spec, BACKUP_CONTAINER),
        **shared,
    )
    upload = ecs.ContainerDefinition(
        Name=UPLOAD_CONTAINER,
        Image=FETCH_IMAGE,
        EntryPoint=["sh", "-c"],  # the image's own entry point is the aws command
        Command=[script("upload-loop.sh")],
        Environment=[
            ecs.Environment(Name="BACKUP_BUCKET", Value=Ref(BUCKET)),
            ecs.Environment(Name="BACKUP_PREFIX", Value=PREFIX),
            ecs.Environment(Name="INFLUXDB_BACKUP_DIR", Value=BACKUP_DIR),
            ecs.Environment(Name="HOME", Value="/tmp"),
            ecs.Environment(Name="METRIC_NAMESPACE", Value=METRIC_NAMESPACE),
            ecs.Environment(Name="METRIC_NAME", Value=METRIC),
            ecs.Environment(Name="ENVIRONMENT_NAME", Value=env()),
            restore,
        ],
        LogConfiguration=_log(spec, UPLOAD_CONTAINER),
        **shared,
    )
    return [backup, upload]


def add(template: Template, spec: TaskSpec, definition: ecs.TaskDefinition) -> None:
    """The backup bucket and parameters, the two containers in the task and what its role may do for them."""
    create_parameters(template)
    create_bucket(template)
    create_alarm(template)
    (main,) = [c for c in definition.ContainerDefinitions if c.Name == spec.service]
    definition.ContainerDefinitions = [*definition.ContainerDefinitions, *containers(spec, main)]
    role = template.resources[logical(spec, "TaskRole")]
    (policy,) = role.Policies
    policy.PolicyDocument.Statement = [*policy.PolicyDocument.Statement, *task_statements()]
    cfn_nag_skip(
        role, W11="cloudwatch:PutMetricData has no resource-level permission (limited to its namespace)"
    )
    condition = getattr(definition, "Condition", None)
    if condition:  # the store helper may make the task conditional: so are its backups
        for name in (BUCKET, "BackupBucketPolicy", "BackupMissingAlarm"):
            template.resources[name].Condition = condition
        template.outputs[BUCKET_EXPORT.output].Condition = condition
