"""Every contract is declared once: a name the stacks, the functions and the tools share (an output key, a stack
or secret name, an environment variable, the database, the packed kinds' file) appears as a literal only where it
is declared; everywhere else it is imported, so a rename cannot pass lint and fail at demo time."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

from ingest_to_influxdb import basic_ingest, environment, kinds

import infrastructure.stacks
from infrastructure.names import Export
from infrastructure.stacks import influxdb
from tests.source_tree import ROOT, file_strings, python_files

STACKS = ROOT / "infrastructure" / "stacks"


def stack_modules() -> Iterator[ModuleType]:
    for info in pkgutil.iter_modules(infrastructure.stacks.__path__):
        yield importlib.import_module(f"infrastructure.stacks.{info.name}")


# Where CloudFormation's and the AWS APIs' own names are spoken (`FunctionName`, `Url`, ...), an output key's
# text is often one of them: output keys are checked in the tools that read a stack's outputs.
SPEAKS_AWS = (STACKS, ROOT / "lambda", ROOT / "local_aws", ROOT / "infrastructure" / "reattach.py")


def output_keys() -> dict[str, set[Path]]:
    """Each stack output key, and the stack modules that declare it (two stacks may use the same key)."""
    keys: dict[str, set[Path]] = {}
    for module in stack_modules():
        for value in vars(module).values():
            if isinstance(value, Export):
                keys.setdefault(value.output, set()).add(Path(str(module.__file__)))
    return keys


def declared() -> dict[str, set[Path]]:
    """Each shared name, and the files that may spell it."""
    function = ROOT / "lambda" / "ingest_to_influxdb"
    names: dict[str, set[Path]] = {}
    for name in vars(environment).values():
        if isinstance(name, str) and name.isupper() and "_" in name:
            names[name] = {function / "environment.py"}
    names[environment.NAMESPACE] = {function / "environment.py"}
    for name in (kinds.FILE_VARIABLE, kinds.TOPICS_VARIABLE, kinds.PACKAGED_NAME):
        names[name] = {function / "kinds.py"}
    names[basic_ingest.RULES_VARIABLE] = {function / "basic_ingest.py"}
    # The same word names InfluxDB's database and the SQL sink's, each declared once in its own store's module.
    names[influxdb.DATABASE] = {STACKS / "influxdb.py", ROOT / "lambda" / "sql_setup" / "constants.py"}
    return names


# Pieces of f-strings that build a name by hand instead of calling its one function (allowed in that function's file).
BUILT_BY_HAND = {
    "/influxdb/": ("influxdb.secret_name(role, environment)", STACKS / "influxdb.py"),
    "/sql/": ("relational.secret_name(role, environment)", STACKS / "relational.py"),
    **{
        f"-{stack}": ("names.stack_name(environment, stack)", ROOT / "infrastructure" / "names.py")
        for stack in (
            "ingest",
            "webhook",
            "influxdb",
            "edge",
            "network",
            "storage",
            "cluster",
            "grafana",
            "relational",
        )
    },
}


def offences(
    path: Path,
    strings: tuple[tuple[int, str], ...],
    names: dict[str, set[Path]],
    keys: dict[str, set[Path]] | None = None,
) -> list[str]:
    found = []
    if not any(path == place or place in path.parents for place in SPEAKS_AWS):
        names = {**(keys or {}), **names}
    for line, text in strings:
        owners = names.get(text)
        if owners is not None and path not in owners:
            where = ", ".join(sorted(str(owner.relative_to(ROOT)) for owner in owners))
            found.append(f"line {line}: {text!r} is declared in {where}: import it")
        if text in BUILT_BY_HAND and path != BUILT_BY_HAND[text][1]:
            found.append(f"line {line}: {text!r} builds a name by hand: use {BUILT_BY_HAND[text][0]}")
    return found


def project_files() -> list[Path]:
    return [p for p in python_files() if p.relative_to(ROOT).parts[0] not in {"tests", ".ci"}]


def test_every_shared_name_is_spelled_only_where_it_is_declared() -> None:
    names, keys = declared(), output_keys()
    assert {"INFLUXDB_URL", "telemetry", "device_kinds.json"} <= set(names)
    assert {"MetadataTableName", "CallbackUrl", "ConsoleBucketName"} <= set(keys)
    problems = {
        str(path.relative_to(ROOT)): found
        for path in project_files()
        if (found := offences(path, file_strings(path), names, keys))
    }
    assert problems == {}, "a shared name is typed twice (tests/test_contracts.py)"


def test_the_check_finds_a_second_literal() -> None:
    names, keys = declared(), output_keys()
    elsewhere = ROOT / "ingest_tools" / "replay.py"
    assert offences(elsewhere, ((3, "MetadataTableName"),), names, keys)
    assert not offences(STACKS / "webhook.py", ((3, "FunctionName"),), names, keys)
    assert offences(elsewhere, ((4, "telemetry"),), names)
    assert offences(elsewhere, ((5, "/influxdb/"),), names)
    assert offences(elsewhere, ((6, "-ingest"),), names)
    assert not offences(STACKS / "influxdb.py", ((7, "telemetry"),), names)
