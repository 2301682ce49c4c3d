"""What each ECS service's task sets, read at synth time from `services/<service>/task.yaml`.

The services' files reach the official images without an image build: `<text of PATH>` in a task.yaml becomes
the text of PATH (`<text of PATH, minified>`: JSON without spaces), `<downsampling of the device kinds>` becomes
what the catalog's kinds keep downsampled (catalog/export.py), `<alert rules of the device kinds>` Grafana's alert
rules of the catalog (grafana/alert_rules.py). The dashboards go through S3 instead
(`dashboard_files`), so the task definition does not grow with them. So a change to any of those files changes the template.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from catalog import load_catalog
from catalog.export import downsampled
from catalog.loader import PROJECT_ROOT, load_yaml
from grafana import alert_rules, build
from infrastructure import images

_FILE_TEXT = re.compile(r"^<text of (?P<path>[^,>]+)(?P<minified>, minified)?>$")
DOWNSAMPLING = "<downsampling of the device kinds>"
# Grafana's alert rules of the catalog in use, with deleteRules for the rules of kinds removed since the committed
# file (grafana/alert_rules.py): a deploy follows the catalog even before `python -m grafana.alert_rules` is run.
ALERT_RULES = "<alert rules of the device kinds>"
WHOLE_SECRET = "*"


class ServiceFilesError(ValueError):
    """A task.yaml is missing, malformed, or names a file that does not exist."""


@dataclass(frozen=True)
class SecretRef:
    """`<secret name template>:<JSON key>`, e.g. `${EnvironmentName}/influxdb/reader` and `password`; the key
    `*` (WHOLE_SECRET) is the whole JSON text, for a reader that picks its keys at start."""

    secret: str
    key: str


@dataclass(frozen=True)
class TaskSpec:
    service: str
    image: str
    port: int
    mount: str
    environment: dict[str, str]
    secrets: dict[str, SecretRef]
    command: list[str] = field(default_factory=list)
    health_check_command: str | None = None
    health_check_path: str | None = None
    path_pattern: str | None = None
    writable: list[str] = field(
        default_factory=list
    )  # written outside the mount: tmpfs (the root is read-only)
    templated: frozenset[str] = frozenset()  # variables whose value is a CloudFormation Fn::Sub template


def embed(value: str, root: Path) -> str:
    """The value itself, the text of the file it names, or the catalog's downsampling."""
    if value.strip() == DOWNSAMPLING:
        return downsampled(load_catalog())
    if value.strip() == ALERT_RULES:
        return alert_rules.generate()[alert_rules.RULES_FILE]
    match = _FILE_TEXT.match(value.strip())
    if not match:
        return value
    path = root / match["path"].strip()
    try:
        text = path.read_text()
    except OSError as error:
        raise ServiceFilesError(f"{value}: cannot read {path}: {error.strerror}") from error
    if match["minified"]:
        return json.dumps(json.loads(text), separators=(",", ":"), ensure_ascii=False)
    return text


def dashboard_files() -> dict[str, bytes]:
    """The dashboards Grafana provisions (ingest health and one per kind of the catalog in use), by file name:
    the deploy tool stores them in S3 (stacks/grafana.py). For device-kinds/ they are the committed
    grafana/dashboards/*.json."""
    return {name: text.encode() for name, text in sorted(build.generate().items())}


def load(service: str, root: Path = PROJECT_ROOT) -> TaskSpec:
    path = root / "services" / service / "task.yaml"
    try:
        raw: dict[str, Any] = load_yaml(path.read_text())
    except OSError as error:
        raise ServiceFilesError(f"{path} is needed to build the {service} task: {error.strerror}") from error
    except yaml.YAMLError as error:
        raise ServiceFilesError(f"{path} is not valid YAML: {error}") from error
    try:
        given = {str(k): str(v) for k, v in (raw.get("environment") or {}).items()}
        environment = {name: embed(value, root) for name, value in given.items()}
        templated = frozenset(
            name for name, value in given.items() if environment[name] == value and "${" in value
        )
        secrets = {}
        for name, ref in (raw.get("secrets") or {}).items():
            secret, _, key = str(ref).rpartition(":")
            if not secret or not key:
                raise ServiceFilesError(
                    f"{path}: secret {name} must be '<secret name>:<JSON key>', not {ref!r}"
                )
            secrets[str(name)] = SecretRef(secret, key)
        health = raw.get("health_check") or {}
        try:
            image = images.check(str(raw["image"]), str(path))
        except images.ImageError as error:
            raise ServiceFilesError(str(error)) from None
        return TaskSpec(
            service=service,
            image=image,
            port=int(raw["port"]),
            mount=str(raw["mount"]),
            environment=environment,
            secrets=secrets,
            command=[embed(str(part), root) for part in raw.get("command") or []],
            health_check_command=health.get("command") if isinstance(health, dict) else None,
            health_check_path=raw.get("health_check_path"),
            path_pattern=raw.get("path_pattern"),
            writable=[str(path) for path in raw.get("writable") or []],
            templated=templated,
        )
    except KeyError as error:
        raise ServiceFilesError(f"{path} lacks the setting {error.args[0]}") from error
