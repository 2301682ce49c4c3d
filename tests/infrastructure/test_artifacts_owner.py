"""The artifacts bucket is this account's or the deploy stops: every call to it names the owner it expects,
and a key is trusted for its bytes, not for being there. Against moto's server (the AWS cloud cannot run here);
moto does not check ExpectedBucketOwner, so the one answer S3 gives a wrong expected owner is a stand-in below."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse, HTTPHeaders

from infrastructure import artifacts
from infrastructure.artifacts import ArtifactError
from infrastructure.deploy import Deployer
from tests.support.deployer import deployer

OTHER_ACCOUNT = "111111111111"  # the account that took the name first
NO_OWNER_PARAMETER = {"CreateBucket"}  # S3's only call here that takes no ExpectedBucketOwner


def record_calls(deployer: Deployer) -> list[tuple[str, dict[str, Any]]]:
    """The operation and parameters of every S3 call the deploy tool makes from now on."""
    calls: list[tuple[str, dict[str, Any]]] = []

    def remember(params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        context["call"] = (model.name, {k: v for k, v in params.items() if k != "Body"})
        calls.append(context["call"])

    deployer.session.events.register("before-parameter-build.s3", remember)
    return calls


def read(endpoint: str, bucket: str, key: str) -> bytes:
    body = boto3.client("s3", endpoint_url=endpoint).get_object(Bucket=bucket, Key=key)["Body"]
    return body.read()


def test_every_call_names_this_account_and_a_key_is_trusted_for_its_bytes(endpoint: str) -> None:
    tool = deployer(endpoint, "owned")
    calls = record_calls(tool)
    bucket = tool.artifacts_bucket()
    assert tool.artifacts_bucket() == bucket  # checked once a deploy
    assert tool.store("a/one.json", b"one") == "stored"
    assert tool.store("a/one.json", b"one") == "present"
    # Something else writes other bytes under the key: the next deploy puts its own back, and says so.
    s3 = boto3.client("s3", endpoint_url=endpoint)
    s3.put_object(Bucket=bucket, Key="a/one.json", Body=b"not what the name says")
    assert tool.store("a/one.json", b"one") == "replaced"
    assert read(endpoint, bucket, "a/one.json") == b"one"
    assert "held other bytes" in tool.console.file.getvalue()  # type: ignore[attr-defined]
    # An object stored without a SHA-256 checksum (by an earlier deploy tool) is known by its ETag (its MD5).
    s3.put_object(Bucket=bucket, Key="a/two.json", Body=b"two", ServerSideEncryption="AES256")
    assert tool.store("a/two.json", b"two") == "present"

    to_bucket = [(name, params) for name, params in calls if params.get("Bucket") == bucket]
    names = [name for name, _ in to_bucket]
    assert names.count("HeadBucket") == 1
    assert {"CreateBucket", "PutPublicAccessBlock", "PutBucketEncryption", "HeadObject", "PutObject"} <= set(
        names
    )
    assert [name for name, params in to_bucket if params.get("ExpectedBucketOwner") != tool.account] == [
        "CreateBucket"
    ]
    assert {name for name, params in to_bucket if "ExpectedBucketOwner" not in params} == NO_OWNER_PARAMETER
    stored = [params for name, params in to_bucket if name == "PutObject"]
    assert all(params["ChecksumSHA256"] == artifacts.sha256_checksum(b"one") for params in stored)


def wrong_owner_stand_in(bucket: str, owner: str) -> Any:
    """STAND-IN for S3's answer to a request whose ExpectedBucketOwner is not the bucket's owner: HTTP 403,
    Access Denied (https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucket-owner-condition.html; a HEAD
    answer has no body, so its code is the status). moto serves another account's bucket without that check.
    Requests without the parameter go on to moto, which serves the bucket: a call that forgot the owner would
    reach the other account's bucket, and the test would see it."""

    def answer(context: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
        name, params = context.get("call", ("", {}))
        if params.get("Bucket") != bucket or params.get("ExpectedBucketOwner") in (None, owner):
            return None
        code, message = ("403", "Forbidden") if name.startswith("Head") else ("AccessDenied", "Access Denied")
        parsed = {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": 403}}
        return AWSResponse(f"https://{bucket}.s3.amazonaws.com/", 403, HTTPHeaders(), None), parsed

    return answer


def test_a_bucket_another_account_took_is_refused_before_anything_is_stored_or_deployed(
    endpoint: str,
) -> None:
    tool = deployer(endpoint, "taken")
    bucket = artifacts.artifacts_bucket_name("taken", tool.account, tool.session.region_name)
    other = boto3.client("s3", endpoint_url=endpoint)

    def as_other_account(request: Any, **_: Any) -> None:
        request.headers["x-moto-account-id"] = OTHER_ACCOUNT  # moto's way to act as another account

    other.meta.events.register("before-sign.s3", as_other_account)
    other.create_bucket(Bucket=bucket)
    # moto answers this account's request for the other account's bucket as if it were ours:
    boto3.client("s3", endpoint_url=endpoint).head_bucket(Bucket=bucket, ExpectedBucketOwner=tool.account)

    record_calls(tool)
    tool.session.events.register("before-call.s3", wrong_owner_stand_in(bucket, OTHER_ACCOUNT))
    with pytest.raises(ArtifactError) as refused:
        tool.deploy_all()
    message = str(refused.value)
    assert "\n" not in message  # one line: what happened and what to do
    assert f"{bucket} is not owned by this account ({tool.account})" in message
    assert "another --environment" in message and "nothing was uploaded or deployed" in message
    assert other.list_objects_v2(Bucket=bucket)["KeyCount"] == 0
    stacks = boto3.client("cloudformation", endpoint_url=endpoint).describe_stacks()["Stacks"]
    assert not [s["StackName"] for s in stacks if s["StackName"].startswith("taken-")]


def test_a_key_that_answers_403_stops_the_upload(endpoint: str) -> None:
    """The bucket changed hands after the check (deleted, and taken by another account): the object calls
    carry the owner too, and stop."""
    tool = deployer(endpoint, "swapped")
    bucket = tool.artifacts_bucket()
    record_calls(tool)
    tool.session.events.register("before-call.s3", wrong_owner_stand_in(bucket, OTHER_ACCOUNT))
    with pytest.raises(ArtifactError, match="is not owned by this account"):
        tool.store("a/one.json", b"one")
    assert boto3.client("s3", endpoint_url=endpoint).list_objects_v2(Bucket=bucket)["KeyCount"] == 0
