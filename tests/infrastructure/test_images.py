"""Every image is a well-formed reference; one pinned by digest carries a full SHA-256, or the deploy refuses it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from infrastructure import images, service_files
from infrastructure.ecs_service import FETCH_IMAGE
from infrastructure.service_files import ServiceFilesError

DIGEST = "a" * 64


def test_every_image_the_stacks_run_is_a_reference() -> None:
    named = [service_files.load(s).image for s in ("influxdb", "grafana", "chronograf")] + [FETCH_IMAGE]
    for reference in named:
        assert images.check(reference, "test") == reference
    grafana = service_files.load("grafana").image
    assert grafana.split("@")[0] != "grafana/grafana-oss:11.6.0", "11.6.0 is superseded by security releases"


@pytest.mark.parametrize(
    "reference",
    [
        f"grafana/grafana-oss:11.6.14@sha256:{DIGEST}",
        f"influxdb@sha256:{DIGEST}",
        f"public.ecr.aws/aws-cli/aws-cli:2.22.0@sha256:{DIGEST}",
        "chronograf:1.10",
    ],
)
def test_a_digest_form_is_accepted(reference: str) -> None:
    assert images.check(reference, "test") == reference
    assert re.match(images.REFERENCE, reference)  # the stacks' Image parameter takes it too


@pytest.mark.parametrize(
    ("reference", "says"),
    [
        ("grafana/grafana-oss:11.6.14@sha256:abc", "64 lower-case hex digits"),
        (f"grafana/grafana-oss@sha1:{DIGEST[:40]}", "64 lower-case hex digits"),
        (f"grafana/grafana-oss:11.6.14@sha256:{DIGEST.upper()}", "64 lower-case hex digits"),
        ("Grafana/Grafana-OSS:11", "not an image reference"),
        ("grafana oss:11", "not an image reference"),
    ],
)
def test_a_broken_reference_is_refused_in_one_line(reference: str, says: str) -> None:
    with pytest.raises(images.ImageError) as refused:
        images.check(reference, "services/grafana/task.yaml")
    assert says in str(refused.value) and "\n" not in str(refused.value)
    assert not re.match(images.REFERENCE, reference)


def test_a_task_file_with_a_broken_digest_stops_the_build(tmp_path: Path) -> None:
    folder = tmp_path / "services" / "grafana"
    folder.mkdir(parents=True)
    (folder / "task.yaml").write_text(
        "image: grafana/grafana-oss:11.6.14@sha256:123\nport: 3000\nmount: /x\n"
    )
    with pytest.raises(ServiceFilesError, match="sha256"):
        service_files.load("grafana", root=tmp_path)
