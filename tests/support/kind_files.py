"""A kind file written to a folder, and a copy of the catalog to change, for the catalog's tests."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from catalog import load_catalog
from catalog.export import function_kinds
from catalog.loader import DEFAULT_FOLDER, FOLDER_VARIABLE

MINIMAL: dict[str, Any] = {
    "name": "temperature",
    "description": "Air temperature and humidity of a room.",
    "topic": "/rooms/temperature",
    "measurement": "room_climate",
    "sensor_id": ["deviceid", "clientid"],
    "fields": {"temperature": {"attribute": "temp", "label": "Temperature", "unit": "celsius"}},
}


def catalog_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of device-kinds/ (tmp_path/kinds), the catalog in use for the rest of the test: it may add or
    remove kinds there."""
    folder = tmp_path / "kinds"
    shutil.copytree(DEFAULT_FOLDER, folder)
    monkeypatch.setenv(FOLDER_VARIABLE, str(folder))
    return folder


KIND_FILES = Path(__file__).parent / "kinds"  # whole kind files some tests add to a catalog copy


def add_kind_file(folder: Path, name: str) -> Path:
    """tests/support/kinds/<name>.yaml, copied into a catalog folder."""
    return Path(shutil.copy(KIND_FILES / f"{name}.yaml", folder / f"{name}.yaml"))


def write_kind(folder: Path, data: dict[str, Any]) -> Path:
    path = folder / f"{data['name']}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


TEMPERATURE = """\
name: temperature
description: Air temperature and humidity of a room.
topic: /rooms/climate
measurement: room_climate
sensor_id: [deviceid, clientid]
fields:
  temperature: {attribute: temp, label: Temperature, unit: celsius, range: {min: 10, max: 35},
                alert: {above: 30, for_minutes: 10}}
  humidity: {attribute: rh, label: Humidity, unit: humidity, range: {min: 0, max: 100}}
tags:
  room: {attribute: room}
silent_after_minutes: 15
downsampling: {fields: [temperature, humidity], aggregates: [mean, max]}
simulator:
  attributes:
    temp: {type: sine, mean: 21, amplitude: 2, period_seconds: 600, noise: 0.2}
    rh: {type: float_range, min: 30, max: 60, decimals: 1}
    room: {type: choice, by_device: true, values: [kitchen, hall, lab]}
    sensordatetime: {type: timestamp, format: iso_ms}
    deviceid: {type: short_id, length: 7, static: true}
    clientid: {type: uuid, static: true}
    metakey: {type: choice, static: true, values: ["123456789", "123456790"]}
dashboard:
  uid: room-climate
  title: Room climate
  description: Temperature and humidity per sensor.
  filters: [manufacturer, sensor]
  panels:
    - {field: temperature, show: mean_per_sensor, width: 16}
    - {field: temperature, show: current_per_sensor, width: 8, thresholds: [{color: green}, {from: 30, color: red}]}
    - {field: humidity, show: mean_per_sensor, width: 24}
"""


def packed_with_sinks(folder: Path, sinks: dict[str, list[str]]) -> Path:
    """The function's packed kinds of the repository's catalog, with these kinds' sinks changed (a kind that
    writes to SQL, or not, without changing device-kinds/)."""
    packed = json.loads(function_kinds(load_catalog()))
    for kind in packed["kinds"]:
        if kind["name"] in sinks:
            kind["sinks"] = sinks[kind["name"]]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "device_kinds.json"
    path.write_text(json.dumps(packed))
    return path
