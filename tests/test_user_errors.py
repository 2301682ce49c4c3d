"""A user's mistake gets one line that names the problem and the fix, a non-zero exit status and no traceback.

Each case of issue 28's "errors that mislead" is run as the user meets it: the command-line's `main()` with its
streams captured, or `make` itself where the Makefile is what answers. Nothing here reaches AWS or starts a
service: the commands refuse before that, or talk to a port where nothing listens (127.0.0.1:9).
"""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from infrastructure import cli as infrastructure_cli
from infrastructure.deploy import Deployer
from ingest_tools import load_metadata
from local_aws.runner import STATS_FILE
from reach.endpoints import endpoints_file
from sandbox import cli as sandbox_cli
from sandbox.manager.deployment import RULE_RUNNER
from sandbox.manager.processes import PidRecord
from sandbox.manager.services import Sandbox
from simulator import cli as simulator_cli
from tests.support.stopped_sandbox import NOTHING_LISTENS, stopped_endpoints

ROOT = Path(__file__).resolve().parents[1]


def one_line(text: str) -> str:
    """The only non-empty line of `text`: a user error is one line, never a traceback."""
    lines = [line for line in text.splitlines() if line.strip()]
    assert "Traceback" not in text
    assert len(lines) == 1, text
    return lines[0]


