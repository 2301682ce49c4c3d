"""`make smoke` against the sandbox: the stacks deployed to moto, no CloudFront (said so), and one reading from a
provisioned thing through the local IoT endpoint, the rule runner and the function, found in InfluxDB."""

from __future__ import annotations

from pathlib import Path

from ingest_tools import smoke
from tests.support.pipeline import Pipeline


def _smoke(
    environment: str, pipeline: Pipeline, tmp_path: Path, timeout: float | None = None
) -> tuple[int, list[str]]:
    """`make smoke` against the sandbox's local endpoints: its status and the lines it printed."""
    lines: list[str] = []
    status = smoke.run(
        environment,
        local=pipeline.sandbox.root,
        keys=tmp_path / "keys",
        ca_file=None,
        timeout=timeout,
        print_line=lines.append,
    )
    return status, lines


def test_smoke_passes_against_the_sandbox(direct_pipeline: Pipeline, tmp_path: Path) -> None:
    status, lines = _smoke("demo", direct_pipeline, tmp_path, timeout=60)
    assert status == 0, "\n".join(lines)
    assert lines[0].startswith("ok      stacks: ")
    assert lines[1] == "skipped grafana: no CloudFront locally"
    assert lines[2].startswith(
        "ok      reading: pressure-0000 published one pressure reading; found in InfluxDB"
    )
    assert lines[3] == "smoke: 2 passed, 1 skipped, 0 failed"


def test_smoke_fails_with_what_to_do_when_the_stacks_are_missing(
    direct_pipeline: Pipeline, tmp_path: Path
) -> None:
    status, lines = _smoke("nosuchenv", direct_pipeline, tmp_path)
    assert status == 1
    assert lines[0].startswith("FAIL    stacks: nosuchenv-network is not deployed")
    assert "what to do: deploy them (make deploy-all ENVIRONMENT=nosuchenv)" in lines[0]
    assert lines[1:] == [
        "smoke: 0 passed, 0 skipped, 1 failed: see 'what to do' above"
    ]  # the rest needs them
