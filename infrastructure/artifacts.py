"""The ingest function's zip: its package, the reading kinds of the catalog it reads (device_kinds.json, from
catalog.export) and the pure-Python packages of lambda/requirements.txt, built
reproducibly (same inputs, same bytes) and stored under a key holding its content hash, so an unchanged
function means an unchanged stack."""

from __future__ import annotations

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

from catalog import load_catalog
from catalog.export import function_kinds
from infrastructure.service_files import PROJECT_ROOT

LAMBDA_DIR = PROJECT_ROOT / "lambda"
PACKAGE = "ingest_to_influxdb"
# The ingest function, the webhook function and the managed store's set-up step share the zip.
PACKAGES = (PACKAGE, "webhook_to_influxdb", "store_setup")
CACHE_DIR = PROJECT_ROOT / "build" / "lambda"
KINDS_FILE = f"{PACKAGE}/device_kinds.json"  # where lambda/ingest_to_influxdb/kinds.py looks for it
FIXED_TIME = (2020, 1, 1, 0, 0, 0)
# Lambda's runtime (python3.12 on arm64); only wheels that run there are taken, no sources are built.
PIP_TARGET = [
    "--platform",
    "manylinux2014_aarch64",
    "--implementation",
    "cp",
    "--python-version",
    "3.12",
    "--only-binary=:all:",
]


class ArtifactError(RuntimeError):
    """The function's zip could not be built or uploaded."""


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


def _install_requirements(requirements: Path, target: Path) -> None:
    command = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--no-compile",
        "--disable-pip-version-check",
        "--target",
        str(target),
        *PIP_TARGET,
        "-r",
        str(requirements),
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise ArtifactError(
            f"installing {requirements} for the function failed (only pure-Python or manylinux aarch64 wheels "
            f"can go into it):\n{result.stderr.strip()}"
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


def ensure_bucket(s3: Any, bucket: str, region: str, tls_only: bool = True) -> None:
    """The artifacts bucket, created when missing: encrypted, public access blocked, TLS only (not on a local
    endpoint, which speaks plain HTTP on 127.0.0.1)."""
    try:
        s3.head_bucket(Bucket=bucket)
        return
    except s3.exceptions.ClientError as error:
        if error.response.get("Error", {}).get("Code") not in ("404", "NoSuchBucket", "NotFound"):
            raise ArtifactError(
                f"the artifacts bucket {bucket} exists but is not readable: {error}"
            ) from error
    if region == "us-east-1":
        s3.create_bucket(Bucket=bucket)
    else:
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region})
    s3.put_public_access_block(
        Bucket=bucket,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
    )
    s3.put_bucket_encryption(
        Bucket=bucket,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
        },
    )
    if tls_only:
        s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(tls_only_policy(bucket)))


def tls_only_policy(bucket: str) -> dict[str, Any]:
    """Every request without TLS is refused, as the stacks' own buckets do."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "DenyWithoutTls",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }
        ],
    }


def upload(s3: Any, bucket: str, artifact: Artifact) -> None:
    put_once(s3, bucket, artifact.key, artifact.data)


def put_once(s3: Any, bucket: str, key: str, data: bytes) -> None:
    """Stores `data` under `key` unless it is there: keys hold a content hash, so the same key is the same data."""
    try:
        s3.head_object(Bucket=bucket, Key=key)
        return
    except s3.exceptions.ClientError:
        pass
    s3.put_object(Bucket=bucket, Key=key, Body=data, ServerSideEncryption="AES256")


def content_key(prefix: str, name: str, data: bytes, suffix: str) -> str:
    """`<prefix>/<name>-<sha256, 20 hex digits><suffix>`: a new key for new content, the same for the same."""
    return f"{prefix}/{name}-{hashlib.sha256(data).hexdigest()[:20]}{suffix}"
