"""`.sandbox/endpoints.json` has one client, reach/endpoints.py: no other module names the file or parses it."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from tests.source_tree import ROOT, offending_files, python_files, string_constants

CLIENT = ROOT / "reach" / "endpoints.py"
# A parse of the file by hand (json.load(s) of something named endpoints), or a model read around load().
PARSES = re.compile(r"json\.loads?\([^)\n]*endpoints|Endpoints\.model_validate")


def offences(source: str, strings: Sequence[tuple[int, str]] | None = None) -> list[str]:
    """What in `source` reads endpoints.json another way than through reach/endpoints.py."""
    found = [
        f"line {n}: {line.strip()}" for n, line in enumerate(source.splitlines(), 1) if PARSES.search(line)
    ]
    for line, text in strings or tuple(string_constants(source)):
        if text.endswith("endpoints.json") and " " not in text:
            found.append(f"line {line}: the file name {text!r} (use endpoints_file() or DEFAULT_PATH)")
    return found


def test_no_module_but_the_client_names_or_parses_endpoints_json() -> None:
    files = python_files(CLIENT, Path(__file__).resolve())
    assert len(files) > 50 and ROOT / "simulator" / "api.py" in files
    problems = offending_files(files, offences)
    assert problems == {}, "read .sandbox/endpoints.json through reach.endpoints (Endpoints.load) only"


def test_the_check_finds_each_other_way_in() -> None:
    assert offences('mqtt = json.loads(endpoints_path.read_text())["mqtt"]')
    assert offences('DEFAULT = Path(".sandbox/endpoints.json")')
    assert offences('path = root / "endpoints.json"')
    assert offences("e = Endpoints.model_validate_json(text)")
    assert not offences('"""Where endpoints.json says the broker is."""\nhelp = "the endpoints.json to read"')
