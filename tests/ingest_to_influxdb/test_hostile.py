"""A table of invalid and hostile readings and metadata values, through both event shapes.

Each case is either rejected with its reason (on the rejected-readings queue, nothing raised) or written
exactly: read back from the real influxd with every tag and field as sent, and nothing else in the window.
"""

from __future__ import annotations

import json
import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import boto3

from local_aws.lambda_.events import sqs_batch_event
from tests.support.function_env import ACME, SHELF_01, FunctionEnv

# Items whose attribute names and values try to break the line or overwrite the point.
HOSTILE_ITEMS: dict[str, dict[str, Any]] = {
    "hostile-meta": {
        "manufacturer": 'Evil, Inc. = "x" \\ y',
        "tag with space": "v w",
        "uni": "ö✓ 中文",
        "rating": Decimal("42"),
        "certified": True,
        "family": "line\nbreak",  # cannot be a tag: dropped
        "time": "t",
        "pressureValue": "1",
        "viscosity": "2",
        "sensorID": "spoofed",
        "_field": "x",
        "_measurement": "other",
        "trailing": "bs\\",
        "parts": ["a", "b"],
        "nested": {"a": "b"},
        "empty": "",
        "long": "x" * 1000,
    },
    "hostile-shelf-meta": {"product_id": "spoofed", "count": "999", "manufacturer": "Shelfware Inc."},
}
HOSTILE_TAGS = {
    "hostile-meta": {
        "manufacturer": 'Evil, Inc. = "x" \\ y',
        "tag with space": "v w",
        "uni": "ö✓ 中文",
        "rating": "42",
        "certified": "true",
    },
    "hostile-shelf-meta": {"manufacturer": "Shelfware Inc."},
}


@dataclass
class Case:
    name: str
    payload: Any  # a dict (JSON), or raw text
    rejected: str | None = None  # the reason code, or None when it must be written
    measurement: str = "pressure"
    sensor: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    fields: dict[str, float] = field(default_factory=dict)
    seconds: int = 0


