"""The influxdb stack's backups on the synthesized template (infrastructure/stacks/influxdb_backup.py): the bucket
is kept, versioned, encrypted with the data key and TLS only; the two containers cannot stop the task; the task's
role may write backups and read them back, nothing more; the BackupMissing alarm watches what the upload counts."""

from __future__ import annotations

import re
from typing import Any

from infrastructure.stacks import influxdb_backup


def resources(templates: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in templates["influxdb"]["Resources"].items() if v["Type"] == kind}


def containers(templates: dict[str, Any]) -> dict[str, dict[str, Any]]:
    (definition,) = resources(templates, "AWS::ECS::TaskDefinition").values()
    return {c["Name"]: c for c in definition["Properties"]["ContainerDefinitions"]}


def test_the_bucket_is_kept_versioned_encrypted_and_tls_only(templates: dict[str, Any]) -> None:
    bucket = templates["influxdb"]["Resources"][influxdb_backup.BUCKET]
    props = bucket["Properties"]
    assert bucket["DeletionPolicy"] == bucket["UpdateReplacePolicy"] == "Retain"
    assert "BucketName" not in props, "a generated name: nothing blocks the next create"
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    (rule,) = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    assert rule["ServerSideEncryptionByDefault"]["KMSMasterKeyID"] == {
        "Fn::ImportValue": {"Fn::Sub": "${EnvironmentName}-network-DataKeyArn"}
    }
    assert all(props["PublicAccessBlockConfiguration"].values())
    (lifecycle,) = props["LifecycleConfiguration"]["Rules"]
    assert lifecycle["ExpirationInDays"] == {"Ref": influxdb_backup.RETENTION_PARAMETER}
    policy = templates["influxdb"]["Resources"]["BackupBucketPolicy"]["Properties"]["PolicyDocument"]
    (deny,) = policy["Statement"]
    assert deny["Effect"] == "Deny" and deny["Condition"] == {"Bool": {"aws:SecureTransport": False}}


def test_the_backup_containers_cannot_stop_influxdb_and_run_as_it_does(templates: dict[str, Any]) -> None:
    found = containers(templates)
    main = found["influxdb"]
    assert main["Essential"] is True
    for name in (influxdb_backup.BACKUP_CONTAINER, influxdb_backup.UPLOAD_CONTAINER):
        container = found[name]
        assert container["Essential"] is False, name
        assert container["User"] == main["User"] and container["ReadonlyRootFilesystem"] is True
        assert container["MountPoints"] == [
            {"SourceVolume": "data", "ContainerPath": "/var/lib/influxdb", "ReadOnly": False}
        ]
        assert influxdb_backup.BACKUP_DIR.startswith("/var/lib/influxdb/")
    backup, upload = found[influxdb_backup.BACKUP_CONTAINER], found[influxdb_backup.UPLOAD_CONTAINER]
    assert backup["Image"] == main["Image"] == {"Ref": "Image"}, "influxd's own backup and restore tools"
    assert {s["Name"] for s in backup["Secrets"]} == set(influxdb_backup.ADMIN_VARIABLES)
    assert "Secrets" not in upload, "the upload needs no InfluxDB password"
    environment = {e["Name"]: e["Value"] for e in backup["Environment"]}
    assert environment["INFLUXDB_BACKUP_INTERVAL"] == {"Ref": influxdb_backup.INTERVAL_PARAMETER}
    assert environment["INFLUXDB_RESTORE"] == {
        "Fn::If": [
            influxdb_backup.HAS_RESTORE,
            {"Ref": influxdb_backup.RESTORE_PARAMETER},
            {"Ref": "AWS::NoValue"},
        ]
    }


def test_the_task_role_writes_backups_and_reads_them_back_only(templates: dict[str, Any]) -> None:
    role = templates["influxdb"]["Resources"]["InfluxdbTaskRole"]["Properties"]
    (policy,) = role["Policies"]
    statements = {
        tuple(s["Action"]) if isinstance(s["Action"], list) else (s["Action"],): s
        for s in policy["PolicyDocument"]["Statement"]
    }
    put = statements[("s3:PutObject",)]
    assert put["Resource"] == [{"Fn::Sub": "${BackupBucket.Arn}/influxdb/*"}]
    get = statements[("s3:GetObject",)]
    assert get["Resource"] == [
        {"Fn::Sub": "arn:${AWS::Partition}:s3:::${AWS::StackName}-backupbucket-*/influxdb/*"}
    ]
    metric = statements[("cloudwatch:PutMetricData",)]
    assert metric["Condition"] == {"StringEquals": {"cloudwatch:namespace": influxdb_backup.METRIC_NAMESPACE}}
    assert not any("s3:DeleteObject" in str(s["Action"]) for s in statements.values()), (
        "a backup is never deleted"
    )


def test_the_restore_parameter_takes_a_backup_of_the_bucket_or_nothing(templates: dict[str, Any]) -> None:
    pattern = templates["influxdb"]["Parameters"][influxdb_backup.RESTORE_PARAMETER]["AllowedPattern"]
    assert re.fullmatch(pattern, "")
    assert re.fullmatch(pattern, "s3://demo-influxdb-backupbucket-abc123/influxdb/20261203T144108Z/")
    assert not re.fullmatch(pattern, "s3://other/data/x/")
    assert not re.fullmatch(pattern, "s3://b/influxdb/20261203T144108Z/; rm -rf /")


def test_backup_missing_alarm_watches_what_the_upload_counts(templates: dict[str, Any]) -> None:
    alarm = templates["influxdb"]["Resources"]["BackupMissingAlarm"]["Properties"]
    assert (alarm["Namespace"], alarm["MetricName"]) == (
        influxdb_backup.METRIC_NAMESPACE,
        influxdb_backup.METRIC,
    )
    assert alarm["Dimensions"] == [{"Name": "Environment", "Value": {"Ref": "EnvironmentName"}}]
    assert (alarm["Statistic"], alarm["ComparisonOperator"], alarm["Threshold"]) == (
        "Sum",
        "LessThanThreshold",
        1,
    )
    assert alarm["Period"] == 86400 and alarm["TreatMissingData"] == "breaching"
    intervals = templates["influxdb"]["Parameters"][influxdb_backup.INTERVAL_PARAMETER]["AllowedValues"]
    assert max(intervals) * 2 <= alarm["Period"], "at least two backups in the alarm's day"
    upload = {
        e["Name"]: e["Value"] for e in containers(templates)[influxdb_backup.UPLOAD_CONTAINER]["Environment"]
    }
    assert (upload["METRIC_NAMESPACE"], upload["METRIC_NAME"]) == (alarm["Namespace"], alarm["MetricName"])
    assert upload["ENVIRONMENT_NAME"] == {"Ref": "EnvironmentName"}
