"""`python -m infrastructure`: synth, deploy, destroy, outputs and diff of the stacks."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from botocore.exceptions import BotoCoreError, ClientError
from botocore.parsers import ResponseParserError
from rich.console import Console
from rich.table import Table

from catalog import CatalogError
from catalog.loader import PROJECT_ROOT
from infrastructure.artifacts import ArtifactError
from infrastructure.deploy import Deployer, DeployError, synth
from infrastructure.names import DEFAULT_ENVIRONMENT
from infrastructure.registry import RegistryError, all_stacks, deploy_order
from infrastructure.service_files import ServiceFilesError

DEFAULT_OUT = PROJECT_ROOT / "build" / "templates"
# The templates of the default catalog as last reviewed: a change to a stack shows as a diff of these.
GOLDEN = PROJECT_ROOT / "infrastructure" / "golden"
# The AWS SDKs read the region from AWS_REGION before AWS_DEFAULT_REGION; boto3 reads only the second
# (https://docs.aws.amazon.com/sdkref/latest/guide/feature-region.html), so the first is passed on here.
REGION_VARIABLE = "AWS_REGION"


def parse_params(values: list[str]) -> dict[str, str]:
    params = {}
    for value in values:
        key, sep, setting = value.partition("=")
        if not sep or not key:
            raise DeployError(f"--param takes Key=Value, not {value!r}")
        params[key] = setting
    return params


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m infrastructure", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--environment", default=DEFAULT_ENVIRONMENT, help="stack name prefix (default: demo)"
    )
    common.add_argument(
        "--endpoint-url", help="an AWS-compatible endpoint for every client, e.g. the local moto"
    )
    common.add_argument("--region", help="AWS region (default: the standard configuration chain)")
    common.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="Key=Value",
        help="a parameter value, for every stack that declares it (repeatable)",
    )
    common.add_argument("--yes", action="store_true", help="do not ask for confirmation")

    synth_parser = commands.add_parser("synth", help="write every template to build/templates/")
    synth_parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="folder for the templates")
    golden = synth_parser.add_mutually_exclusive_group()
    golden.add_argument(
        "--check",
        action="store_true",
        help=f"compare every template with its reviewed copy in {GOLDEN.relative_to(PROJECT_ROOT)}/",
    )
    golden.add_argument(
        "--update-golden",
        action="store_true",
        help=f"write the reviewed copies in {GOLDEN.relative_to(PROJECT_ROOT)}/ (commit them with the change)",
    )
    for command, text in (
        ("deploy", "deploy a stack, or all in dependency order"),
        ("destroy", "delete a stack, or all in reverse order"),
    ):
        sub = commands.add_parser(command, parents=[common], help=text)
        target = sub.add_mutually_exclusive_group(required=True)
        target.add_argument("stack", nargs="?", help="the stack's short name, e.g. network")
        target.add_argument("--all", action="store_true", help="every stack")
    for command, text in (("outputs", "a deployed stack's outputs"), ("diff", "what a deploy would change")):
        sub = commands.add_parser(command, parents=[common], help=text)
        sub.add_argument("stack")
    return parser


def golden_differences(written: dict[str, Path], golden: Path = GOLDEN) -> list[str]:
    """The stacks whose template differs from its reviewed copy, or has none, or whose copy has no stack."""
    found = [
        name
        for name, path in written.items()
        if not (golden / path.name).exists() or (golden / path.name).read_text() != path.read_text()
    ]
    kept = {path.stem for path in golden.glob("*.json")}
    return found + sorted(kept - set(written))


def check_golden(written: dict[str, Path], errors: Console) -> int:
    differing = golden_differences(written)
    if differing:
        errors.print(
            f"the templates of {', '.join(differing)} differ from {GOLDEN.relative_to(PROJECT_ROOT)}/: "
            "review the change with 'git diff' after 'make golden', and commit the new copies"
        )
        return 1
    return 0


def check_stack(name: str | None) -> None:
    """An unknown stack is named with the known ones, before any AWS client is made."""
    known = stack_names()
    if name is not None and name not in known:
        raise DeployError(f"no stack {name!r}: the stacks are {', '.join(known)} (make deploy STACK=network)")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    console = Console()
    errors = Console(stderr=True, soft_wrap=True)  # one line each, whatever the terminal's width
    try:
        if args.command == "synth":
            written = synth(args.out)
            if args.check:
                return check_golden(written, errors)
            if args.update_golden:
                synth(GOLDEN)
            for name, path in written.items():
                console.print(f"{name}: {path}")
            return 0
        check_stack(args.stack)
        if args.command == "destroy" and not args.yes and not sys.stdin.isatty():
            # As CDK's --force and SAM's --no-prompts: nothing is deleted unasked when nobody can be asked.
            raise DeployError(
                "destroy asks before deleting, and standard input is not a terminal: "
                "pass --yes to delete without asking (make destroy YES=1)"
            )
        deployer = Deployer(
            environment=args.environment,
            endpoint_url=args.endpoint_url,
            region=args.region or os.environ.get(REGION_VARIABLE) or None,
            params=parse_params(args.param),
            assume_yes=args.yes,
            console=console,
        )
        if args.command == "deploy":
            results = deployer.deploy_all() if args.all else {args.stack: deployer.deploy(args.stack)}
            if args.all and all(result in ("no changes", "left out") for result in results.values()):
                console.print("every stack: no changes")
        elif args.command == "destroy":
            deployer.destroy_all() if args.all else deployer.destroy(args.stack)
        elif args.command == "outputs":
            table = Table(title=deployer.stack_name(args.stack))
            table.add_column("output")
            table.add_column("value")
            for key, value in sorted(deployer.outputs(args.stack).items()):
                table.add_row(key, value)
            console.print(table)
        elif args.command == "diff":
            deployer.diff(args.stack)
        return 0
    except (DeployError, RegistryError, ServiceFilesError, ArtifactError, CatalogError) as error:
        errors.print(f"[red]error:[/] {error}")
        return 1
    except (ClientError, BotoCoreError, ResponseParserError) as error:
        errors.print(f"[red]AWS error:[/] {error}")
        return 1


def stack_names() -> list[str]:
    return deploy_order(all_stacks())
