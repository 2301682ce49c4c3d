"""`python -m ingest_tools.queues list`: the rejected readings and the dead letters, with their reasons and ages.

On the local sandbox by default, on AWS with `--aws`; the queues are the ingest stack's outputs. Nothing is
removed: every message is peeked (received with a short visibility timeout, then made visible again at once:
reach/queues.py), so `make replay` finds them all afterwards. Each message's shape is read as replay reads it:
a rejected-readings record, Lambda's on-failure destination record, an IoT rule's error-action message, or a
reading moved by the ingest queue's redrive policy.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path

import boto3
from botocore.exceptions import BotoCoreError, ClientError
from rich.console import Console
from rich.table import Table
from rich.text import Text

from infrastructure.names import stack_name
from infrastructure.stacks import ingest
from ingest_tools.tooling import locate
from reach.queues import LIST_WAIT_SECONDS, Letter, age_text, depth, peek

QUEUES = {
    "rejected": ingest.REJECTED_QUEUE_URL.output,
    "dead-letter": ingest.DEAD_LETTER_QUEUE_URL.output,
}
DEFAULT_LIMIT = 50


def letters_table(name: str, letters: list[Letter], waiting: int, now: datetime) -> Table:
    shown = f"{len(letters)} shown of {waiting} waiting" if waiting > len(letters) else f"{waiting} waiting"
    table = Table(title=f"The {name} queue ({shown}; oldest first)")
    for column in ("age", "shape", "topic", "device", "reason", "message id"):
        table.add_column(column, overflow="fold")
    for letter in letters:
        table.add_row(
            age_text(letter.age_seconds(now)),
            letter.shape,
            letter.topic,
            letter.device,
            Text(letter.reason),  # a reason may hold [brackets]: never markup
            letter.message_id,
        )
    return table


def list_queues(urls: dict[str, str], limit: int, console: Console) -> None:
    """Each queue's messages, peeked, as a table; an empty queue says so in one line."""
    sqs, now = boto3.client("sqs"), datetime.now(UTC)
    for name, url in urls.items():
        waiting = depth(sqs, url)
        if waiting == 0:
            console.print(f"the {name} queue is empty ({url})", soft_wrap=True, markup=False)
            continue
        console.print(letters_table(name, peek(sqs, url, limit, LIST_WAIT_SECONDS), waiting, now))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ingest_tools.queues", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    listing = commands.add_parser("list", help="the messages of the rejected and dead-letter queues, peeked")
    listing.add_argument("--queue", choices=sorted(QUEUES), help="only this queue (default: both)")
    listing.add_argument(
        "--aws", action="store_true", help="the deployment on AWS (default: the local sandbox)"
    )
    listing.add_argument("--environment", default="demo", help="the stacks' environment (default demo)")
    listing.add_argument(
        "--endpoints", type=Path, help="the sandbox's endpoints.json (default .sandbox/endpoints.json)"
    )
    listing.add_argument(
        "--limit",
        type=int,
        default=DEFAULT_LIMIT,
        help=f"the most messages per queue (default {DEFAULT_LIMIT})",
    )
    args = parser.parse_args(argv)
    console = Console()
    deployment = locate(args.environment, args.endpoints, args.aws)
    names = [args.queue] if args.queue else list(QUEUES)
    urls = {name: deployment.outputs.get(QUEUES[name], "") for name in names}
    missing = [QUEUES[name] for name, url in urls.items() if not url]
    if missing:
        console.print(
            f"the stack {stack_name(args.environment, ingest.NAME)} has no output {', '.join(missing)}: redeploy it",
            markup=False,
        )
        return 1
    try:
        list_queues(urls, max(1, args.limit), console)
    except (BotoCoreError, ClientError) as error:
        console.print(f"cannot read the queues: {error}", soft_wrap=True, markup=False)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
