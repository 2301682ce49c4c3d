"""`.sandbox/endpoints.json` has one client, sandbox/endpoints.py: no other module names the file or parses it."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CLIENT = ROOT / "sandbox" / "endpoints.py"
SKIPPED = {".venv", ".venv-checkov", ".sandbox", "build", ".git", "node_modules"}
# A parse of the file by hand (json.load(s) of something named endpoints), or a model read around load().
PARSES = re.compile(r"json\.loads?\([^)\n]*endpoints|Endpoints\.model_validate")


def offences(source: str) -> list[str]:
    """What in `source` reads endpoints.json another way than through sandbox/endpoints.py."""
    found = [
        f"line {n}: {line.strip()}" for n, line in enumerate(source.splitlines(), 1) if PARSES.search(line)
    ]
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Constant) or not isinstance(node.value, str):
            continue
        if node.value.endswith("endpoints.json") and " " not in node.value:
            found.append(
                f"line {node.lineno}: the file name {node.value!r} (use endpoints_file() or DEFAULT_PATH)"
            )
    return found


def python_files() -> list[Path]:
    return [
        path
        for path in ROOT.rglob("*.py")
        if not SKIPPED & set(path.relative_to(ROOT).parts) and path not in (CLIENT, Path(__file__).resolve())
    ]


def test_no_module_but_the_client_names_or_parses_endpoints_json() -> None:
    files = python_files()
    assert len(files) > 50 and ROOT / "simulator" / "api.py" in files
    problems = {str(path.relative_to(ROOT)): found for path in files if (found := offences(path.read_text()))}
    assert problems == {}, "read .sandbox/endpoints.json through sandbox.endpoints (Endpoints.load) only"


def test_the_check_finds_each_other_way_in() -> None:
    assert offences('mqtt = json.loads(endpoints_path.read_text())["mqtt"]')
    assert offences('DEFAULT = Path(".sandbox/endpoints.json")')
    assert offences('path = root / "endpoints.json"')
    assert offences("e = Endpoints.model_validate_json(text)")
    assert not offences('"""Where endpoints.json says the broker is."""\nhelp = "the endpoints.json to read"')
