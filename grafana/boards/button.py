"""*Button presses*: each endpoint's presses per hour, the view of the DynamoDB-counter tutorials without the table.

Made from the catalog's button kind (device-kinds/button.yaml): its dashboard section's uid, title and panels.
The increase is NON_NEGATIVE_DIFFERENCE of each endpoint's counter over its raw values, summed per hour: the
step from the last value of one hour to the first of the next counts in the next, and a reset to 0 (a reboot)
counts nothing negative. The presses between a reset and the first value reported after it are not counted
(an IPSO counter that reports its 0 on registration loses none).
"""

from __future__ import annotations

from grafana_foundation_sdk.builders.dashboard import Dashboard

from catalog import DeviceKind, load_catalog
from catalog.schema import PanelShow
from grafana.influxql import InfluxQL
from grafana.names import SENSOR_ID_TAG
from grafana.panels import dashboard as new_dashboard
from grafana.panels import grid, tag_values, time_series

KIND = "button"
PER_SENSOR = f"$tag_{SENSOR_ID_TAG}"


def increase_per_sensor_per_hour(measurement: str, field: str) -> InfluxQL:
    """Each sensor's counter increase per hour (counter resets count nothing negative)."""
    return InfluxQL(
        f'SELECT sum("increase") AS "{field}" FROM ('
        f'SELECT non_negative_difference("{field}") AS "increase" FROM "{measurement}" '
        f'WHERE "{SENSOR_ID_TAG}" =~ /^$sensor$/ AND $timeFilter GROUP BY "{SENSOR_ID_TAG}") '
        f'WHERE $timeFilter GROUP BY time(1h), "{SENSOR_ID_TAG}" fill(0)'
    ).alias(PER_SENSOR)


def board_of(kind: DeviceKind) -> Dashboard:
    spec = kind.dashboard
    if spec is None:
        raise ValueError(f"the {kind.name} kind has no dashboard section")
    board = new_dashboard(spec.uid, spec.title, spec.description, [kind.name]).with_variable(
        tag_values(
            "sensor", "Endpoint", f'SHOW TAG VALUES FROM "{kind.measurement}" WITH KEY = "{SENSOR_ID_TAG}"'
        )
    )
    x = y = row_height = 0
    for panel in spec.panels:
        if panel.show is not PanelShow.INCREASE_PER_SENSOR_PER_HOUR:
            raise ValueError(
                f"the {kind.name} board draws only {PanelShow.INCREASE_PER_SENSOR_PER_HOUR.value}"
            )
        if x + panel.width > 24:
            x, y = 0, y + row_height
        field = kind.fields[panel.field]
        board = board.with_panel(
            time_series(
                panel.title or f"{field.label} per hour per sensor",
                panel.description or f"Increase of {field.label} per hour, per sensor.",
                field.unit,
                [increase_per_sensor_per_hour(kind.measurement, panel.field)],
                grid(x, y, panel.width, panel.height),
                bars=True,
                min_interval="1h",
            )
        )
        x, row_height = x + panel.width, max(row_height, panel.height)
    return board


def dashboard() -> Dashboard:
    return board_of(load_catalog().kind(KIND))
