"""Every function that runs the shared zip declares the runtime and architecture its wheels were fetched for
(msgspec is compiled: a wheel for another CPU or CPython would not load)."""

from __future__ import annotations

from typing import Any

from infrastructure import artifacts
from infrastructure.common import ARCHITECTURE
from infrastructure.stacks import ingest


def test_every_function_of_the_zip_runs_where_its_wheels_were_built_for(templates: dict[str, Any]) -> None:
    found = []
    for stack, template in templates.items():
        for name, resource in template["Resources"].items():
            if resource["Type"] != "AWS::Lambda::Function":
                continue
            properties = resource["Properties"]
            if properties.get("Code", {}).get("S3Key") != {"Ref": "CodeKey"}:
                continue  # inline code: no wheels
            found.append(f"{stack}.{name}")
            assert properties["Runtime"] == ingest.RUNTIME == f"python{artifacts.PYTHON_VERSION}", name
            assert properties["Architectures"] == [ARCHITECTURE], name
            assert artifacts.PLATFORMS[ARCHITECTURE] in artifacts.PIP_TARGET
    assert any(f.startswith("ingest.") for f in found) and any(f.startswith("webhook.") for f in found), found
