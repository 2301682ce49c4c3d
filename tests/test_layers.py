"""Imports point down the layers: a package imports only packages of the layers below its own.

The layers, lowest first. A new package must be placed here before it may be imported (the test names it).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from tests.source_tree import ROOT, file_imports, imported, python_files

LAYERS: tuple[tuple[str, ...], ...] = (
    (
        "catalog",
        "ingest_to_influxdb",
        "custom_resource",
    ),  # the kinds, the ingest core, custom resources' answers
    ("webhook_authorizer", "store_setup", "sql_setup"),  # the webhook's authorizer, the stores' set-up steps
    ("webhook_to_influxdb",),  # the webhook function, on the core and the authorizer's secret reading
    ("reach",),  # how every tool reaches a deployment: endpoints, InfluxDB queries, the MQTT login
    ("grafana",),  # dashboards and alerts as code
    ("infrastructure",),  # the stacks and the deploy tool
    ("local_aws",),  # the local stand-ins of the AWS services
    ("simulator",),  # the devices
    ("sandbox",),  # the process manager, what runs on top of the local AWS, and their command line
    ("benchmarks", "ingest_tools", "device_management"),  # measurements and operator tools
)

# Inside a package with floors of its own, the same rule (lowest first).
INNER_LAYERS: dict[str, tuple[tuple[str, ...], ...]] = {
    "sandbox": (("manager",), ("scenarios",), ("cli", "__main__")),
}


def package_of(path: Path) -> str:
    parts = path.relative_to(ROOT).parts
    return parts[1] if parts[0] == "lambda" else parts[0]


def floor(layers: tuple[tuple[str, ...], ...], name: str) -> int | None:
    return next((i for i, names in enumerate(layers) if name in names), None)


def offences(path_package: str, inner: str | None, source: str | Sequence[tuple[int, str]]) -> list[str]:
    """The imports of one file (its text, or its imports with their lines) that run up (or sideways within a
    floor of another package)."""
    found = []
    own = floor(LAYERS, path_package)
    for line, module in imported(source) if isinstance(source, str) else source:
        parts = module.split(".")
        target = floor(LAYERS, parts[0])
        if target is None or parts[0] == path_package:
            if parts[0] == path_package and inner is not None and len(parts) > 1:
                layers = INNER_LAYERS[path_package]
                mine, theirs = floor(layers, inner), floor(layers, parts[1])
                if mine is not None and theirs is not None and theirs > mine:
                    found.append(f"line {line}: {module} is above {path_package}.{inner}")
            continue
        if own is None or target >= own:
            found.append(f"line {line}: {module} is not below {path_package}")
    return found


def project_files() -> list[Path]:
    return [p for p in python_files() if p.relative_to(ROOT).parts[0] not in {"tests", ".ci"}]


def test_every_package_has_a_layer() -> None:
    packages = {package_of(p) for p in project_files() if len(p.relative_to(ROOT).parts) > 1}
    assert {"sandbox", "local_aws", "reach", "catalog", "ingest_to_influxdb"} <= packages
    placed = {name for names in LAYERS for name in names}
    assert packages - placed == set(), "place each new package in LAYERS"


def test_imports_point_only_down() -> None:
    problems = {}
    for path in project_files():
        relative = path.relative_to(ROOT).parts
        if len(relative) == 1:
            continue
        package = package_of(path)
        inner = None
        if package in INNER_LAYERS:
            inner = relative[1].removesuffix(".py")
        if found := offences(package, inner, file_imports(path)):
            problems[str(path.relative_to(ROOT))] = found
    assert problems == {}, "an import runs up the layers (tests/test_layers.py says which way is down)"


def test_the_check_finds_an_import_that_runs_up() -> None:
    assert offences("catalog", None, "from simulator.api import fleet")
    assert offences("grafana", None, "def f():\n    from infrastructure import deploy\n")
    assert offences("reach", None, "import sandbox.cli")
    assert offences("simulator", None, "from sandbox.manager import processes")
    assert offences("sandbox", "manager", "from sandbox.scenarios import demo")
    assert offences("sandbox", "manager", "from sandbox import cli")
    assert not offences("sandbox", "scenarios", "from sandbox.manager.services import Sandbox")
    assert not offences("simulator", None, "from local_aws.iot.ca import LocalCa\nimport json")


def test_tests_import_helpers_from_support_not_from_other_tests() -> None:
    """Helpers live in tests/support/ (or a fixture), not in a test module or conftest another module imports."""
    allowed = ("tests.support", "tests.source_tree")
    problems = {}
    for path in python_files():
        relative = path.relative_to(ROOT)
        if relative.parts[0] != "tests" or relative.parts[1] == "support" or path.name == "conftest.py":
            continue
        found = [
            f"line {line}: {module}"
            for line, module in file_imports(path)
            if module.startswith("tests.") and not module.startswith(allowed) and module.count(".") > 1
        ]
        if found:
            problems[str(relative)] = found
    assert problems == {}, "move the helper to tests/support/"
