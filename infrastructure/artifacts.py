"""The ingest function's zip: its package, the reading kinds of the catalog it reads (device_kinds.json, from
catalog.export) and the packages of lambda/requirements.txt as wheels for Lambda's runtime and architecture, built
reproducibly (same inputs, same bytes) and stored under a key holding its content hash, so an unchanged
function means an unchanged stack."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ingest_to_influxdb import kinds

from catalog import load_catalog
from catalog.export import function_kinds
from catalog.loader import PROJECT_ROOT
from infrastructure.common import ARCHITECTURE
from infrastructure.stacks import ingest

LAMBDA_DIR = PROJECT_ROOT / "lambda"
PACKAGE = "ingest_to_influxdb"
# The ingest function, the webhook function, its authorizer and the managed store's set-up step share the zip.
PACKAGES = (
    PACKAGE,
    "webhook_to_influxdb",
    "webhook_authorizer",
    "custom_resource",
    "store_setup",
    "sql_setup",
)
CACHE_DIR = PROJECT_ROOT / "build" / "lambda"
KINDS_FILE = kinds.IN_ZIP  # where lambda/ingest_to_influxdb/kinds.py looks for it
FIXED_TIME = (2020, 1, 1, 0, 0, 0)
# Lambda's runtime and architecture as the stacks declare them; only wheels that run there are taken (msgspec
# is compiled: its manylinux wheel for that CPU and CPython), no sources are built.
PLATFORMS = {"arm64": "manylinux2014_aarch64", "x86_64": "manylinux2014_x86_64"}
PYTHON_VERSION = ingest.RUNTIME.removeprefix("python")
PIP_TARGET = [
    "--platform",
    PLATFORMS[ARCHITECTURE],
    "--implementation",
    "cp",
    "--python-version",
    PYTHON_VERSION,
    "--only-binary=:all:",
]
# The wheels, downloaded once per runtime and architecture: a rebuild of the zip installs from here, offline.
WHEELS_DIR = CACHE_DIR / "wheels" / f"{PLATFORMS[ARCHITECTURE]}-cp{PYTHON_VERSION.replace('.', '')}"


# S3's error codes (HEAD answers carry only the status): a wrong ExpectedBucketOwner is a 403.
FORBIDDEN = {"403", "AccessDenied", "Forbidden"}
MISSING = {"404", "NoSuchBucket", "NoSuchKey", "NotFound"}


class ArtifactError(RuntimeError):
    """The function's zip could not be built or stored, or the artifacts bucket is not this account's."""


@dataclass(frozen=True)
class Artifact:
    data: bytes
    sha256: str

    @property
    def key(self) -> str:
        return f"ingest/{PACKAGE}-{self.sha256[:20]}.zip"


def _source_files(lambda_dir: Path) -> list[Path]:
    return sorted(
        path
        for package in PACKAGES
        for path in (lambda_dir / package).rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    )


def inputs_digest(lambda_dir: Path, kinds: str) -> str:
    digest = hashlib.sha256(kinds.encode() + b"\0")
    requirements = lambda_dir / "requirements.txt"
    for path in [*_source_files(lambda_dir), *([requirements] if requirements.exists() else [])]:
        digest.update(str(path.relative_to(lambda_dir)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def _pip(*arguments: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "pip", *arguments, "--quiet", "--disable-pip-version-check", *PIP_TARGET]
    return subprocess.run(command, capture_output=True, text=True, check=False)


def _install_requirements(requirements: Path, target: Path, wheels: Path = WHEELS_DIR) -> None:
    """The requirements' wheels into `target`, from the wheel cache; what it lacks is downloaded into it first."""
    offline = ("--no-index", "--find-links", str(wheels), "--no-compile", "--target", str(target))
    if wheels.is_dir() and _pip("install", *offline, "-r", str(requirements)).returncode == 0:
        return
    wheels.mkdir(parents=True, exist_ok=True)
    download = _pip("download", "--dest", str(wheels), "-r", str(requirements))
    result = download if download.returncode != 0 else _pip("install", *offline, "-r", str(requirements))
    if result.returncode != 0:
        raise ArtifactError(
            f"installing {requirements} for the function failed (only pure-Python or {PIP_TARGET[1]} wheels for "
            f"CPython {PYTHON_VERSION} can go into it):\n{result.stderr.strip()}"
        )


