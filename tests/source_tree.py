"""The project's own Python files, for tests that check how the source is written."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SKIPPED = {".venv", ".venv-checkov", ".sandbox", "build", ".git", "node_modules"}


def python_files(*excluded: Path) -> list[Path]:
    return [
        path
        for path in sorted(ROOT.rglob("*.py"))
        if not SKIPPED & set(path.relative_to(ROOT).parts) and path.resolve() not in excluded
    ]


def string_constants(source: str) -> Iterator[tuple[int, str]]:
    """Every string literal of `source` with its line, the pieces of f-strings included."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            yield node.lineno, node.value