def build_cases(prefix: str, base: datetime) -> list[Case]:
    cases: list[Case] = []

    def at(i: int) -> datetime:
        return base + timedelta(seconds=i)

    def iso(moment: datetime) -> str:
        return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")

    def good(name: str, device: str = "", tags: dict[str, str] | None = None, **changes: Any) -> None:
        i = len(cases)
        deviceid = device or f"{prefix}{i}"
        reading = {
            "pressure": 812,
            "viscosity": 55,
            "sensordatetime": iso(at(i)),
            "deviceid": deviceid,
            "clientid": "c",
            "metakey": "123456789",
        }
        reading.update(changes)
        reading = {k: v for k, v in reading.items() if v is not None}
        expected_fields = {
            "pressureValue": float(str(reading["pressure"]).strip()),
            "viscosity": float(str(reading["viscosity"]).strip()),
        }
        cases.append(
            Case(name, reading, None, "pressure", f"{deviceid}-c", dict(ACME if tags is None else tags),
                 expected_fields, i)
        )  # fmt: skip

    def shelf(name: str, product: str, count: Any, metakey: str, tags: dict[str, str]) -> None:
        i = len(cases)
        reading = {
            "count": count,
            "product_id": product,
            "sensordatetime": iso(at(i)),
            "deviceid": f"{prefix}{i}",
            "clientid": "c",
            "metakey": metakey,
            "topic": "/shelf/data",
        }
        cases.append(
            Case(name, reading, None, "product_count", f"{prefix}{i}-c", {**tags, "product_id": product},
                 {"count": float(count)}, i)
        )  # fmt: skip

    def bad(name: str, code: str, payload: Any = None, **changes: Any) -> None:
        i = len(cases)
        if payload is None:
            payload = {
                "pressure": 812,
                "viscosity": 55,
                "sensordatetime": iso(at(i)),
                "deviceid": f"{prefix}{i}",
                "clientid": "c",
            }
            payload.update(changes)
            payload = {k: v for k, v in payload.items() if v is not None}
        cases.append(Case(name, payload, code, seconds=i))

    n = len
    # Written, with their awkward characters intact.
    good("spaces", device=f"{prefix}{n(cases)} a b")
    good("commas", device=f"{prefix}{n(cases)},a,b")
    good("equals", device=f"{prefix}{n(cases)}=a=b")
    good("quotes", device=f'{prefix}{n(cases)} say "hi"')
    good("backslash inside", device=f"{prefix}{n(cases)}back\\slash")
    good("backslash before space", device=f"{prefix}{n(cases)}bs\\ sp")
    good("backslash before comma", device=f"{prefix}{n(cases)}bs\\,comma")
    good("unicode", device=f"{prefix}{n(cases)}ünïcødé ✓ 中文")
    good("emoji", device=f"{prefix}{n(cases)}📟")
    good("line protocol in an id", device=f"{prefix}{n(cases)} pressureValue=1 0")
    good("longest id", device=(f"{prefix}{n(cases)}" + "x" * 128)[:128])
    good("numeric strings", pressure="812", viscosity=" 55.5 ")
    good("exponent", pressure="8.12e2")
    good("negative", pressure=-5)
    good("huge", pressure=1e300)
    good("unknown fields ignored", extra={"nested": [1]}, time="now", sensorID="spoofed", measurement="x")
    good("no metakey", metakey=None, tags={})
    good("unknown metakey", metakey="no-such-device", tags={})
    good("numeric metakey", metakey=123456789)
    good("epoch seconds", sensordatetime=int(at(n(cases)).timestamp()))
    good("epoch milliseconds", sensordatetime=int(at(n(cases)).timestamp() * 1000))
    good("ISO without zone", sensordatetime=at(n(cases)).replace(tzinfo=None).isoformat())
    good(
        "ISO with an offset",
        sensordatetime=at(n(cases)).astimezone(UTC).isoformat().replace("+00:00", "+00:00"),
    )
    good("explicit pressure topic", topic="/pressure/data")
    good("hostile metadata values", metakey="hostile-meta", tags=HOSTILE_TAGS["hostile-meta"])
    shelf("shelf product with separators", "sku 1,2=3", 7, "shelf-01", SHELF_01)
    shelf("shelf count as text", "sku-2", "7", "shelf-01", SHELF_01)
    shelf("shelf count of 2**53, the largest exact", "sku-4", 2**53, "shelf-01", SHELF_01)
    shelf(
        "shelf metadata naming the reading's tag",
        "sku-3",
        0,
        "hostile-shelf-meta",
        HOSTILE_TAGS["hostile-shelf-meta"],
    )
    # Rejected, each with its reason.
    bad("not JSON", "not_json", payload="{{not json")
    bad(
        "JSON NaN literal",
        "bad_field",
        payload='{"pressure": NaN, "viscosity": 1, "deviceid": "d", "clientid": "c", "sensordatetime": 1795000000}',
    )
    bad("nesting bomb", "too_deep", payload="[" * 100_000)
    deep = '{"pressure": 1, "viscosity": 1, "deviceid": "d", "clientid": "c", "sensordatetime": 1795000000, "x": '
    bad("valid JSON nested 2,000 deep", "too_deep", payload=deep + "[" * 2000 + "]" * 2000 + "}")
    bad("valid JSON nested 40 deep", "too_deep", payload=deep + "[" * 40 + "]" * 40 + "}")
    bad("lone surrogate in deviceid", "bad_identifier", deviceid=f"{prefix}x\ud800")
    bad("lone surrogate in clientid", "bad_identifier", clientid="c\udfff")
    bad("lone surrogate in metakey", "bad_metakey", metakey="m\udc00")
    bad("array", "not_object", payload="[1, 2, 3]")
    bad("string", "not_object", payload='"a reading"')
    bad("null", "not_object", payload="null")
    bad("too large", "too_large", payload=json.dumps({"deviceid": "x", "padding": "p" * 200_000}))
    bad("NaN as text", "bad_field", pressure="NaN")
    bad("Infinity as text", "bad_field", pressure="Infinity")
    bad("boolean", "bad_field", pressure=True)
    bad("object as number", "bad_field", pressure={"v": 1})
    bad("text", "bad_field", viscosity="very")
    bad("missing viscosity", "missing_field", viscosity=None)
    bad("empty deviceid", "bad_identifier", deviceid="")
    bad("huge deviceid", "bad_identifier", deviceid="x" * 100_000)
    bad("missing clientid", "missing_field", clientid=None)
    bad("numeric clientid", "bad_identifier", clientid=42)
    bad(
        "newline injection", "bad_identifier", deviceid=f"{prefix}x\npressure,sensorID=evil pressureValue=1 0"
    )
    bad("trailing backslash", "bad_identifier", deviceid=f"{prefix}x\\")
    bad("NUL", "bad_identifier", deviceid=f"{prefix}x\x00y")
    bad("tab", "bad_identifier", clientid="c\td")
    bad("unreadable time", "bad_timestamp", sensordatetime="yesterday")
    bad("missing time", "missing_field", sensordatetime=None)
    bad("before 2000", "bad_timestamp", sensordatetime="1990-01-01T00:00:00Z")
    bad("far future", "bad_timestamp", sensordatetime="2999-01-01T00:00:00Z")
    bad("unknown topic", "unknown_topic", topic="/other/data")
    bad("topic not a string", "unknown_topic", topic=42)
    bad("metakey an object", "bad_metakey", metakey={})
    bad(
        "negative count",
        "bad_field",
        payload={
            "count": -1,
            "product_id": "p",
            "sensordatetime": 1795000000,
            "deviceid": "d",
            "clientid": "c",
            "topic": "/shelf/data",
        },
    )
    for name, count in (("count 2**53 + 1", 2**53 + 1), ("count 2**53 + 1 as text", str(2**53 + 1))):
        bad(
            name,
            "bad_field",
            payload={
                "count": count,
                "product_id": "p",
                "sensordatetime": 1795000000,
                "deviceid": "d",
                "clientid": "c",
                "topic": "/shelf/data",
            },
        )
    bad(
        "fractional count",
        "bad_field",
        payload={
            "count": 2.5,
            "product_id": "p",
            "sensordatetime": 1795000000,
            "deviceid": "d",
            "clientid": "c",
            "topic": "/shelf/data",
        },
    )
    bad(
        "empty product",
        "bad_identifier",
        payload={
            "count": 1,
            "product_id": "",
            "sensordatetime": 1795000000,
            "deviceid": "d",
            "clientid": "c",
            "topic": "/shelf/data",
        },
    )
    bad(
        "missing product",
        "missing_field",
        payload={
            "count": 1,
            "sensordatetime": 1795000000,
            "deviceid": "d",
            "clientid": "c",
            "topic": "/shelf/data",
        },
    )
    bad("beyond retention", "influxdb_refused", payload={"pressure": 1, "viscosity": 1, "sensordatetime": "2001-01-01T00:00:00Z", "deviceid": f"{prefix}old", "clientid": "c"})  # fmt: skip
    return cases


