"""*Pressure and viscosity*: per sensor, filtered by the metadata tags, with the 1-hour means for long ranges.

Replaces the reference dashboard: every query groups by sensor, no fill(0) zeros, the gauge shows the pressure
itself on its real 500-1500 scale (not a point count on 0-100), every panel names its data source, no internal id.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders.dashboard import Dashboard

from grafana.influxql import InfluxQL
from grafana.names import (
    FAMILY_TAG,
    MANUFACTURER_TAG,
    PRESSURE,
    PRESSURE_FIELD,
    RP_1H,
    SENSOR_ID_TAG,
    VISCOSITY_FIELD,
)
from grafana.panels import dashboard as new_dashboard
from grafana.panels import gauge_panel, grid, tag_values, time_series

UID = "pressure-viscosity"
PRESSURE_UNIT = "pressurehpa"  # the devices report 500-1500, read as hPa
VISCOSITY_UNIT = "suffix: cP"  # 25-100, read as centipoise (Grafana has no built-in unit for it)
LONG_RANGE = "7d"

SENSORS = (
    f'"{MANUFACTURER_TAG}" =~ /^$manufacturer$/ AND "{FAMILY_TAG}" =~ /^$family$/ '
    f'AND "{SENSOR_ID_TAG}" =~ /^$sensor$/'
)
PER_SENSOR = f"$tag_{SENSOR_ID_TAG}"


def mean_per_sensor(field: str, source: str = f'"{PRESSURE}"') -> InfluxQL:
    return InfluxQL(
        f'SELECT mean("{field}") AS "{field}" FROM {source} WHERE {SENSORS} AND $timeFilter '
        f'GROUP BY time($__interval), "{SENSOR_ID_TAG}" fill(null)'
    ).alias(PER_SENSOR)


def last_per_sensor(field: str) -> InfluxQL:
    return InfluxQL(
        f'SELECT last("{field}") AS "{field}" FROM "{PRESSURE}" WHERE {SENSORS} AND $timeFilter '
        f'GROUP BY "{SENSOR_ID_TAG}"'
    ).alias(PER_SENSOR)


def dashboard() -> Dashboard:
    hourly = f'"{RP_1H}"."{PRESSURE}"'
    return (
        new_dashboard(
            UID,
            "Pressure and viscosity",
            "Readings of the pressure sensors, per sensor, filtered by the device metadata (manufacturer, family).",
            ["pressure"],
        )
        .with_variable(
            tag_values(
                "manufacturer",
                "Manufacturer",
                f'SHOW TAG VALUES FROM "{PRESSURE}" WITH KEY = "{MANUFACTURER_TAG}"',
            )
        )
        .with_variable(
            tag_values(
                "family",
                "Family",
                f'SHOW TAG VALUES FROM "{PRESSURE}" WITH KEY = "{FAMILY_TAG}" '
                f'WHERE "{MANUFACTURER_TAG}" =~ /^$manufacturer$/',
            )
        )
        .with_variable(
            tag_values(
                "sensor",
                "Sensor",
                f'SHOW TAG VALUES FROM "{PRESSURE}" WITH KEY = "{SENSOR_ID_TAG}" '
                f'WHERE "{MANUFACTURER_TAG}" =~ /^$manufacturer$/ AND "{FAMILY_TAG}" =~ /^$family$/',
            )
        )
        .with_panel(
            time_series(
                "Pressure per sensor",
                "Mean pressure of each sensor per interval. Intervals without readings stay empty.",
                PRESSURE_UNIT,
                [mean_per_sensor(PRESSURE_FIELD)],
                grid(0, 0, 16, 9),
            )
        )
        .with_panel(
            gauge_panel(
                "Current pressure",
                "The latest pressure of each sensor in the time range, on the devices' 500-1500 scale. "
                "The colour bands are illustrative: set them to the process limits.",
                PRESSURE_UNIT,
                last_per_sensor(PRESSURE_FIELD),
                grid(16, 0, 8, 9),
                (500, 1500),
                [(None, "blue"), (600, "green"), (1400, "red")],
            )
        )
        .with_panel(
            time_series(
                "Viscosity per sensor",
                "Mean viscosity of each sensor per interval. Intervals without readings stay empty.",
                VISCOSITY_UNIT,
                [mean_per_sensor(VISCOSITY_FIELD)],
                grid(0, 9, 16, 8),
            )
        )
        .with_panel(
            gauge_panel(
                "Current viscosity",
                "The latest viscosity of each sensor in the time range, on the devices' 25-100 scale.",
                VISCOSITY_UNIT,
                last_per_sensor(VISCOSITY_FIELD),
                grid(16, 9, 8, 8),
                (25, 100),
                [(None, "green")],
            )
        )
        .with_panel(
            time_series(
                f"Pressure, 1-hour means (last {LONG_RANGE})",
                f"From the continuous query's 1-hour means in the retention policy {RP_1H} (kept three years): "
                "cheap to draw over long ranges.",
                PRESSURE_UNIT,
                [mean_per_sensor(PRESSURE_FIELD, hourly)],
                grid(0, 17, 12, 8),
                min_interval="1h",
            ).time_from(LONG_RANGE)
        )
        .with_panel(
            time_series(
                f"Viscosity, 1-hour means (last {LONG_RANGE})",
                f"From the continuous query's 1-hour means in the retention policy {RP_1H} (kept three years).",
                VISCOSITY_UNIT,
                [mean_per_sensor(VISCOSITY_FIELD, hourly)],
                grid(12, 17, 12, 8),
                min_interval="1h",
            ).time_from(LONG_RANGE)
        )
    )
