"""The catalog's files and its schema: pure, no service."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from ingest_to_influxdb.kinds import SINKS, parse_table

from catalog import CatalogError, load_catalog, parse_kind
from catalog.__main__ import main
from catalog.export import downsampled, function_kinds
from catalog.loader import DEFAULT_FOLDER, FOLDER_VARIABLE, Catalog
from catalog.schema import Aggregate, Downsampling, FieldType, Sink
from tests.support.kind_files import MINIMAL, write_kind


def test_the_shipped_catalog_holds_pressure_and_shelf() -> None:
    catalog = load_catalog(DEFAULT_FOLDER)
    assert catalog.names == ("button", "pressure", "shelf")
    _button, pressure, shelf = catalog.kinds
    assert (pressure.topic, pressure.measurement, pressure.topic_parameter) == (
        "/pressure/data",
        "pressure",
        "PressureTopic",
    )
    assert {name: f.attribute for name, f in pressure.fields.items()} == {
        "pressureValue": "pressure",
        "viscosity": "viscosity",
    }
    assert shelf.fields["count"].type is FieldType.NON_NEGATIVE_INTEGER
    assert {name: t.attribute for name, t in shelf.tags.items()} == {"product_id": "product_id"}
    assert shelf.point_names == {"sensorID", "count", "product_id"}
    assert catalog.kind("shelf") is shelf


def test_the_folder_comes_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_kind(tmp_path, MINIMAL)
    monkeypatch.setenv(FOLDER_VARIABLE, str(tmp_path))
    assert load_catalog().names == ("temperature",)


def test_a_minimal_kind_needs_only_its_name_topic_measurement_and_fields() -> None:
    kind = parse_kind(MINIMAL, "temperature.yaml")
    assert kind.tags == {} and kind.downsampling is None and kind.dashboard is None
    assert kind.silent_after_minutes is None and kind.fields["temperature"].alert is None
    assert kind.fields["temperature"].type is FieldType.NUMBER


def test_optional_alert_and_silence() -> None:
    data = {
        **MINIMAL,
        "silent_after_minutes": 15,
        "fields": {
            "temperature": {
                **MINIMAL["fields"]["temperature"],
                "alert": {"above": 30, "below": 5, "for_minutes": 10},
            }
        },
    }
    kind = parse_kind(data, "temperature.yaml")
    alert = kind.fields["temperature"].alert
    assert alert is not None and (alert.above, alert.below, alert.for_minutes) == (30, 5, 10)
    assert kind.silent_after_minutes == 15


ERRORS: list[tuple[dict[str, Any], str]] = [
    ({"colour": "red"}, "temperature.yaml: colour: Extra inputs are not permitted"),
    (
        {"fields": {"t": {"attribute": "t", "label": "T", "unit": "x", "units": "y"}}},
        "fields.t.units: Extra",
    ),
    ({"name": "Temperature"}, "temperature.yaml: name: String should match pattern"),
    ({"topic": "/rooms/#"}, "topic: String should match pattern"),
    ({"fields": {}}, "fields: Dictionary should have at least 1 item"),
    ({"measurement": "room climate"}, "measurement: String should match pattern"),
    (
        {"fields": {"t": {"attribute": "t", "label": "T", "unit": "x", "alert": {"for_minutes": 5}}}},
        "fields.t.alert: Value error, give 'above', 'below' or both",
    ),
    (
        {"fields": {"t": {"attribute": "t", "label": "T", "unit": "x", "alert": {"above": 1}}}},
        "fields.t.alert.for_minutes: Field required",
    ),
    (
        {"fields": {"t": {"attribute": "t", "label": "T", "unit": "x", "range": {"min": 5, "max": 1}}}},
        "fields.t.range: Value error, min (5.0) must be below max (1.0)",
    ),
    ({"tags": {"sensorID": {"attribute": "x"}}}, "sensorID: a field and a tag (or the sensorID tag)"),
    (
        {"downsampling": {"fields": ["humidity"]}},
        "downsampling names fields the kind does not have: humidity",
    ),
    (
        {"downsampling": {"fields": ["temperature"], "aggregates": ["median"]}},
        "downsampling.aggregates.0",
    ),
    ({"silent_after_minutes": 0}, "silent_after_minutes: Input should be greater than or equal to 1"),
    (
        {"simulator": {"attributes": {"temp": {"type": "random_walk", "min": 1}}}},
        "simulator.attributes.temp.max: Field required",
    ),
    (
        {
            "dashboard": {
                "uid": "t",
                "title": "T",
                "description": "d",
                "panels": [{"field": "x", "show": "mean_per_sensor"}],
            }
        },
        "dashboard.panels[1]: 'x' is not one of the kind's fields",
    ),
    (
        {
            "dashboard": {
                "uid": "t",
                "title": "T",
                "description": "d",
                "panels": [{"field": "temperature", "show": "current_per_sensor"}],
            }
        },
        "a current_per_sensor gauge needs a range",
    ),
    (
        {
            "dashboard": {
                "uid": "t",
                "title": "T",
                "description": "d",
                "panels": [{"field": "temperature", "show": "increase_per_tag"}],
            }
        },
        "increase_per_tag needs dashboard.group_by",
    ),
]


def test_a_file_must_be_named_after_its_kind(tmp_path: Path) -> None:
    (tmp_path / "climate.yaml").write_text(yaml.safe_dump(MINIMAL))
    with pytest.raises(CatalogError, match=r"climate\.yaml: name: 'temperature' must match the file's name"):
        load_catalog(tmp_path)


def test_kinds_may_not_share_a_topic_or_a_measurement(tmp_path: Path) -> None:
    write_kind(tmp_path, MINIMAL)
    write_kind(tmp_path, {**MINIMAL, "name": "humidity", "measurement": "humidity"})
    with pytest.raises(
        CatalogError, match="'humidity' and 'temperature' both use the topic '/rooms/temperature'"
    ):
        load_catalog(tmp_path)
    write_kind(tmp_path, {**MINIMAL, "name": "humidity", "topic": "/rooms/humidity"})
    with pytest.raises(CatalogError, match="both use the measurement 'room_climate'"):
        load_catalog(tmp_path)


def test_unreadable_files_and_folders_are_named(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="no device kind files"):
        load_catalog(tmp_path)
    with pytest.raises(CatalogError, match="no such folder of device kinds"):
        load_catalog(tmp_path / "missing")
    (tmp_path / "broken.yaml").write_text("name: [unclosed")
    with pytest.raises(CatalogError, match=r"broken\.yaml: not valid YAML"):
        load_catalog(tmp_path)
    (tmp_path / "broken.yaml").write_text("- a list")
    with pytest.raises(CatalogError, match=r"broken\.yaml: expected a mapping"):
        load_catalog(tmp_path)


def test_an_unknown_kind_lists_the_known_ones() -> None:
    with pytest.raises(CatalogError, match=r"no device kind 'boiler'.*there are: button, pressure, shelf"):
        load_catalog(DEFAULT_FOLDER).kind("boiler")


def test_the_mean_keeps_the_field_name_other_aggregates_are_suffixed() -> None:
    assert Downsampling.column("count", Aggregate.MEAN) == "count"
    assert Downsampling.column("count", Aggregate.MAX) == "count_max"


def test_the_command_lists_the_kinds_or_says_what_is_wrong(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([str(DEFAULT_FOLDER)]) == 0
    assert (
        "pressure: topic /pressure/data, measurement pressure (pressureValue, viscosity)"
        in capsys.readouterr().out
    )
    write_kind(tmp_path, {**MINIMAL, "colour": "red"})
    assert main([str(tmp_path)]) == 1
    assert "temperature.yaml: colour: Extra inputs are not permitted" in capsys.readouterr().err


def test_downsampling_as_the_start_up_script_reads_it() -> None:
    assert downsampled(load_catalog(DEFAULT_FOLDER)) == (
        "pressure mean:pressureValue:pressureValue mean:viscosity:viscosity\nproduct_count mean:count:count"
    )
    kind = parse_kind(
        {**MINIMAL, "downsampling": {"fields": ["temperature"], "aggregates": ["mean", "max"]}}, "t.yaml"
    )
    assert kind.downsampling is not None
    assert [kind.downsampling.column("temperature", a) for a in kind.downsampling.aggregates] == [
        "temperature",
        "temperature_max",
    ]


_DASHBOARD = {
    "dashboard": {
        "uid": "t",
        "title": "T",
        "description": "d",
        "panels": [{"field": "temperature", "show": "mean_per_sensor"}],
    }
}


def test_a_kind_writes_to_influxdb_unless_it_names_its_sinks() -> None:
    assert parse_kind(MINIMAL, "temperature.yaml").sinks == (Sink.INFLUXDB,)
    both = parse_kind({**MINIMAL, "sinks": ["influxdb", "sql"]}, "temperature.yaml")
    assert both.sinks == (Sink.INFLUXDB, Sink.SQL)
    assert parse_kind({**MINIMAL, "sinks": ["sql"]}, "temperature.yaml").sinks == (Sink.SQL,)


SINK_ERRORS: list[tuple[dict[str, Any], str]] = [
    ({"sinks": ["sql", "sql"]}, "sinks: name each sink once"),
    ({"sinks": ["postgres"]}, "sinks.0: Input should be 'influxdb' or 'sql'"),
    ({"sinks": []}, "sinks: "),
    ({"sinks": ["sql"], **_DASHBOARD}, "dashboard read InfluxDB: add influxdb to sinks"),
    (
        {"sinks": ["sql"], "downsampling": {"fields": ["temperature"], "aggregates": ["mean"]}},
        "downsampling read InfluxDB",
    ),
    (
        {
            "sinks": ["sql"],
            "fields": {
                "temperature": {
                    **MINIMAL["fields"]["temperature"],
                    "alert": {"above": 30, "for_minutes": 5},
                }
            },
        },
        "alert read InfluxDB",
    ),
]


@pytest.mark.parametrize(("change", "expected"), [*ERRORS, *SINK_ERRORS])
def test_errors_name_the_file_and_the_key(change: dict[str, Any], expected: str) -> None:
    with pytest.raises(CatalogError) as raised:
        parse_kind({**MINIMAL, **change}, "temperature.yaml")
    assert str(raised.value).startswith("temperature.yaml: ")
    assert expected in str(raised.value)


def test_the_function_knows_every_sink_of_the_catalog_and_gets_each_kinds() -> None:
    """The function's zip does not carry the catalog: its sink names are the catalog's Sink values."""
    assert tuple(sink.value for sink in Sink) == SINKS
    data = {**MINIMAL, "sinks": ["influxdb", "sql"]}
    packed = function_kinds(Catalog(Path(), (parse_kind(data, "temperature.yaml"),)))
    assert parse_table(packed).named("temperature").sinks == ("influxdb", "sql")
    demo = parse_table(function_kinds(load_catalog(DEFAULT_FOLDER)))
    assert demo.sinks == {"influxdb", "sql"}
