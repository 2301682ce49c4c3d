"""The stream path's resources (infrastructure/stacks/ingest_stream.py): only on `IngestPath=stream`, the stream
encrypted with the environment's key and sized by parameter, the mapping's error handling, and an S3 on-failure
destination (the one that keeps the records themselves)."""

from __future__ import annotations

from typing import Any

from infrastructure.stacks import network
from local_aws.cloudformation.template import DeployedTemplate, ResourceRef


def _deployed(template: dict[str, Any], **parameters: str) -> DeployedTemplate:
    exports = {network.DATA_KEY_ARN.name("demo"): "arn:aws:kms:us-east-1:1:key/k"}
    return DeployedTemplate(
        template, {"EnvironmentName": "demo", **parameters}, "us-east-1", "1", "s", {}, exports
    )


def test_the_stream_and_its_mapping_exist_only_on_the_stream_path(templates: dict[str, Any]) -> None:
    template = templates["ingest"]
    assert template["Parameters"]["IngestPath"]["AllowedValues"] == ["direct", "queued", "stream"]
    for path, expected in (
        ("direct", set()),
        ("queued", {"IngestQueueMapping"}),
        ("stream", {"IngestStreamMapping"}),
    ):
        deployed = _deployed(template, IngestPath=path)
        assert set(deployed.of_type("AWS::Lambda::EventSourceMapping")) == expected
        assert bool(deployed.of_type("AWS::Kinesis::Stream")) == (path == "stream")
        assert bool(deployed.of_type("AWS::Lambda::Permission")) == (path == "direct")


def test_the_stream_is_encrypted_and_on_demand_unless_the_capacity_model_gives_shards(
    templates: dict[str, Any],
) -> None:
    template = templates["ingest"]
    stream = template["Resources"]["IngestStream"]["Properties"]
    assert stream["StreamEncryption"]["EncryptionType"] == "KMS"
    assert "DataKeyArn" in str(stream["StreamEncryption"]["KeyId"])
    on_demand = _deployed(template, IngestPath="stream").resolve(stream)
    assert on_demand["StreamModeDetails"] == {"StreamMode": "ON_DEMAND"} and "ShardCount" not in on_demand
    sized = _deployed(template, IngestPath="stream", StreamShardCount="12").resolve(stream)
    assert sized["StreamModeDetails"] == {"StreamMode": "PROVISIONED"} and sized["ShardCount"] == "12"


def test_the_mapping_bisects_retries_ages_and_keeps_failed_records_in_s3(templates: dict[str, Any]) -> None:
    template = templates["ingest"]
    mapping = _deployed(template, IngestPath="stream").resolve(
        template["Resources"]["IngestStreamMapping"]["Properties"]
    )
    assert mapping["EventSourceArn"] == ResourceRef("IngestStream", "Arn")
    assert mapping["BisectBatchOnFunctionError"] is True
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["MaximumRetryAttempts"] == 5 and mapping["MaximumRecordAgeInSeconds"] == 6 * 3600
    assert mapping["StartingPosition"] == "TRIM_HORIZON"
    assert mapping["DestinationConfig"]["OnFailure"]["Destination"] == ResourceRef(
        "StreamFailureBucket", "Arn"
    )
    assert template["Parameters"]["BatchSize"]["MaxValue"] == 10000
    bucket = template["Resources"]["StreamFailureBucket"]
    assert bucket["DeletionPolicy"] == "Retain"
    (rule,) = bucket["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
