"""`python -m ingest_tools.influx_backup backup|restore`: InfluxDB backups of the local sandbox, made and restored
with the same scripts as the ECS task's `backup` container (services/influxdb/backup-influxdb.sh,
restore-influxdb.sh).

`backup` writes a portable backup of the telemetry database to a new directory (default build/backups/<UTC time>);
`restore DIR` brings one back into the running InfluxDB, keeping what was written since. Both speak to influxd's RPC
port on 127.0.0.1 (endpoints.json). On AWS the task does both itself: every BackupInterval seconds to the backup
bucket, and a restore when the influxdb stack's RestoreBackup parameter names one (`make restore BACKUP=s3://...`,
docs/deploying.md, "Backups").
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

from reach.endpoints import DEFAULT_PATH, Endpoints

SCRIPTS = Path(__file__).resolve().parents[1] / "services" / "influxdb"
BACKUP_SCRIPT = SCRIPTS / "backup-influxdb.sh"
RESTORE_SCRIPT = SCRIPTS / "restore-influxdb.sh"
DEFAULT_FOLDER = Path("build") / "backups"


class BackupError(RuntimeError):
    """A backup or restore did not complete; the message says why."""


def script_environment(endpoints: Endpoints) -> dict[str, str]:
    """What the task's `backup` container has: where influxd is, the database, the admin (never on a command
    line: the scripts hand it to the CLI through its environment)."""
    influx = endpoints.influxdb
    if influx.rpc is None:
        raise BackupError(
            "endpoints.json names no RPC port of influxd: restart the sandbox ('make down', 'make demo')"
        )
    url = urlsplit(influx.url)
    return {
        **os.environ,
        "INFLUXDB_HOST": url.hostname or "127.0.0.1",
        "INFLUXDB_PORT": str(url.port or 8086),
        # influxd serves HTTPS: the CLI of restore-influxdb.sh verifies it against the sandbox's CA
        **({"INFLUXDB_CA_FILE": influx.ca_file} if influx.ca_file else {}),
        "INFLUXDB_RPC": influx.rpc,
        "INFLUXDB_DB": influx.database,
        "INFLUXDB_ADMIN_USER": influx.users.admin.username,
        "INFLUXDB_ADMIN_PASSWORD": influx.users.admin.password,
    }


def _run(script: Path, argument: Path, endpoints: Endpoints) -> str:
    for binary in ("influxd", "influx"):
        if shutil.which(binary) is None:
            raise BackupError(f"'{binary}' is not installed: run 'make install'")
    result = subprocess.run(
        ["sh", str(script), str(argument)],
        env=script_environment(endpoints),
        capture_output=True,
        text=True,
        timeout=3600,
        check=False,
    )
    if result.returncode != 0:
        raise BackupError(
            f"{script.name} failed (status {result.returncode}): {result.stderr.strip()[-800:]}"
        )
    return result.stdout


def backup(endpoints: Endpoints, target: Path) -> str:
    """A portable backup of the database into the new directory `target`; the script's report."""
    target.parent.mkdir(parents=True, exist_ok=True)
    return _run(BACKUP_SCRIPT, target, endpoints)


def restore(endpoints: Endpoints, source: Path) -> str:
    """Brings the backup in `source` into the running InfluxDB; the script's report (points per policy)."""
    if not source.is_dir():
        raise BackupError(f"{source} is not a directory of a backup")
    return _run(RESTORE_SCRIPT, source, endpoints)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ingest_tools.influx_backup", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--endpoints", type=Path, default=DEFAULT_PATH, help="the sandbox's endpoints.json")
    commands = parser.add_subparsers(dest="command", required=True)
    made = commands.add_parser("backup", help="a backup of the local InfluxDB")
    made.add_argument("--to", type=Path, help="a new directory (default build/backups/<UTC time>)")
    back = commands.add_parser("restore", help="a backup back into the running local InfluxDB")
    back.add_argument("source", type=Path, help="a directory made by 'backup'")
    args = parser.parse_args(argv)
    if not args.endpoints.exists():
        print(f"{args.endpoints} does not exist: start the local pipeline with 'make demo'", file=sys.stderr)
        return 2
    endpoints = Endpoints.load(args.endpoints)
    try:
        if args.command == "backup":
            target = args.to or DEFAULT_FOLDER / datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
            print(backup(endpoints, target), end="")
        else:
            print(restore(endpoints, args.source), end="")
    except BackupError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
