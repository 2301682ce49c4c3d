"""Device types as data: the catalog's kinds (device-kinds/, their `simulator` section), or for an ad-hoc fleet a
YAML or JSON file naming a topic and a generator per attribute."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from catalog import Catalog, CatalogError, load_catalog
from catalog.generators import GENERATOR_NAMES, GeneratorSpec
from catalog.loader import problems


class DeviceTypeError(ValueError):
    """A device type file is unreadable or wrong; the message names the file and the attribute."""


class DeviceType(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    topic: str = Field(min_length=1)
    attributes: dict[str, GeneratorSpec] = Field(min_length=1)


def _where(location: tuple[int | str, ...]) -> str:
    parts = [str(p) for p in location]
    if len(parts) >= 2 and parts[0] == "attributes":
        rest = [p for p in parts[2:] if p not in GENERATOR_NAMES]  # pydantic names the union member
        return f"attribute '{parts[1]}'" + (f", field '{'.'.join(rest)}'" if rest else "")
    return f"'{'.'.join(parts)}'" if parts else "the file"


def parse_device_type(data: Any, source: str) -> DeviceType:
    try:
        return DeviceType.model_validate(data)
    except ValidationError as error:
        raise DeviceTypeError(f"{source}: {problems(error, _where)}") from error


def load_device_type(path: Path) -> DeviceType:
    try:
        text = path.read_text()
    except OSError as error:
        raise DeviceTypeError(f"{path}: cannot read it: {error.strerror}") from error
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as error:
        raise DeviceTypeError(
            f"{path}: not valid {'JSON' if path.suffix == '.json' else 'YAML'}: {error}"
        ) from error
    return parse_device_type(data, str(path))


def from_catalog(catalog: Catalog, name: str) -> DeviceType | None:
    """The simulated device of a kind of the catalog; None if there is no such kind."""
    if name not in catalog.names:
        return None
    kind = catalog.kind(name)
    if kind.simulator is None:
        raise DeviceTypeError(
            f"{catalog.folder / name}.yaml: the kind has no 'simulator' section to simulate it"
        )
    return DeviceType(name=kind.name, topic=kind.topic, attributes=kind.simulator.attributes)


def resolve_type(name_or_path: str, topic: str | None = None, catalog: Catalog | None = None) -> DeviceType:
    """A kind of the catalog by name (pressure, shelf, ...), or a type file by path; `topic` replaces its topic
    (for a deployment whose stack gives the kind another one)."""
    try:
        catalog = catalog or load_catalog()
    except CatalogError as error:
        raise DeviceTypeError(str(error)) from None
    device_type = from_catalog(catalog, name_or_path)
    if device_type is None:
        path = Path(name_or_path)
        if not path.exists():
            raise DeviceTypeError(
                f"{name_or_path}: no such device type; the catalog ({catalog.folder}) simulates: "
                f"{', '.join(k.name for k in catalog if k.simulator is not None)}; or give a YAML/JSON file"
            )
        device_type = load_device_type(path)
    return device_type if topic is None else device_type.model_copy(update={"topic": topic})
