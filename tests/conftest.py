"""Session-wide local services for the tests: real influxd, mosquitto and moto server on 127.0.0.1.

They are stopped at the end of the session whatever happens, so a test run leaves no process behind. Every test
gets a tier marker from what it uses: `e2e` (tests/e2e/, whole deployments), `services` (the session's services,
through the `sandbox` fixture) or `pure` (nothing but the Python process: `make test-fast`).
"""

from __future__ import annotations

import gc
import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from catalog import load_catalog
from catalog.export import function_kinds
from infrastructure.deploy import synth
from infrastructure.registry import StackDefinition, all_stacks
from local_aws import serving
from local_aws.lambda_.function_zip import kinds_from
from reach.endpoints import Endpoints
from sandbox.manager import processes
from sandbox.manager.services import Sandbox

SERVICE_FIXTURES = {
    "sandbox",
    "own_sandbox",
}  # the fixtures that start influxd, mosquitto and moto


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        if "e2e" in Path(str(item.path)).parts:
            item.add_marker(pytest.mark.e2e)
            item.add_marker(pytest.mark.services)
        elif fixtures & SERVICE_FIXTURES or item.get_closest_marker("services"):
            item.add_marker(pytest.mark.services)  # (again, for a module marked by hand: harmless)
        elif not item.get_closest_marker("processes"):
            item.add_marker(pytest.mark.pure)


def pytest_collection_finish(session: pytest.Session) -> None:
    """What the imports and the collection built (modules, test functions, their parameters) lives to the end of
    the run: frozen, the collector leaves it out of every full collection."""
    gc.freeze()


@pytest.fixture(autouse=True)
def pure_starts_no_service(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """A pure test that would start a local service fails at once, saying to mark it: `make test-fast` must
    never start influxd, mosquitto, moto or the rule runner (they all start through sandbox.manager.processes.start).
    A test that starts them in a child process (a CLI run) is marked `services` by hand."""
    if request.node.get_closest_marker("pure") is None:
        return

    def refuse(name: str, *args: object, **kwargs: object) -> None:
        raise AssertionError(
            f"a pure test started {name}: mark it @pytest.mark.services or use the sandbox fixture"
        )

    monkeypatch.setattr(processes, "start", refuse)


@pytest.fixture(scope="session", autouse=True)
def packed_kinds(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The catalog's reading kinds as the deploy tool packs them into the function's zip, for the function
    when it runs in the test process."""
    path = tmp_path_factory.mktemp("kinds") / "device_kinds.json"
    path.write_text(function_kinds(load_catalog()))
    with kinds_from(path):
        yield path


@pytest.fixture(scope="session", autouse=True)
def prompt_stops() -> Iterator[None]:
    """The HTTP stand-ins served in the test process look for their shutdown every 5 ms instead of 50: the stop
    of one was most of many a pure test's time."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(serving, "POLL_SECONDS", 0.005)
        yield


@pytest.fixture(scope="session")
def stacks() -> dict[str, StackDefinition]:
    return all_stacks()


@pytest.fixture(scope="session")
def templates(stacks: dict[str, StackDefinition], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Every stack's template, synthesized once per session in this process (no AWS needed)."""
    out: Path = tmp_path_factory.mktemp("templates")
    return {name: json.loads(path.read_text()) for name, path in synth(out, stacks).items()}


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    services = Sandbox(tmp_path_factory.mktemp("sandbox"))
    try:
        services.up()
        yield services
    finally:
        services.down()


@pytest.fixture(scope="session")
def endpoints(sandbox: Sandbox) -> Endpoints:
    return sandbox.endpoints()


@pytest.fixture
def aws_env(endpoints: Endpoints, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Points plain boto3 clients at moto's server (the AWS cloud itself cannot run here)."""
    env = endpoints.aws.env()
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    return env


@pytest.fixture
def moto_reset(endpoints: Endpoints) -> None:
    request = urllib.request.Request(f"{endpoints.aws.endpoint_url}/moto-api/reset", method="POST")
    with urllib.request.urlopen(request, timeout=10):
        pass
