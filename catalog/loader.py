"""Reads the device kinds folder: one YAML file per kind, validated, with errors that name the file and the key."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from catalog.generators import GENERATOR_NAMES
from catalog.schema import DeviceKind

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_FOLDER = PROJECT_ROOT / "device-kinds"
# Points every tool (synth, deploy, sandbox, simulator, dashboards) at another folder of kinds.
FOLDER_VARIABLE = "DEVICE_KINDS_DIR"


class CatalogError(ValueError):
    """A kind file is unreadable or wrong, or two kinds clash; the message says which file and which key."""


@dataclass(frozen=True)
class Catalog:
    folder: Path
    kinds: tuple[DeviceKind, ...]  # sorted by name

    def __iter__(self) -> Iterator[DeviceKind]:
        return iter(self.kinds)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(kind.name for kind in self.kinds)

    def kind(self, name: str) -> DeviceKind:
        for kind in self.kinds:
            if kind.name == name:
                return kind
        raise CatalogError(f"no device kind {name!r} in {self.folder}; there are: {', '.join(self.names)}")


def default_folder() -> Path:
    configured = os.environ.get(FOLDER_VARIABLE)
    return Path(configured) if configured else DEFAULT_FOLDER


def _location(loc: tuple[int | str, ...]) -> str:
    # pydantic names the member of a tagged union (the generator's type) in the path: it says nothing to the user.
    parts = [str(p) for p in loc if p not in GENERATOR_NAMES]
    return ".".join(parts) if parts else "the file"


def problems(error: ValidationError, where: Callable[[tuple[int | str, ...]], str]) -> str:
    """pydantic's errors as one line: "<where the key is>: <what is wrong>; ...", for messages naming the file."""
    return "; ".join(f"{where(e['loc'])}: {e['msg']}" for e in error.errors())


def parse_kind(data: Any, source: str) -> DeviceKind:
    """A kind from already parsed YAML; `source` names it in errors (normally the file's path)."""
    if not isinstance(data, dict):
        raise CatalogError(
            f"{source}: expected a mapping of keys (name, topic, fields, ...), not {type(data).__name__}"
        )
    try:
        return DeviceKind.model_validate(data)
    except ValidationError as error:
        raise CatalogError(f"{source}: {problems(error, _location)}") from None


# libyaml's safe loader where PyYAML was built with it (its wheels are): the same documents, about ten times faster.
_SAFE_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_yaml(text: str) -> Any:
    """`yaml.safe_load`, through libyaml when it is there; raises yaml.YAMLError."""
    return yaml.load(text, Loader=_SAFE_LOADER)


@functools.lru_cache(maxsize=256)
def _kind_of_text(text: str, source: str) -> DeviceKind:
    """A kind file's text parsed and checked, once per text: the catalog is loaded again by every stack that reads
    it (dozens of times a synth). A kind is frozen and nothing changes one: every load of the text shares it."""
    try:
        data = load_yaml(text)
    except yaml.YAMLError as error:
        raise CatalogError(f"{source}: not valid YAML: {error}") from None
    return parse_kind(data, source)


def load_kind(path: Path) -> DeviceKind:
    try:
        text = path.read_text()
    except OSError as error:
        raise CatalogError(f"{path}: cannot read it: {error.strerror}") from None
    kind = _kind_of_text(text, str(path))
    if kind.name != path.stem:
        raise CatalogError(f"{path}: name: {kind.name!r} must match the file's name ({path.stem!r})")
    return kind


def _check_unique(kinds: list[DeviceKind], folder: Path) -> None:
    for attribute in ("topic", "measurement", "topic_parameter"):
        seen: dict[str, str] = {}
        for kind in kinds:
            value = getattr(kind, attribute)
            if value in seen:
                raise CatalogError(
                    f"{folder}: kinds {seen[value]!r} and {kind.name!r} both use the {attribute.replace('_', ' ')} "
                    f"{value!r}; each kind needs its own"
                )
            seen[value] = kind.name
    uids: dict[str, str] = {}
    for kind in kinds:
        if kind.dashboard is not None:
            if kind.dashboard.uid in uids:
                raise CatalogError(
                    f"{folder}: kinds {uids[kind.dashboard.uid]!r} and {kind.name!r} both use the dashboard uid "
                    f"{kind.dashboard.uid!r}"
                )
            uids[kind.dashboard.uid] = kind.name
    paths: dict[str, str] = {}
    for kind in kinds:
        for path in kind.lwm2m.resources if kind.lwm2m is not None else ():
            if path in paths:
                raise CatalogError(
                    f"{folder}: kinds {paths[path]!r} and {kind.name!r} both map the LwM2M resource {path}"
                )
            paths[path] = kind.name


def load_catalog(folder: Path | None = None) -> Catalog:
    """Every `*.yaml` of the folder (default: device-kinds/, or $DEVICE_KINDS_DIR), checked together."""
    folder = folder if folder is not None else default_folder()
    if not folder.is_dir():
        raise CatalogError(f"{folder}: no such folder of device kinds (set {FOLDER_VARIABLE} or create it)")
    paths = sorted(folder.glob("*.yaml"))
    if not paths:
        raise CatalogError(f"{folder}: no device kind files (*.yaml) in it")
    kinds = [load_kind(path) for path in paths]
    _check_unique(kinds, folder)
    return Catalog(folder=folder, kinds=tuple(kinds))