def put_hostile_items(table: str) -> None:
    resource = boto3.resource("dynamodb").Table(table)
    for metakey, item in HOSTILE_ITEMS.items():
        resource.put_item(Item={"metakey": metakey, **item})


def text(payload: Any) -> str:
    return payload if isinstance(payload, str) else json.dumps(payload)


def check(
    function: FunctionEnv, cases: list[Case], base: datetime, rejected: list[dict[str, Any]], times: int = 1
) -> None:
    expected_codes = sorted(c.rejected for c in cases if c.rejected for _ in range(times))
    assert sorted(r["code"] for r in rejected) == expected_codes
    assert all(r["reason"] and r["rejected_at"] for r in rejected)
    start_ms = int(base.timestamp() * 1000)
    window = f"time >= {start_ms}ms AND time < {start_ms + len(cases) * 1000}ms"
    for measurement in ("pressure", "product_count"):
        wanted = {c.seconds: c for c in cases if c.rejected is None and c.measurement == measurement}
        rows = function.rows(f'SELECT * FROM "{measurement}" WHERE {window}')
        found = {(row["time"] - start_ms) // 1000: row for row in rows}
        assert len(rows) == len(found) == len(wanted), [r.get("sensorID") for r in rows]
        for second, case in wanted.items():
            row = found[second]
            assert row["time"] == start_ms + second * 1000, case.name
            assert {k: v for k, v in row.items() if k != "time"} == {
                "sensorID": case.sensor,
                **case.tags,
                **case.fields,
            }, case.name


def test_the_hostile_table_through_an_sqs_batch(function: FunctionEnv) -> None:
    put_hostile_items(function.table)
    base = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=3, minutes=random.randint(0, 60))
    cases = build_cases(f"hb{uuid.uuid4().hex[:4]}", base)
    assert len(cases) >= 40
    event = sqs_batch_event([text(c.payload) for c in cases])
    assert function.invoke(event) == {"batchItemFailures": []}
    check(function, cases, base, function.drain(function.rejected_url))


def test_the_hostile_table_one_invocation_each_never_raises(function: FunctionEnv) -> None:
    put_hostile_items(function.table)
    base = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=5, minutes=random.randint(0, 60))
    cases = build_cases(f"hd{uuid.uuid4().hex[:4]}", base)
    for case in cases:
        function.invoke(case.payload)
        function.invoke(case.payload)  # a retry of each: still one point
    check(function, cases, base, function.drain(function.rejected_url), times=2)