def _add_tree(archive: zipfile.ZipFile, files: list[Path], base: Path) -> None:
    for path in files:
        info = zipfile.ZipInfo(str(path.relative_to(base)), date_time=FIXED_TIME)
        info.external_attr = 0o644 << 16
        info.compress_type = zipfile.ZIP_DEFLATED
        archive.writestr(info, path.read_bytes())


def _add_text(archive: zipfile.ZipFile, name: str, text: str) -> None:
    info = zipfile.ZipInfo(name, date_time=FIXED_TIME)
    info.external_attr = 0o644 << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    archive.writestr(info, text)


def build_zip(
    lambda_dir: Path = LAMBDA_DIR, cache_dir: Path = CACHE_DIR, kinds: str | None = None
) -> Artifact:
    """The zip for the current sources and catalog (`kinds`: catalog.export.function_kinds, by default of
    device-kinds/ or $DEVICE_KINDS_DIR), from the cache when they have not changed."""
    kinds = function_kinds(load_catalog()) if kinds is None else kinds
    cached = cache_dir / f"{inputs_digest(lambda_dir, kinds)}.zip"
    if cached.exists():
        data = cached.read_bytes()
        return Artifact(data, hashlib.sha256(data).hexdigest())
    buffer = io.BytesIO()
    with tempfile.TemporaryDirectory() as temporary, zipfile.ZipFile(buffer, "w") as archive:
        requirements = lambda_dir / "requirements.txt"
        if requirements.exists():
            target = Path(temporary)
            _install_requirements(requirements, target)
            installed = sorted(p for p in target.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
            _add_tree(archive, installed, target)
        _add_tree(archive, _source_files(lambda_dir), lambda_dir)
        _add_text(archive, KINDS_FILE, kinds)
    data = buffer.getvalue()
    cache_dir.mkdir(parents=True, exist_ok=True)
    cached.write_bytes(data)
    return Artifact(data, hashlib.sha256(data).hexdigest())


def artifacts_bucket_name(environment: str, account_id: str, region: str) -> str:
    return f"{environment}-artifacts-{account_id}-{region}"


def _code(error: Exception) -> str:
    response: dict[str, Any] = getattr(error, "response", {}) or {}
    return str(response.get("Error", {}).get("Code", ""))


def not_ours(bucket: str, owner: str) -> ArtifactError:
    """The one line a deploy stops with when the artifacts bucket is not this account's."""
    return ArtifactError(
        f"the artifacts bucket {bucket} is not owned by this account ({owner}): S3 answered 403 to a request "
        "expecting this account as its owner, so another account may hold the name; nothing was uploaded or "
        "deployed — deploy under another --environment (ENVIRONMENT= with make), or, if the bucket is this "
        "account's, let this identity list it (s3:ListBucket)"
    )


def ensure_bucket(s3: Any, bucket: str, region: str, owner: str, tls_only: bool = True) -> None:
    """The artifacts bucket, created when missing: encrypted, public access blocked, TLS only (not on a local
    endpoint, which speaks plain HTTP on 127.0.0.1). Its name is predictable, so every call names the account
    that must own it (`ExpectedBucketOwner`: S3 answers 403 for a bucket of another account,
    https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucket-owner-condition.html); a bucket this account
    does not own is refused before anything is stored in it."""
    try:
        s3.head_bucket(Bucket=bucket, ExpectedBucketOwner=owner)
        return
    except s3.exceptions.ClientError as error:
        code = _code(error)
        if code in FORBIDDEN:
            raise not_ours(bucket, owner) from error
        if code not in MISSING:
            raise ArtifactError(f"the artifacts bucket {bucket} could not be checked: {error}") from error
    try:
        if region == "us-east-1":
            s3.create_bucket(Bucket=bucket)
        else:
            s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region})
    except s3.exceptions.ClientError as error:
        code = _code(error)
        if code == "BucketAlreadyExists":  # another account took the name since the check
            raise not_ours(bucket, owner) from error
        if code != "BucketAlreadyOwnedByYou":  # (this account made it since the check: go on)
            raise ArtifactError(f"the artifacts bucket {bucket} could not be created: {error}") from error
    s3.put_public_access_block(
        Bucket=bucket,
        ExpectedBucketOwner=owner,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
    )
    s3.put_bucket_encryption(
        Bucket=bucket,
        ExpectedBucketOwner=owner,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
        },
    )
    if tls_only:
        s3.put_bucket_policy(
            Bucket=bucket,
            ExpectedBucketOwner=owner,
            Policy=json.dumps(tls_only_policy(bucket, partition(region))),
        )


