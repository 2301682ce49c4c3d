"""The function's zip holds what runs in Lambda and nothing else: its package, its requirements, its kinds."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest

from catalog import load_catalog
from catalog.export import function_kinds
from infrastructure import artifacts
from infrastructure.common import ARCHITECTURE

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
    assert not [
        n
        for n in names
        if n.startswith(("ingest_tools/", "rich/", "sandbox/", "local_aws/", "reach/", "catalog/"))
    ]
    # The same sources and catalog give the same bytes, so an unchanged function leaves the stack unchanged.
    assert artifacts.build_zip().sha256 == artifact.sha256


def test_the_zip_carries_the_compiled_wheels_for_the_function_s_runtime_and_architecture() -> None:
    with zipfile.ZipFile(io.BytesIO(artifacts.build_zip().data)) as archive:
        names = archive.namelist()
    python = artifacts.PYTHON_VERSION.replace(".", "")
    cpu = {"arm64": "aarch64", "x86_64": "x86_64"}[ARCHITECTURE]
    assert f"msgspec/_core.cpython-{python}-{cpu}-linux-gnu.so" in names, [n for n in names if "msgspec" in n]


def test_a_rebuild_installs_the_wheels_from_the_cache_without_the_package_index(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    artifacts.build_zip()  # the wheels are in build/lambda/wheels/ after the first build
    # No index to download from: pip would fail if it tried (127.0.0.1:9 is the discard port, nothing listens).
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")
    other_kinds = function_kinds(load_catalog()) + " "  # other inputs: a new zip, not the cached one
    artifact = artifacts.build_zip(cache_dir=tmp_path, kinds=other_kinds)
    with zipfile.ZipFile(io.BytesIO(artifact.data)) as archive:
        assert any(n.startswith("msgspec/_core.") for n in archive.namelist())


def test_the_tls_only_policy_names_the_bucket_in_its_region_s_partition() -> None:
    from infrastructure.artifacts import partition, tls_only_policy

    assert [partition(r) for r in ("eu-west-1", "cn-north-1", "us-gov-west-1")] == [
        "aws",
        "aws-cn",
        "aws-us-gov",
    ]
    [statement] = tls_only_policy("b", partition("cn-north-1"))["Statement"]
    assert statement["Resource"] == ["arn:aws-cn:s3:::b", "arn:aws-cn:s3:::b/*"]
