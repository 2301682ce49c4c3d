"""`python -m grafana.build [--check]`: writes grafana/dashboards/<name>.json from the dashboards as code.

With --check nothing is written; the exit status is 1 if a committed file differs from what the code generates.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from grafana_foundation_sdk.cog.encoder import JSONEncoder

from catalog import Catalog
from grafana.boards import dashboards
from grafana.committed import check_or_write, stale_names

DASHBOARDS_DIR = Path(__file__).resolve().parent / "dashboards"


def generate(catalog: Catalog | None = None) -> dict[str, str]:
    """File name -> JSON text, exactly as committed (sorted keys, 2-space indent, final newline), for the
    catalog's kinds (by default device-kinds/, or $DEVICE_KINDS_DIR)."""
    files = {}
    for name, build in dashboards(catalog).items():
        model = json.loads(JSONEncoder().encode(build().build()))
        files[f"{name}.json"] = json.dumps(model, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    return files


def stale(directory: Path = DASHBOARDS_DIR) -> list[str]:
    """Names of the committed files that are missing or differ from the generated ones, or are left over."""
    return stale_names(directory, generate(), "*.json")


def write(directory: Path = DASHBOARDS_DIR) -> tuple[list[Path], list[Path]]:
    """Writes every generated file and removes the ones no kind makes any more (a kind removed from the
    catalog): the files written, and the ones removed."""
    directory.mkdir(parents=True, exist_ok=True)
    generated = generate()
    written = []
    for name, text in generated.items():
        path = directory / name
        path.write_text(text)
        written.append(path)
    removed = [path for path in sorted(directory.glob("*.json")) if path.name not in generated]
    for path in removed:
        path.unlink()
    return written, removed


def _write_and_say() -> None:
    written, removed = write()
    for path in written:
        print(f"wrote {path}")
    for path in removed:
        print(f"removed {path}: no kind of the catalog makes it any more")


def main(argv: list[str] | None = None) -> int:
    return check_or_write(argv, "python -m grafana.build", __doc__, "dashboards", stale, _write_and_say)


if __name__ == "__main__":
    sys.exit(main())