def partition(region: str) -> str:
    """The AWS partition a region belongs to (its ARNs' second field)."""
    return "aws-cn" if region.startswith("cn-") else "aws-us-gov" if region.startswith("us-gov-") else "aws"


def tls_only_policy(bucket: str, partition: str = "aws") -> dict[str, Any]:
    """Every request without TLS is refused, as the stacks' own buckets do."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "DenyWithoutTls",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [f"arn:{partition}:s3:::{bucket}", f"arn:{partition}:s3:::{bucket}/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }
        ],
    }


def sha256_checksum(data: bytes) -> str:
    """S3's form of a SHA-256 checksum (base64 of the digest)."""
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def _holds(head: dict[str, Any], data: bytes) -> bool:
    """The stored object is `data`: by the SHA-256 checksum S3 verified when it was stored, or, for an object
    stored without one, by its ETag (the MD5 of the content for a single-part SSE-S3 object)."""
    if "ChecksumSHA256" in head:
        return bool(head["ChecksumSHA256"] == sha256_checksum(data))
    return bool(head.get("ETag", "").strip('"') == hashlib.md5(data, usedforsecurity=False).hexdigest())


def put_once(s3: Any, bucket: str, owner: str, key: str, data: bytes) -> str:
    """Stores `data` under `key` unless the key already holds exactly these bytes (keys hold a content hash,
    but a key's presence is not its content). "present", "stored", or "replaced" (the key held other bytes)."""
    try:
        head = s3.head_object(Bucket=bucket, Key=key, ExpectedBucketOwner=owner, ChecksumMode="ENABLED")
    except s3.exceptions.ClientError as error:
        code = _code(error)
        if code in FORBIDDEN:
            raise not_ours(bucket, owner) from error
        if code not in MISSING:
            raise ArtifactError(f"s3://{bucket}/{key} could not be checked: {error}") from error
        head = None
    if head is not None and _holds(head, data):
        return "present"
    try:
        s3.put_object(
            Bucket=bucket,
            Key=key,
            Body=data,
            ExpectedBucketOwner=owner,
            ServerSideEncryption="AES256",
            # S3 refuses the upload if the bytes it got differ, and keeps the checksum for the next check.
            ChecksumAlgorithm="SHA256",
            ChecksumSHA256=sha256_checksum(data),
        )
    except s3.exceptions.ClientError as error:
        if _code(error) in FORBIDDEN:
            raise not_ours(bucket, owner) from error
        raise ArtifactError(f"s3://{bucket}/{key} could not be stored: {error}") from error
    return "stored" if head is None else "replaced"


def content_key(prefix: str, name: str, data: bytes, suffix: str) -> str:
    """`<prefix>/<name>-<sha256, 20 hex digits><suffix>`: a new key for new content, the same for the same."""
    return f"{prefix}/{name}-{hashlib.sha256(data).hexdigest()[:20]}{suffix}"
