"""The share of the demo's valid readings that the ingest function's compiled checks decide alone.

The demo's fleet (`make demo`'s defaults: sandbox.demo.DemoOptions) makes its readings as the simulator does, for
the demo's duration at its rate: each MQTT device's reading as the rule hands it over (`SELECT *, topic() AS
topic, clientid() AS connection_clientid`; the local broker names no client, so null), as an SQS body (JSON
text, the queued path) and as Lambda's decoded event (the direct path), and the webhook's readings as its
function makes them from the devices' deliveries. Each goes through the compiled checks and the full checks.
"""

from __future__ import annotations

import contextlib
import json
import random
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ingest_to_influxdb import kinds
from ingest_to_influxdb.compiled import CompiledChecks
from ingest_to_influxdb.errors import InvalidReading
from ingest_to_influxdb.identity import CONNECTION_FIELD
from ingest_to_influxdb.validation import decode_fully, kind_of, validate_fully
from webhook_to_influxdb.deliveries import readings_of
from webhook_to_influxdb.mapping import parse_mapping

from benchmarks.bench_kinds import influxdb_only_kinds
from catalog import load_catalog
from catalog.lwm2m import webhook_mapping_json
from local_aws.lambda_.function_zip import kinds_from
from sandbox.scenarios.demo import DemoOptions
from simulator.device_types import from_catalog
from simulator.fleet import Device
from simulator.webhook import WebhookFleet, WebhookTarget

START = 1_796_000_000.0  # a fixed clock (2026-12-1), so every run makes the same readings
SEED = 25


@contextlib.contextmanager
def packed_kinds() -> Iterator[kinds.KindTable]:
    """The catalog's kinds as the function reads them from its zip (DEVICE_KINDS_FILE), for this block."""
    with tempfile.TemporaryDirectory(prefix="compiled-share-") as folder:
        packed = Path(folder) / kinds.PACKAGED_NAME
        packed.write_text(influxdb_only_kinds())
        with kinds_from(packed):
            yield kinds.table()


def demo_readings(options: DemoOptions | None = None) -> list[object]:
    """The payloads the function gets during one demo: (SQS body, direct event) per MQTT reading, and the
    webhook's readings."""
    options = options or DemoOptions()
    catalog = load_catalog()
    rounds = max(1, int(options.duration * options.rate))
    now = [START]
    devices = [
        Device(device_type, index, random.Random(f"{SEED}/{name}/{index}"), lambda: now[0], None)
        for name, count in options.fleet(catalog).items()
        if (device_type := from_catalog(catalog, name)) is not None
        for index in range(count)
    ]
    payloads: list[object] = []
    for n in range(rounds):
        now[0] = START + n / options.rate
        for device in devices:
            event = {**device.reading(), "topic": device.type.topic, CONNECTION_FIELD: None}
            payloads += [json.dumps(event), event]
    fleet = WebhookFleet(
        WebhookTarget("http://127.0.0.1:9", ""), options.webhook_buttons, options.webhook_shelves, SEED
    )
    mapping = parse_mapping(webhook_mapping_json(catalog))
    for n in range(rounds):
        delivery, _ = fleet.delivery()
        payloads += readings_of(delivery, mapping, int((START + n) * 1000)).readings
    return payloads


def _valid(payload: object, now_ms: int) -> bool:
    try:
        document = decode_fully(payload)
        validate_fully(document, kind_of(document), now_ms)
    except InvalidReading:
        return False
    return True


def measure(options: DemoOptions | None = None) -> dict[str, Any]:
    """Readings, valid ones, those the compiled checks decided alone, and the share."""
    payloads = demo_readings(options)
    now_ms = int((START + 3600) * 1000)
    with packed_kinds() as table:
        checks = CompiledChecks(table)
        valid = [p for p in payloads if _valid(p, now_ms)]
        compiled = sum(checks.reading(p, None, now_ms) is not None for p in valid)
    return {
        "name": "compiled checks: share of the demo's valid readings decided alone",
        "readings": len(payloads),
        "valid": len(valid),
        "compiled": compiled,
        "share": round(compiled / len(valid), 4) if valid else None,
        "note": "make demo's fleet and duration (sandbox.demo.DemoOptions); each MQTT reading as an SQS body and as"
        " a direct event, the webhook's readings as its function makes them",
    }
