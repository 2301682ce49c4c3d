"""The metadata loader against moto's DynamoDB: the sample files load; a bad file loads nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest

from ingest_tools.load_metadata import main
from tests.support.function_env import ACME, PROJECT_ROOT, create_table

TABLE = "loader-DeviceMetaData"
SAMPLES = PROJECT_ROOT / "sample-data"


def scan(table: str) -> dict[str, dict[str, Any]]:
    items = boto3.resource("dynamodb").Table(table).scan()["Items"]
    return {str(item["metakey"]): item for item in items}


@pytest.fixture
def table(aws_env: dict[str, str], moto_reset: None) -> str:
    create_table(TABLE)
    return TABLE


def test_the_sample_files_load_the_same_items(table: str) -> None:
    assert main([str(SAMPLES / "device-metadata.json"), "--table", table]) == 0
    from_json = scan(table)
    boto3.client("dynamodb").delete_table(TableName=table)
    create_table(table)
    assert main([str(SAMPLES / "device-metadata.csv"), "--table", table]) == 0
    assert scan(table) == from_json
    pressure = [f"{n}" for n in range(123456789, 123456809)]
    webhook = [*(f"button-0{i}" for i in range(1, 6)), "lwm2m-shelf-01", "lwm2m-shelf-02"]
    things = [*(f"pressure-{n:04d}" for n in range(20)), *(f"shelf-{n:04d}" for n in range(5))]
    assert sorted(from_json) == sorted([*pressure, *(f"shelf-0{i}" for i in range(1, 6)), *webhook, *things])
    # A thing's item is the item its simulated payload names (device n takes the n-th metakey).
    assert {**from_json["pressure-0003"], "metakey": "123456792"} == from_json["123456792"]
    assert from_json["123456789"] == {"metakey": "123456789", **ACME}


BAD_JSON = """[
  {"metakey": "ok-1", "manufacturer": "Fine Ltd."},
  {"manufacturer": "no key"},
  {"metakey": "ok-1", "family": "again"},
  {"metakey": "nested", "parts": {"a": 1}},
  {"metakey": "reserved", "time": "now"},
  {"metakey": 123456789},
  {"metakey": "newline", "family": "a\\nb"},
  "not an object"
]
"""
BAD_CSV = """metakey,manufacturer,family
ok-1,Fine Ltd.,sensors
,No Key Ltd.,sensors
ok-1,Again,sensors
extra,Too,Many,Cells
"""


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        (
            "bad.json",
            BAD_JSON,
            ["bad.json:3: metakey is missing", "bad.json:4: metakey 'ok-1' is already on line 2",
             "bad.json:5: parts is a dict", "bad.json:6: the attribute name 'time' is reserved",
             "bad.json:7: metakey is missing or not a string", "bad.json:8: family contains a control character",
             "bad.json:9: an item must be an object"],
        ),
        (
            "bad.csv",
            BAD_CSV,
            ["bad.csv:3: metakey is missing", "bad.csv:4: metakey 'ok-1' is already on line 2",
             "bad.csv:5: more cells than the header"],
        ),
    ],
)  # fmt: skip
def test_a_bad_file_names_each_bad_line_and_loads_nothing(
    table: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, text: str, expected: list[str]
) -> None:
    path = tmp_path / name
    path.write_text(text)
    assert main([str(path), "--table", table]) == 1
    out = capsys.readouterr().out.replace(str(tmp_path) + "/", "")
    for line in expected:
        assert line in out
    assert "nothing loaded" in out
    assert scan(table) == {}


@pytest.mark.parametrize(
    ("text", "words"),
    [("{not json", "not valid JSON"), (json.dumps({"metakey": "x"}), "expected a JSON list")],
)
def test_a_file_that_is_not_a_list_of_items_is_refused(
    table: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, words: str
) -> None:
    path = tmp_path / "items.json"
    path.write_text(text)
    assert main([str(path), "--table", table]) == 1
    assert words in capsys.readouterr().out
    assert scan(table) == {}
