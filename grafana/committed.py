"""Files generated from the catalog and committed for review (the dashboards, the alerting provisioning): which are
out of date, and the command line that checks or writes them."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping
from pathlib import Path


def stale_names(directory: Path, generated: Mapping[str, str], pattern: str) -> list[str]:
    """Names of the committed files that are missing, differ from the generated ones, or are left over."""
    names = [
        n
        for n, text in generated.items()
        if not (directory / n).exists() or (directory / n).read_text() != text
    ]
    names += [p.name for p in sorted(directory.glob(pattern)) if p.name not in generated]
    return names


def check_or_write(
    argv: list[str] | None,
    prog: str,
    description: str | None,
    what: str,
    stale: Callable[[], list[str]],
    write: Callable[[], None],
) -> int:
    """`prog --check`: 1 with the names when the committed files are out of date; `prog`: write them."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--check", action="store_true", help="only compare the committed files with the code")
    args = parser.parse_args(argv)
    if args.check:
        names = stale()
        if names:
            print(f"out of date: {', '.join(names)}; run '{prog}' and commit the result")
            return 1
        print(f"{what} up to date")
        return 0
    write()
    return 0
