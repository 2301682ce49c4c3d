"""The function's zip holds what runs in Lambda and nothing else: its package, its requirements, its kinds."""

from __future__ import annotations

import io
import json
import zipfile

import pytest

from catalog import load_catalog
from catalog.export import function_kinds
from infrastructure import artifacts

TOOLS = ("replay", "load_metadata", "tooling")
# Building the zip runs pip against the package registry: not a pure test.
pytestmark = pytest.mark.services


def test_the_zip_holds_the_function_and_its_kinds_and_no_operator_tool() -> None:
    artifact = artifacts.build_zip()  # cached under build/lambda/ after the first build
    with zipfile.ZipFile(io.BytesIO(artifact.data)) as archive:
        names = archive.namelist()
        kinds = archive.read(artifacts.KINDS_FILE).decode()
    assert kinds == function_kinds(load_catalog())
    assert [k["name"] for k in json.loads(kinds)["kinds"]] == list(load_catalog().names)
    assert "webhook_to_influxdb/handler.py" in names  # the webhook function reads the same packed kinds
    ours = [n for n in names if n.startswith(f"{artifacts.PACKAGE}/")]
    assert f"{artifacts.PACKAGE}/handler.py" in ours
    assert not [n for n in ours if n.rsplit("/", 1)[-1].removesuffix(".py") in TOOLS]
    assert not [n for n in names if n.startswith(("ingest_tools/", "rich/", "sandbox/", "catalog/"))]
    # The same sources and catalog give the same bytes, so an unchanged function leaves the stack unchanged.
    assert artifacts.build_zip().sha256 == artifact.sha256


def test_the_tls_only_policy_names_the_bucket_in_its_region_s_partition() -> None:
    from infrastructure.artifacts import partition, tls_only_policy

    assert [partition(r) for r in ("eu-west-1", "cn-north-1", "us-gov-west-1")] == [
        "aws",
        "aws-cn",
        "aws-us-gov",
    ]
    [statement] = tls_only_policy("b", partition("cn-north-1"))["Statement"]
    assert statement["Resource"] == ["arn:aws-cn:s3:::b", "arn:aws-cn:s3:::b/*"]
