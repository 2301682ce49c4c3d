"""The project's own Python files, for tests that check how the source is written."""

from __future__ import annotations

import ast
import functools
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SKIPPED = {".venv", ".venv-checkov", ".sandbox", "build", ".git", "node_modules"}


def python_files(*excluded: Path) -> list[Path]:
    return [path for path in _all_python_files() if path not in excluded]


@functools.cache
def _all_python_files() -> tuple[Path, ...]:
    found = []
    for folder, subfolders, files in os.walk(ROOT):
        subfolders[:] = [name for name in subfolders if name not in SKIPPED]  # never walk into a virtualenv
        found += [Path(folder, name).resolve() for name in files if name.endswith(".py")]
    return tuple(sorted(found))


@functools.cache
def syntax_tree(path: Path) -> ast.Module:
    """One project file parsed (once per run, for every check that reads it)."""
    return ast.parse(path.read_text())


def string_constants(source: str | ast.AST) -> Iterator[tuple[int, str]]:
    """Every string literal of `source` (text or its tree) with its line, the pieces of f-strings included."""
    for node in ast.walk(ast.parse(source) if isinstance(source, str) else source):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            yield node.lineno, node.value


@functools.cache
def file_strings(path: Path) -> tuple[tuple[int, str], ...]:
    """The string literals of one project file (parsed once per run, for every check that reads them)."""
    return tuple(string_constants(syntax_tree(path)))


def offending_files(
    files: Iterable[Path], offences: Callable[[str, Sequence[tuple[int, str]]], list[str]]
) -> dict[str, list[str]]:
    """Each of `files` (relative to the project) in which `offences`, given its text and its string literals, finds
    something, with what it found."""
    return {
        str(path.relative_to(ROOT)): found
        for path in files
        if (found := offences(path.read_text(), file_strings(path)))
    }
