"""The precomputed line format of a device's readings gives exactly the line `format_point` and `to_line` give."""

from __future__ import annotations

from ingest_to_influxdb.enrichment import format_line, line_format, to_line
from ingest_to_influxdb.line_protocol import LineFormat, format_point, unrepresentable
from ingest_to_influxdb.validation import validate

from tests.support.catalog_kinds import PRESSURE, SHELF

NOW_MS = 1_795_388_884_000


def test_a_line_format_writes_what_format_point_writes_with_escaping_and_sorting() -> None:
    constant = {"zone": "hall 2", "a=b": "c,d", "model": "P {100}"}
    form = LineFormat("press ure", constant, {"sensorID", "product_id", "zone"}, ["value x", "count"])
    tags = {"sensorID": "dev 1,x=y {0}", "product_id": "SKU\\1", "zone": "own"}
    fields = {"value x": 1.5, "count": 3.0}
    expected = format_point("press ure", {**constant, **tags}, fields, 42)
    assert form.line(tags, fields, 42) == expected  # the point's own `zone` wins over the constant one


def test_percent_signs_and_braces_anywhere_come_out_as_they_went_in() -> None:
    constant = {"load %": "100%s", "{x}": "%(name)s {}", "%%": "%"}
    form = LineFormat("m%s{}", constant, {"sensorID %d", "own"}, ["f%", "{0}"])
    tags = {"sensorID %d": "%s%%{}", "own": "%"}
    fields = {"f%": 1.5, "{0}": 2.0}
    assert form.line(tags, fields, 7) == format_point("m%s{}", {**constant, **tags}, fields, 7)


def test_names_with_quotes_and_backslashes_and_a_tag_given_apart() -> None:
    constant = {"c'1": 'v"1', "sensorID": "the constant's"}
    form = LineFormat("m", constant, {'t"2', "it's", "sensorID"}, ["f\\1", "g'"], own_tag="sensorID")
    tags = {'t"2': "x", "it's": "y \\z"}
    fields = {"f\\1": 1.0, "g'": 2.5}
    expected = format_point("m", {**constant, **tags, "sensorID": "dev 1"}, fields, 9)
    assert form.point("dev 1", tags, fields, 9) == expected
    assert form.line({**tags, "sensorID": "dev 1"}, fields, 9) == expected


def test_format_line_is_to_line_for_each_kind() -> None:
    metadata = {"manufacturer": "Acme Devices Ltd.", "location": "Hall,2", "rating": "4.5"}
    pressure = validate(
        {"pressure": 812, "viscosity": 55, "sensordatetime": "2026-11-22T10:00:00.123Z", "deviceid": "d 1",
         "clientid": "c=1"},
        PRESSURE,
        NOW_MS,
    )  # fmt: skip
    shelf = validate(
        {
            "count": 7,
            "product_id": "p,1",
            "sensordatetime": 1_795_341_600_123,
            "deviceid": "s",
            "clientid": "c",
        },
        SHELF,
        NOW_MS,
    )
    for reading in (pressure, shelf):
        for tags in (metadata, {}):
            assert format_line(line_format(tags, reading.kind), reading) == to_line(reading, tags)


def test_the_fast_path_of_unrepresentable_keeps_its_answers() -> None:
    assert unrepresentable("plain text, with = and spaces") is None
    assert unrepresentable("no-break\xa0space") is None  # not printable to Python, but no control character
    assert unrepresentable("line\u2028separator") is None
    assert unrepresentable("c1 control \x85")
    assert unrepresentable("ends\\")
