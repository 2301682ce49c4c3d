"""`python -m benchmarks.profile_handler` (`make profile`): where the handler's time goes on the queued path.

Runs SQS batches of 1,000 readings through `lambda_handler` (as `make bench` does) under pyinstrument, prints
the call tree and writes it as HTML to build/bench/ (`--batch 1`: the direct path).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import tempfile
from pathlib import Path

from benchmarks.handler_cases import DEVICES, Readings, local_services, through_handler

OUT = Path(__file__).resolve().parent.parent / "build" / "bench"


def main(argv: list[str] | None = None) -> int:
    from pyinstrument import Profiler

    parser = argparse.ArgumentParser(prog="python -m benchmarks.profile_handler", description=__doc__)
    parser.add_argument("--readings", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=1_000, help="readings per SQS batch")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-profile-") as folder, local_services(Path(folder)):
        readings = Readings()
        run = through_handler(readings, args.readings, args.batch)
        profiler = Profiler(interval=0.0005)
        with contextlib.redirect_stdout(io.StringIO()):
            # A warm container: every thing's metadata cached, as in the bench's later slices.
            through_handler(readings, DEVICES * 2, args.batch)()
            profiler.start()
            run()
            profiler.stop()
    OUT.mkdir(parents=True, exist_ok=True)
    name = "profile-direct.html" if args.batch == 1 else f"profile-queued-{args.batch}.html"
    (OUT / name).write_text(profiler.output_html())
    print(profiler.output_text(unicode=True, color=False, show_all=False))
    print(f"call tree as HTML: {OUT / name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
