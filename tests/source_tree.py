"""The project's own Python files, for tests that check how the source is written."""

from __future__ import annotations

import ast
import functools
import gc
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


def _gathered(tree: ast.AST) -> tuple[tuple[tuple[int, str], ...], tuple[tuple[int, str], ...]]:
    """The string literals (the pieces of f-strings included) and the absolute imports (those inside functions
    included, and `from package import module` as `package.module` too) of a tree, each with its line: one walk."""
    strings: list[tuple[int, str]] = []
    imports: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant):
            if isinstance(node.value, str):
                strings.append((node.lineno, node.value))
        elif isinstance(node, ast.Import):
            imports += ((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            imports.append((node.lineno, node.module))
            imports += ((node.lineno, f"{node.module}.{alias.name}") for alias in node.names)
    return tuple(strings), tuple(imports)


def _tree(source: str | ast.AST) -> ast.AST:
    return ast.parse(source) if isinstance(source, str) else source


def string_constants(source: str | ast.AST) -> Iterator[tuple[int, str]]:
    """Every string literal of `source` (text or its tree) with its line, the pieces of f-strings included."""
    yield from _gathered(_tree(source))[0]


def imported(source: str | ast.AST) -> Iterator[tuple[int, str]]:
    """Every absolute import of `source` (text or its tree) with its line, those inside functions included."""
    yield from _gathered(_tree(source))[1]


@functools.cache
def _file_facts(path: Path) -> tuple[tuple[tuple[int, str], ...], tuple[tuple[int, str], ...]]:
    # One parse per file and run, and only what the checks read is kept, not the tree: the project's trees are
    # millions of objects the collector would scan again and again for the rest of the run. A tree holds no
    # cycle, so the collector is paused while it lives (else it scans the tree being built, several times).
    text = path.read_text()
    paused = gc.isenabled()
    gc.disable()
    try:
        return _gathered(ast.parse(text))
    finally:
        if paused:
            gc.enable()


def file_strings(path: Path) -> tuple[tuple[int, str], ...]:
    """The string literals of one project file (parsed once per run, for every check that reads them)."""
    return _file_facts(path)[0]


def file_imports(path: Path) -> tuple[tuple[int, str], ...]:
    """The absolute imports of one project file (parsed once per run, for every check that reads them)."""
    return _file_facts(path)[1]


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
