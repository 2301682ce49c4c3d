"""`python -m catalog [FOLDER]`: checks every device kind file and lists the kinds, or says what is wrong."""

from __future__ import annotations

import sys
from pathlib import Path

from catalog.loader import CatalogError, load_catalog


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    try:
        catalog = load_catalog(Path(args[0]) if args else None)
    except CatalogError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    for kind in catalog:
        fields = ", ".join(kind.fields)
        print(f"{kind.name}: topic {kind.topic}, measurement {kind.measurement} ({fields})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
