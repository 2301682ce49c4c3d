"""The continuous queries' equivalent on the managed store: InfluxDB v2 tasks in Flux, one per kind and interval,
from the same catalog text as the CQs (catalog.export.downsampled). No Flux engine runs here (no v2 server can
be installed): the tests hold the generated text to what the CQ does, clause by clause."""

from __future__ import annotations

import importlib

import pytest
from store_setup import constants as c
from store_setup.downsampling import DownsamplingError, parse, tasks

from catalog import load_catalog
from catalog.export import downsampled
from infrastructure.artifacts import PACKAGES


def test_one_task_per_kind_and_interval_named_as_its_continuous_query() -> None:
    made = tasks(downsampled(load_catalog()), "telemetry")
    assert [t.name for t in made] == [
        "cq_pressure_1m",
        "cq_pressure_1h",
        "cq_product_count_1m",
        "cq_product_count_1h",
    ]


def test_the_flux_does_what_the_continuous_query_does() -> None:
    minute, hour = tasks("pressure mean:pressureValue:pressureValue max:viscosity:viscosity_max", "telemetry")
    assert minute.flux == (
        'option task = {name: "cq_pressure_1m", every: 1m}\n'
        "\n"
        'data = from(bucket: "telemetry")\n'
        "    |> range(start: -10m)\n"  # RESAMPLE ... FOR 10m
        '    |> filter(fn: (r) => r._measurement == "pressure")\n'
        "\n"
        "union(tables: [\n"
        "    data\n"
        '        |> filter(fn: (r) => r._field == "pressureValue")\n'
        '        |> aggregateWindow(every: 1m, fn: mean, createEmpty: false, timeSrc: "_start"),\n'
        "    data\n"
        '        |> filter(fn: (r) => r._field == "viscosity")\n'
        '        |> aggregateWindow(every: 1m, fn: max, createEmpty: false, timeSrc: "_start")\n'
        '        |> set(key: "_field", value: "viscosity_max")\n'
        "])\n"
        '    |> to(bucket: "telemetry/rp_1m")\n'
    )
    assert "every: 1h}" in hour.flux and "range(start: -3h)" in hour.flux
    assert 'to(bucket: "telemetry/rp_1h")' in hour.flux


def test_every_catalog_aggregate_has_a_flux_function() -> None:
    from catalog.schema import Aggregate

    text = "m " + " ".join(f"{a.value}:f:f_{a.value}" for a in Aggregate)
    assert len(parse(text)[0].columns) == len(Aggregate)


@pytest.mark.parametrize("text", ["pressure", "pressure median:f:f", "pressure mean:f"])
def test_text_that_is_not_the_catalogs_is_refused_naming_the_line(text: str) -> None:
    with pytest.raises(DownsamplingError, match="line 1"):
        parse(text)


def test_the_handler_is_where_the_stack_says_and_in_the_functions_zip() -> None:
    module, _, function = c.HANDLER.rpartition(".")
    assert callable(getattr(importlib.import_module(module), function))
    assert module.split(".")[0] in PACKAGES
    assert set(c.REQUIRED) | set(c.PRESENT) | set(c.OPTIONAL) == {
        "Url",
        "AdminSecretArn",
        "Organization",
        "Database",
        "WriterSecretArn",
        "ReaderSecretArn",
        "RetentionDays",
        "Downsampled",
    }
