"""*Shelf activity*: the shelf devices' product counts and their increases, per product.

Counts are per device (`sensorID`) first and summed per product after, so two shelves holding the same product
neither mix their counters nor hide one another. The increase is NON_NEGATIVE_DIFFERENCE of each device's counter:
a device restart that resets its counter is not counted as negative activity.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders.dashboard import Dashboard

from grafana.influxql import InfluxQL
from grafana.names import COUNT_FIELD, PRODUCT_COUNT, PRODUCT_ID_TAG, SENSOR_ID_TAG
from grafana.panels import bar_gauge, grid, tag_values, time_series
from grafana.panels import dashboard as new_dashboard

UID = "shelf-activity"
PRODUCTS = f'"{PRODUCT_ID_TAG}" =~ /^$product$/'
PER_PRODUCT = f"$tag_{PRODUCT_ID_TAG}"


def count_per_product() -> InfluxQL:
    return InfluxQL(
        f'SELECT sum("{COUNT_FIELD}") AS "{COUNT_FIELD}" FROM ('
        f'SELECT last("{COUNT_FIELD}") AS "{COUNT_FIELD}" FROM "{PRODUCT_COUNT}" WHERE {PRODUCTS} AND $timeFilter '
        f'GROUP BY time($__interval), "{SENSOR_ID_TAG}", "{PRODUCT_ID_TAG}") '
        f'WHERE $timeFilter GROUP BY time($__interval), "{PRODUCT_ID_TAG}" fill(null)'
    ).alias(PER_PRODUCT)


def increase_per_product() -> InfluxQL:
    return InfluxQL(
        f'SELECT sum("increase") AS "increase" FROM ('
        f'SELECT non_negative_difference(last("{COUNT_FIELD}")) AS "increase" FROM "{PRODUCT_COUNT}" '
        f'WHERE {PRODUCTS} AND $timeFilter GROUP BY time($__interval), "{SENSOR_ID_TAG}", "{PRODUCT_ID_TAG}") '
        f'WHERE $timeFilter GROUP BY time($__interval), "{PRODUCT_ID_TAG}" fill(0)'
    ).alias(PER_PRODUCT)


def increase_in_range() -> InfluxQL:
    return InfluxQL(
        f'SELECT sum("increase") AS "increase" FROM ('
        f'SELECT non_negative_difference("{COUNT_FIELD}") AS "increase" FROM "{PRODUCT_COUNT}" '
        f'WHERE {PRODUCTS} AND $timeFilter GROUP BY "{SENSOR_ID_TAG}", "{PRODUCT_ID_TAG}") '
        f'GROUP BY "{PRODUCT_ID_TAG}"'
    ).alias(PER_PRODUCT)


def dashboard() -> Dashboard:
    return (
        new_dashboard(
            UID,
            "Shelf activity",
            "Product interactions reported by the shelf devices (measurement product_count), per product.",
            ["shelf"],
        )
        .with_variable(
            tag_values(
                "product", "Product", f'SHOW TAG VALUES FROM "{PRODUCT_COUNT}" WITH KEY = "{PRODUCT_ID_TAG}"'
            )
        )
        .with_panel(
            time_series(
                "Count per product",
                "The latest count of each shelf device per interval, summed per product.",
                "short",
                [count_per_product()],
                grid(0, 0, 24, 8),
            )
        )
        .with_panel(
            time_series(
                "Interactions per product",
                "Increase of the count per interval (non-negative difference per device, summed per product).",
                "short",
                [increase_per_product()],
                grid(0, 8, 16, 8),
                bars=True,
            )
        )
        .with_panel(
            bar_gauge(
                "Interactions in the time range",
                "Sum of the count's increases over the whole time range, per product.",
                "short",
                increase_in_range(),
                grid(16, 8, 8, 8),
            )
        )
    )
