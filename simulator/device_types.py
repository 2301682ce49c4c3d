"""Device types as data: a YAML or JSON file naming a topic and a generator per attribute."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from simulator.generators import GENERATOR_NAMES, GeneratorSpec

BUILT_IN = Path(__file__).parent / "types"


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
        problems = "; ".join(f"{_where(e['loc'])}: {e['msg']}" for e in error.errors())
        raise DeviceTypeError(f"{source}: {problems}") from error


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


def resolve_type(name_or_path: str) -> DeviceType:
    """A built-in type by name (pressure, shelf), or a type file by path."""
    built_in = BUILT_IN / f"{name_or_path}.yaml"
    if built_in.exists():
        return load_device_type(built_in)
    path = Path(name_or_path)
    if path.exists():
        return load_device_type(path)
    names = ", ".join(sorted(p.stem for p in BUILT_IN.glob("*.yaml")))
    raise DeviceTypeError(f"{name_or_path}: no such device type; built in: {names}; or give a YAML/JSON file")
