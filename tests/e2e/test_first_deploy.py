"""docs/first-deploy.md, run where it can run here: its commands in order against the e2e deployment (moto's server
playing AWS, the sandbox's mutual-TLS endpoint playing IoT Core, real influxd), and the names it tells a user
to look up held to the code that makes them.

Every command of the guide is either run (as written, pointed at the local endpoints) or named below with why it
cannot run here, so a command added to the guide without a check fails this test.
"""

from __future__ import annotations

import json
import re
import shlex
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from infrastructure import cli as infrastructure_cli
from infrastructure.stacks import edge
from infrastructure.stacks import grafana as grafana_stack
from ingest_tools import load_metadata
from local_aws.iot.access import local_registry
from sandbox.scenarios.accounting import count_points
from simulator import cli as simulator_cli
from simulator.provisioning import deprovision
from tests.support.pipeline import Pipeline

PROJECT_ROOT = Path(__file__).resolve().parents[2]
GUIDE = PROJECT_ROOT / "docs" / "first-deploy.md"

# Commands of the guide that cannot run here, and why; the rest are run by the test below.
NOT_HERE = {
    "make install": "the test session runs in the installed environment",
    "export AWS_PROFILE=": "the test points the standard credential chain at moto instead (AWS_ENDPOINT_URL)",
    "export AWS_REGION=": "the test points the standard credential chain at moto instead (AWS_ENDPOINT_URL)",
    "aws ": "the AWS CLI is not part of the project; what each call reads is checked by name below",
    "curl ": "no network here; the sandbox's IoT endpoint has its own CA (.sandbox/ca/ca.pem)",
}


def guide_commands(text: str) -> list[str]:
    """The command lines of the guide's code blocks, each without its trailing comment."""
    commands = []
    for block in re.findall(r"^ *```\n(.*?)^ *```", text, re.DOTALL | re.MULTILINE):
        for line in block.splitlines():
            command = re.split(r"\s{2,}#", line)[0].strip()
            if command:
                commands.append(command)
    return commands


def run_here(command: str) -> bool:
    return not any(command.startswith(prefix) for prefix in NOT_HERE)


def test_the_guide_names_what_the_code_makes(templates: dict[str, Any]) -> None:
    text = " ".join(GUIDE.read_text().split())
    from ingest_to_influxdb.handler import NAMESPACE

    secret = grafana_stack.ADMIN_SECRET_NAME.replace("${EnvironmentName}", "demo")
    assert f"--secret-id {secret} " in text
    assert f"{edge.DISTRIBUTION_DOMAIN.output}: Grafana is https://<that name>/grafana/" in text
    assert f"output `{grafana_stack.ADMIN_SECRET_ARN.output}`" in text
    parameters = {name for template in templates.values() for name in template.get("Parameters", {})}
    for name in ("CloudFrontPrefixListId", "Waf", "AlertEmail", "AlarmEmail"):
        assert f"--param {name}=" in text and name in parameters, name
    assert "com.amazonaws.global.cloudfront.origin-facing" in str(templates["edge"]["Parameters"])
    assert f"--namespace {NAMESPACE} --metric-name ReadingsWritten" in text
    assert "--dimensions Name=service,Value=ingest Name=kind,Value=pressure" in text
    commands = guide_commands(GUIDE.read_text())
    assert commands and all(
        c.startswith(("make ", "export ", "aws ", "curl ", "python -m ")) for c in commands
    )


def test_the_guide_runs_from_synth_to_readings_in_influxdb(
    direct_pipeline: Pipeline,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The e2e deployment made with these same commands (sandbox.deployment.deploy_local): run again as the guide
    says, the deploy changes nothing, and the devices it provisions publish readings that are written."""
    pipeline = direct_pipeline
    monkeypatch.chdir(PROJECT_ROOT)  # the guide's paths are the repository's
    moto = pipeline.endpoints.aws.endpoint_url
    mqtt = pipeline.endpoints.mqtt
    assert mqtt.ca_file is not None
    ca_file = mqtt.ca_file
    keys = tmp_path / "devices"
    since = datetime.now(UTC)
    sent: list[int] = []

    def infrastructure(argv: list[str]) -> None:
        if argv[0] == "synth":
            argv = [*argv, "--out", str(tmp_path / "templates")]
        else:  # moto: the deploy tool's local endpoint (and no terminal to answer its question)
            argv = [*argv, "--endpoint-url", moto] + (["--yes"] if argv[0] == "deploy" else [])
        assert infrastructure_cli.main(argv) == 0, capsys.readouterr()
        if argv[:2] == ["outputs", "edge"]:
            assert edge.DISTRIBUTION_DOMAIN.output in capsys.readouterr().out

    def simulator(argv: list[str]) -> None:
        if argv[0] == "provision":  # the same provisioning code; the sandbox's CA signs instead of Amazon's
            argv = [*argv, "--target", "local", "--endpoints", str(pipeline.sandbox.endpoints_path)]
            assert simulator_cli.main([*argv, "--keys", str(keys)]) == 0
            return
        # Two minutes of readings in the guide; two readings a device here, to the sandbox's IoT endpoint.
        duration = argv.index("--duration")
        argv = [*argv[:duration], "--count", "2", "--rate", "5", *argv[duration + 2 :]]
        argv += ["--endpoint", f"{mqtt.host}:{mqtt.tls_port}", "--ca-file", ca_file, "--keys", str(keys)]
        deadline = time.monotonic() + 10
        while (
            simulator_cli.main([*argv, "--json"]) != 0
        ):  # the endpoint takes new registrations within a second
            assert time.monotonic() < deadline, capsys.readouterr()
            time.sleep(0.5)
        summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
        assert summary["failed"] == 0 and summary["acknowledged"] == summary["sent"] > 0
        sent.append(summary["acknowledged"])

    runners: dict[str, Callable[[list[str]], None]] = {
        "infrastructure": infrastructure,
        "ingest_tools.load_metadata": lambda argv: _assert_zero(load_metadata.main(argv)),
        "simulator": simulator,
    }
    ran = []
    try:
        for command in guide_commands(GUIDE.read_text()):
            if not run_here(command):
                continue
            words = shlex.split(command)
            assert words[:2] == ["python", "-m"] and words[2] in runners, f"no check for: {command}"
            runners[words[2]](words[3:])
            ran.append(" ".join(words[2:4]))
        assert ran == [
            "infrastructure synth",
            "infrastructure deploy",
            "ingest_tools.load_metadata sample-data/device-metadata.json",
            "infrastructure outputs",
            "simulator provision",
            "simulator run",
        ]
        # The last step's check, here: every acknowledged reading is a point in InfluxDB.
        until = datetime.now(UTC) + timedelta(minutes=1)
        deadline = time.monotonic() + 60
        while count_points(pipeline.endpoints, since, until).get("pressure", 0) < sum(sent):
            assert time.monotonic() < deadline, count_points(pipeline.endpoints, since, until)
            time.sleep(0.3)
        series = pipeline.query(
            f"SELECT count(\"pressureValue\") FROM pressure WHERE time >= '{since.isoformat()}' GROUP BY line, machine"
        )
        assert series and all(s["tags"]["line"] and s["tags"]["machine"] for s in series), "metadata loaded"
    finally:
        with local_registry(pipeline.sandbox.endpoints_path):
            list(deprovision("pressure", 5, keys))


def _assert_zero(status: int) -> None:
    assert status == 0