@pytest.fixture
def no_region(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No region anywhere boto3 or the deploy tool looks: the environment and the configuration files."""
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))


# -- the deploy tool ---------------------------------------------------------------------------------


def test_aws_region_is_read_as_the_sdks_read_it(no_region: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """boto3 reads only AWS_DEFAULT_REGION; the deploy tool takes AWS_REGION too (the other SDKs' name)."""
    regions: list[str | None] = []
    monkeypatch.setattr(Deployer, "diff", lambda self, name: regions.append(self.session.region_name))
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    assert infrastructure_cli.main(["diff", "network"]) == 0
    assert regions == ["eu-west-1"]


def test_no_region_says_where_to_set_it(no_region: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert infrastructure_cli.main(["deploy", "network"]) == 1
    line = one_line(capsys.readouterr().err)
    assert "no AWS region configured" in line and "AWS_REGION" in line and "--region" in line


def test_an_unknown_stack_is_named_with_the_known_ones(
    no_region: None, capsys: pytest.CaptureFixture[str]
) -> None:
    """Before anything else (the region included): the stack's name is the mistake."""
    for command in ("deploy", "destroy", "diff", "outputs"):
        assert infrastructure_cli.main([command, "nope"]) == 1
        line = one_line(capsys.readouterr().err)
        assert "no stack 'nope'" in line and "region" not in line
        assert all(name in line for name in infrastructure_cli.stack_names())


def test_synth_with_a_bad_kind_file_names_the_file_and_the_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    kinds = tmp_path / "kinds"
    shutil.copytree(ROOT / "device-kinds", kinds)
    bad = kinds / "pressure.yaml"
    bad.write_text(bad.read_text().replace("measurement:", "measurment:", 1))
    monkeypatch.setenv("DEVICE_KINDS_DIR", str(kinds))
    assert infrastructure_cli.main(["synth", "--out", str(tmp_path / "templates")]) == 1
    line = one_line(capsys.readouterr().err)
    assert str(bad) in line and "measurment" in line


def test_destroy_refuses_without_a_terminal_unless_told_yes(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """As CDK's --force and SAM's --no-prompts: with nobody to ask, nothing is deleted unasked. It refuses
    before any AWS client is made (the endpoint would refuse the connection)."""
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    made: list[str] = []
    monkeypatch.setattr(Deployer, "__post_init__", lambda self: made.append("client"))
    for target in (["--all"], ["network"]):
        code = infrastructure_cli.main(["destroy", *target, "--endpoint-url", NOTHING_LISTENS])
        assert code == 1
        line = one_line(capsys.readouterr().err)
        assert "standard input is not a terminal" in line and "--yes" in line and "YES=1" in line
    assert made == []


# -- the Makefile ------------------------------------------------------------------------------------


def make(*args: str) -> subprocess.CompletedProcess[str]:
    """`make` in the project, its install step taken as done and this interpreter as the project's Python;
    standard input is not a terminal, as in a script or CI."""
    return subprocess.run(
        ["make", "--no-print-directory", "-s", "-o", "install", f"PY={sys.executable}", *args],
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.processes
def test_make_destroy_without_a_terminal_refuses_before_touching_anything() -> None:
    done = make("destroy", f"ENDPOINT_URL={NOTHING_LISTENS}")
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    assert "make destroy YES=1" in done.stderr
    assert "Could not connect" not in done.stdout + done.stderr  # it never tried the endpoint


@pytest.mark.processes
def test_make_destroy_yes_passes_yes_and_deploy_does_not_ask() -> None:
    assert "--yes" in make("-n", "destroy", "YES=1").stdout
    assert "--yes" not in make("-n", "destroy").stdout
    assert "--yes" not in make("-n", "deploy", "STACK=network").stdout


@pytest.mark.processes
@pytest.mark.parametrize("target", ["deploy", "diff", "outputs"])
def test_make_without_stack_gives_the_same_hint(target: str) -> None:
    done = make(target)
    assert done.returncode == 2
    assert one_line(done.stdout) == f"name the stack: make {target} STACK=network (see: make synth)"


@pytest.mark.processes
def test_make_simulate_takes_a_type() -> None:
    commands = make("-n", "simulate", "TYPE=shelf", "DEVICES=3").stdout
    assert "--type shelf --devices 3" in commands
    assert "--type pressure" not in commands
    default = make("-n", "simulate").stdout
    assert "--type pressure" in default and "--type shelf" in default


@pytest.mark.processes
def test_make_load_metadata_is_local_unless_aws() -> None:
    assert "--aws" not in make("-n", "load-metadata", "FILE=x.json").stdout
    assert "--aws" in make("-n", "load-metadata", "FILE=x.json", "AWS=1").stdout
    help_lines = make("help").stdout
    assert "load-metadata" in help_lines and "local sandbox" in help_lines


@pytest.mark.processes
def test_make_install_says_what_it_does() -> None:
    """Every step of the long install announces itself; pip shows its progress (no --quiet on the big ones)."""
    commands = make("-n", "-W", "pyproject.toml", ".venv/.installed", "PYTHON=python3").stdout
    assert "[1/3]" in commands and "[2/3]" in commands and "[3/3]" in commands
    assert "--quiet -e" not in commands and "--quiet 'checkov" not in commands


# -- load-metadata against a sandbox that is down --------------------------------------------------


def test_load_metadata_says_the_sandbox_is_down_and_how_to_start_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The endpoints of a sandbox that was stopped: nothing answers at its AWS endpoint any more."""
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    endpoints = stopped_endpoints()
    path = endpoints_file(tmp_path)
    endpoints.save(path)
    for name, value in endpoints.aws.env().items():  # locate() points boto3 here: undone after the test
        monkeypatch.setenv(name, value)
    metadata = ROOT / "sample-data" / "device-metadata.json"
    with pytest.raises(SystemExit) as stopped:
        load_metadata.main([str(metadata), "--endpoints", str(path)])
    message = str(stopped.value.code)
    assert "\n" not in message
    assert "sandbox is down" in message and "python -m sandbox up" in message
    assert "make deploy" not in message


# -- the simulator's arguments -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "option"),
    [
        (["run", "--rate", "0"], "--rate"),
        (["run", "--rate", "-1"], "--rate"),
        (["run", "--rate", "nan"], "--rate"),
        (["run", "--devices", "0"], "--devices"),
        (["run", "--duration", "0"], "--duration"),
        (["run", "--count", "0"], "--count"),
        (["provision", "--devices", "0"], "--devices"),
    ],
)
def test_the_simulator_refuses_what_cannot_run_at_parsing(
    argv: list[str], option: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stopped:
        simulator_cli.main(argv)
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    (error,) = [line for line in err.splitlines() if "error:" in line]
    assert f"argument {option}:" in error and "not above 0" in error


# -- the sandbox's command line ----------------------------------------------------------------------


def help_of(command: str, capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as stopped:
        sandbox_cli.main([command, "--help"])
    assert stopped.value.code == 0
    return capsys.readouterr().out


def test_each_sandbox_subcommand_lists_only_its_own_options(capsys: pytest.CaptureFixture[str]) -> None:
    demo = help_of("demo", capsys)
    assert "--device-tls" in demo and "--duration" in demo
    assert "--outage" not in demo and "--fault" not in demo and "--services-only" not in demo
    drill = help_of("drill", capsys)
    assert "--outage" in drill and "--fault" in drill and "--device-tls" not in drill
    up = help_of("up", capsys)
    assert "--services-only" in up and "--devices" not in up
    status = help_of("status", capsys)
    assert "--root" in status and "--rate" not in status and "--ingest-path" not in status


def test_an_option_of_another_subcommand_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        sandbox_cli.main(["status", "--outage", "3"])
    assert stopped.value.code == 2
    assert "unrecognized arguments: --outage 3" in capsys.readouterr().err


def test_status_after_down_says_stopped_and_shows_no_stale_counters(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """What `make down` leaves: the rule runner's last counters on disk (and here even its PID file, of a
    process long gone). Status reads the PIDs, says the sandbox is stopped, and does not show the counters."""
    root = tmp_path / "sandbox"
    (root / "pids").mkdir(parents=True)
    (root / STATS_FILE).write_text(
        json.dumps(
            {"received": 7, "acknowledged": 7, "delivered": 7, "workers": {"ingest": {"state": "well"}}}
        )
    )
    PidRecord(pid=2**22 + 1, started=1.0).write(Sandbox(root).pid_file(RULE_RUNNER))  # above Linux's pid_max
    assert sandbox_cli.main(["status", "--root", str(root)]) == sandbox_cli.STOPPED_STATUS
    out = capsys.readouterr().out
    assert "the sandbox is stopped" in out and "python -m sandbox up" in out
    assert "every worker well" not in out and "received" not in out
    assert RULE_RUNNER in out  # its stale PID file is shown as stopped once, then forgotten
