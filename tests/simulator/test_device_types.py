"""Device types as data: the catalog's kinds, every generator, and clear errors for bad files."""

from __future__ import annotations

import itertools
import random
import uuid
from datetime import datetime
from pathlib import Path

import pytest

from simulator.device_types import DeviceTypeError, load_device_type, resolve_type
from simulator.fleet import Device


def device(type_name: str, index: int = 0, seed: str = "s") -> Device:
    return Device(resolve_type(type_name), index, random.Random(seed), lambda: 1_790_000_000.0, None)


def test_pressure_readings_have_the_reference_shape() -> None:
    one = device("pressure")
    readings = [one.reading() for _ in range(200)]
    for reading in readings:
        assert set(reading) == {"pressure", "viscosity", "sensordatetime", "deviceid", "clientid", "metakey"}
        assert 500 <= reading["pressure"] <= 1500 and isinstance(reading["pressure"], int)
        assert 25 <= reading["viscosity"] <= 100
        assert datetime.fromisoformat(reading["sensordatetime"]).tzinfo is not None
        assert reading["sensordatetime"].endswith("Z") and len(reading["sensordatetime"]) == 24
        uuid.UUID(reading["clientid"])
    # Static per device, and a random walk: small steps, not white noise.
    assert len({(r["deviceid"], r["clientid"], r["metakey"]) for r in readings}) == 1
    assert max(abs(a["pressure"] - b["pressure"]) for a, b in itertools.pairwise(readings)) <= 15


def test_shelf_counts_never_go_negative_and_move_by_small_steps() -> None:
    lowest = []
    for index in range(5):
        shelf = device("shelf", index, seed=f"low{index}")
        counts = [shelf.reading()["count"] for _ in range(2000)]
        assert min(counts) >= 0 and max(counts) <= 60
        assert max(abs(a - b) for a, b in itertools.pairwise(counts)) <= 3
        lowest.append(min(counts))
    assert 0 in lowest  # the walks do reach the floor: the bound is exercised, not just never approached


def test_each_shelf_holds_its_own_product_and_metadata_item() -> None:
    shelves = [device("shelf", i, seed=f"s{i}").reading() for i in range(5)]
    assert len({r["product_id"] for r in shelves}) == 5
    assert [r["metakey"] for r in shelves] == ["shelf-01", "shelf-02", "shelf-03", "shelf-04", "shelf-05"]


def test_a_fixed_seed_gives_the_same_readings() -> None:
    first = [device("pressure", seed="7").reading() for _ in range(3)]
    again = [device("pressure", seed="7").reading() for _ in range(3)]
    other = [device("pressure", seed="8").reading() for _ in range(3)]
    assert first == again and first != other


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "name: t\ntopic: /t\nattributes:\n  p: {type: int_range, min: 5, max: 1}\n",
            r"attribute 'p'.*min 5 is greater",
        ),
        (
            "name: t\ntopic: /t\nattributes:\n  p: {type: gaussian}\n",
            r"attribute 'p'.*does not match any of the expected tags",
        ),
        (
            "name: t\ntopic: /t\nattributes:\n  p: {type: choice, values: []}\n",
            r"attribute 'p', field 'values'",
        ),
        ("name: t\nattributes:\n  p: {type: constant, value: 1}\n", r"'topic': Field required"),
        ("name: t\ntopic: /t\nattributes: [oops\n", r"not valid YAML"),
    ],
)
def test_a_bad_type_file_names_the_file_and_the_attribute(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(DeviceTypeError, match=rf"{path}: .*{message}|{path}: {message}"):
        load_device_type(path)


def test_an_unknown_type_lists_the_catalog_s_kinds() -> None:
    with pytest.raises(DeviceTypeError, match=r"the catalog \(.*device-kinds\) simulates: pressure, shelf"):
        resolve_type("thermostat")


def test_the_catalog_s_kinds_are_the_device_types_and_a_topic_can_be_replaced(tmp_path: Path) -> None:
    pressure = resolve_type("pressure")
    assert (pressure.name, pressure.topic) == ("pressure", "/pressure/data")
    assert resolve_type("pressure", "/plant1/pressure").topic == "/plant1/pressure"
    path = tmp_path / "pump.yaml"
    path.write_text("name: pump\ntopic: /pump\nattributes:\n  rpm: {type: constant, value: 1}\n")
    assert resolve_type(str(path)).topic == "/pump"  # an ad-hoc type file still works
