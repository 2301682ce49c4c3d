"""The catalog's lwm2m sections and the mapping the webhook function reads from them: pure, no service."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from webhook_to_influxdb.mapping import Decode, parse_mapping

from catalog import CatalogError, load_catalog, parse_kind
from catalog.loader import DEFAULT_FOLDER
from catalog.lwm2m import resource_paths, webhook_mapping, webhook_mapping_json
from tests.support.kind_files import MINIMAL, write_kind

COUNTER = {
    **MINIMAL,
    "name": "door",
    "topic": "/doors/data",
    "measurement": "door",
    "sensor_id": ["endpoint"],
    "fields": {
        "opened": {"attribute": "opened", "type": "non_negative_integer", "label": "Opened", "unit": "short"}
    },
    "tags": {"room": {"attribute": "room"}},
}


def with_lwm2m(resources: dict[str, Any]) -> dict[str, Any]:
    return {**COUNTER, "lwm2m": {"resources": resources}}


def test_the_shipped_button_and_shelf_map_their_resources() -> None:
    catalog = load_catalog(DEFAULT_FOLDER)
    button = catalog.kind("button")
    assert button.sensor_id == ("endpoint",) and button.lwm2m is not None
    presses = button.lwm2m.resources["/3200/0/5501"]
    assert (presses.field, presses.decode.value, presses.metric) == ("presses", "integer", "ButtonPresses")
    assert webhook_mapping(catalog) == {
        "/3200/0/5501": {
            "kind": "button", "topic": "/button/data", "attribute": "presses", "decode": "integer",
            "metric": "ButtonPresses",
        },
        "/26241/0/1": {"kind": "shelf", "topic": "/shelf/data", "attribute": "product_id", "decode": "text"},
        "/26241/0/2": {"kind": "shelf", "topic": "/shelf/data", "attribute": "count", "decode": "integer"},
    }  # fmt: skip
    assert resource_paths(catalog) == ["/26241/0/1", "/26241/0/2", "/3200/0/5501"]


def test_the_function_reads_the_mapping_the_catalog_writes() -> None:
    parsed = parse_mapping(webhook_mapping_json(load_catalog(DEFAULT_FOLDER)))
    assert (
        parsed["/3200/0/5501"].decode is Decode.INTEGER and parsed["/3200/0/5501"].metric == "ButtonPresses"
    )
    assert parsed["/26241/0/1"].attribute == "product_id" and parsed["/26241/0/1"].metric is None
    assert json.loads(webhook_mapping_json(load_catalog(DEFAULT_FOLDER))).keys() == parsed.keys()


def test_every_field_and_tag_of_the_kind_needs_a_resource() -> None:
    kind = parse_kind(
        with_lwm2m(
            {
                "/3342/0/5501": {"field": "opened", "decode": "integer"},
                "/3342/0/5750": {"tag": "room", "decode": "text"},
            }
        ),
        "door.yaml",
    )
    assert kind.lwm2m is not None and len(kind.lwm2m.resources) == 2
    with pytest.raises(CatalogError, match="no resource gives room"):
        parse_kind(with_lwm2m({"/3342/0/5501": {"field": "opened", "decode": "integer"}}), "door.yaml")


@pytest.mark.parametrize(
    ("resources", "message"),
    [
        ({"3342/0/5501": {"field": "opened", "decode": "integer"}}, "should match pattern"),
        (
            {"/3342/0/5501": {"field": "opened", "tag": "room", "decode": "integer"}},
            "exactly one of 'field' or 'tag'",
        ),
        ({"/3342/0/5501": {"decode": "integer"}}, "exactly one of 'field' or 'tag'"),
        ({"/3342/0/5501": {"field": "opened", "decode": "text"}}, "decode it as integer or float, not text"),
        (
            {"/3342/0/5501": {"field": "opened", "decode": "float"}},
            "non_negative_integer: decode it as integer",
        ),
        (
            {"/3342/0/5501": {"field": "closed", "decode": "integer"}},
            "'closed' is not one of the kind's fields",
        ),
        ({"/3342/0/5501": {"tag": "floor", "decode": "text"}}, "'floor' is not one of the kind's tags"),
        ({"/3342/0/5501": {"field": "opened", "decode": "binary"}}, "decode"),
        ({"/3342/0/5501": {"field": "opened", "decode": "integer", "metric": "no spaces"}}, "metric"),
        ({"/3342/0/5501": {"field": "opened", "decode": "integer", "unit": "x"}}, "unit: Extra inputs"),
        (
            {
                "/3342/0/1": {"field": "opened", "decode": "integer"},
                "/3342/0/2": {"field": "opened", "decode": "integer"},
            },
            "'opened' already comes from /3342/0/1",
        ),
    ],
)
def test_a_wrong_resource_is_refused_naming_it(resources: dict[str, Any], message: str) -> None:
    with pytest.raises(CatalogError, match=message):
        parse_kind(with_lwm2m(resources), "door.yaml")


def test_two_kinds_may_not_map_one_resource(tmp_path: Path) -> None:
    first = with_lwm2m(
        {
            "/3342/0/5501": {"field": "opened", "decode": "integer"},
            "/3342/0/5750": {"tag": "room", "decode": "text"},
        }
    )
    second = {**first, "name": "gate", "topic": "/gates/data", "measurement": "gate"}
    write_kind(tmp_path, first)
    write_kind(tmp_path, second)
    with pytest.raises(CatalogError, match="both map the LwM2M resource /3342/0/5501"):
        load_catalog(tmp_path)
