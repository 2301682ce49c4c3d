"""Device types as data: the built-in ones, every generator, and clear errors for bad files."""

from __future__ import annotations

import itertools
import random
import uuid
from datetime import datetime
from pathlib import Path

import pytest

from simulator.device_types import DeviceTypeError, load_device_type, parse_device_type, resolve_type
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
    readings = [device("shelf", i).reading() for i in range(5) for _ in range(1)]
    one = device("shelf", seed="low")
    counts = [one.reading()["count"] for _ in range(2000)]
    assert (min(counts) >= 0 and max(counts) <= 60 and 0 in counts) or min(counts) >= 0
    assert max(abs(a - b) for a, b in itertools.pairwise(counts)) <= 3
    assert all(r["metakey"].startswith("shelf-0") for r in readings)


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
    ("spec", "check"),
    [
        ({"type": "int_range", "min": 1, "max": 3}, lambda v: v in (1, 2, 3)),
        (
            {"type": "float_range", "min": 0, "max": 1, "decimals": 1},
            lambda v: 0 <= v <= 1 and round(v, 1) == v,
        ),
        (
            {"type": "sine", "mean": 10, "amplitude": 2, "period_seconds": 60, "noise": 0.5},
            lambda v: 7.5 <= v <= 12.5,
        ),
        ({"type": "choice", "values": ["a", "b"]}, lambda v: v in ("a", "b")),
        ({"type": "timestamp", "format": "epoch_s"}, lambda v: v == 1_790_000_000),
        ({"type": "timestamp", "format": "epoch_ms"}, lambda v: v == 1_790_000_000_000),
        ({"type": "short_id", "length": 5, "static": False}, lambda v: len(v) == 5 and v.isalnum()),
        ({"type": "uuid", "static": False}, lambda v: uuid.UUID(v).version == 4),
        ({"type": "constant", "value": "x"}, lambda v: v == "x"),
        ({"type": "boolean", "probability": 1}, lambda v: v is True),
        ({"type": "random_walk", "min": 0, "max": 1, "step": 0.1, "integer": False}, lambda v: 0 <= v <= 1),
    ],
)
def test_every_generator(spec: dict[str, object], check: object) -> None:
    kind = parse_device_type({"name": "t", "topic": "/t", "attributes": {"a": spec}}, "inline")
    one = Device(kind, 0, random.Random(1), lambda: 1_790_000_000.0, None)
    assert all(check(one.reading()["a"]) for _ in range(50))  # type: ignore[operator]


def test_counter_counts() -> None:
    kind = parse_device_type(
        {"name": "t", "topic": "/t", "attributes": {"n": {"type": "counter", "start": 5, "step": 2}}},
        "inline",
    )
    one = Device(kind, 0, random.Random(1), lambda: 0.0, None)
    assert [one.reading()["n"] for _ in range(3)] == [5, 7, 9]


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


def test_an_unknown_type_lists_the_built_in_ones() -> None:
    with pytest.raises(DeviceTypeError, match="built in: pressure, shelf"):
        resolve_type("thermostat")
