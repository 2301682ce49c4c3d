"""*Ingest health*: what the ingest function did (measurement `ingest_health`) and the dead letters waiting.

Counts are shown per minute whatever the interval Grafana picks (sum x 60000 / interval in ms). An interval in
which the function wrote no health point did nothing of that kind, so its count is a true 0 (fill(0)); this
differs from the sensor values, whose missing intervals are left empty.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import cloudwatch, timeseries
from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.builders.dashboard import Dashboard
from grafana_foundation_sdk.models import dashboard as models

from grafana.influxql import InfluxQL
from grafana.names import (
    COUNT_FIELD,
    DEAD_LETTER_QUEUE_SUFFIX,
    HEALTH,
    HEALTH_KIND_TAG,
    HEALTH_OUTCOME_TAG,
    HEALTH_REASON_TAG,
)
from grafana.panels import CLOUDWATCH, SPAN_NULLS_MS, grid, legend, stat_panel, tag_values, time_series
from grafana.panels import dashboard as new_dashboard

UID = "ingest-health"
PER_MINUTE = "short"
NONE = "0"  # no health point of an outcome means none happened: the count panels say 0, not "No data"
KINDS = f'"{HEALTH_KIND_TAG}" =~ /^$kind$/'
DEAD_LETTER_METRIC = "ApproximateNumberOfMessagesVisible"


def total(outcome: str) -> InfluxQL:
    return InfluxQL(
        f'SELECT sum("{COUNT_FIELD}") AS "{outcome}" FROM "{HEALTH}" '
        f"WHERE \"{HEALTH_OUTCOME_TAG}\" = '{outcome}' AND {KINDS} AND $timeFilter"
    )


def per_minute(outcome: str, by: str) -> InfluxQL:
    return InfluxQL(
        f'SELECT sum("{COUNT_FIELD}") * 60000 / $__interval_ms AS "{outcome}" FROM "{HEALTH}" '
        f"WHERE \"{HEALTH_OUTCOME_TAG}\" = '{outcome}' AND {KINDS} AND $timeFilter "
        f'GROUP BY time($__interval), "{by}" fill(0)'
    ).alias(f"$tag_{by}")


def dead_letter_queue() -> dash.QueryVariable:
    """The environment's dead-letter queue, found in CloudWatch by its name's suffix: no environment name baked in."""
    return (
        dash.QueryVariable("dead_letter_queue")
        .label("Dead-letter queue")
        .datasource(CLOUDWATCH)
        .query(
            {
                "refId": "CloudWatchVariableQueryEditor-VariableQuery",
                "queryType": "dimensionValues",
                "region": "default",
                "namespace": "AWS/SQS",
                "metricName": DEAD_LETTER_METRIC,
                "dimensionKey": "QueueName",
            }
        )
        .regex(f"/.*{DEAD_LETTER_QUEUE_SUFFIX}$/")
        .refresh(models.VariableRefresh.ON_DASHBOARD_LOAD)
    )


def dead_letters(pos: models.GridPos) -> timeseries.Panel:
    query = (
        cloudwatch.CloudWatchMetricsQuery()
        .ref_id("A")
        .query_mode("Metrics")  # type: ignore[arg-type]
        .region("default")
        .namespace("AWS/SQS")
        .metric_name(DEAD_LETTER_METRIC)
        .dimensions({"QueueName": "$dead_letter_queue"})
        .statistic("Maximum")
        .period("60")
        .match_exact(True)
        .label("${PROP('Dim.QueueName')}")
    )
    return (
        timeseries.Panel()
        .title("Dead letters waiting")
        .description(
            "Messages in the dead-letter queue (CloudWatch, AWS/SQS ApproximateNumberOfMessagesVisible, maximum per "
            "minute): readings that failed after every retry. Drain them with `make replay`."
        )
        .datasource(CLOUDWATCH)
        .unit("short")
        .min(0)
        .grid_pos(pos)
        .span_nulls(SPAN_NULLS_MS)
        .legend(legend())
        .with_target(query)
    )


def dashboard() -> Dashboard:
    return (
        new_dashboard(
            UID,
            "Ingest health",
            "What the ingest function wrote, rejected and could not enrich, and what waits in the dead-letter queue.",
            ["ingest"],
        )
        .with_variable(
            tag_values(
                "kind", "Reading kind", f'SHOW TAG VALUES FROM "{HEALTH}" WITH KEY = "{HEALTH_KIND_TAG}"'
            )
        )
        .with_variable(dead_letter_queue())
        .with_panel(
            stat_panel(
                "Readings written",
                "Readings written to InfluxDB in the time range.",
                "short",
                total("written"),
                grid(0, 0, 8, 4),
                no_value=NONE,
            )
        )
        .with_panel(
            stat_panel(
                "Readings rejected",
                "Readings that can never be written as they are; each is kept with its reason in the rejected-readings queue.",
                "short",
                total("rejected"),
                grid(8, 0, 8, 4),
                no_value=NONE,
            )
        )
        .with_panel(
            stat_panel(
                "Metadata misses",
                "Readings written without metadata tags because no metadata item has their metakey.",
                "short",
                total("metadata_miss"),
                grid(16, 0, 8, 4),
                no_value=NONE,
            )
        )
        .with_panel(
            time_series(
                "Readings written per minute, by kind",
                "Readings written to InfluxDB per minute.",
                PER_MINUTE,
                [per_minute("written", HEALTH_KIND_TAG)],
                grid(0, 4, 12, 8),
                min_interval="1m",
                no_value=NONE,
            )
        )
        .with_panel(
            time_series(
                "Rejected per minute, by reason",
                "Rejected readings per minute, by the rejection's short code; the full reason is in the rejected-readings queue.",
                PER_MINUTE,
                [per_minute("rejected", HEALTH_REASON_TAG)],
                grid(12, 4, 12, 8),
                bars=True,
                min_interval="1m",
                no_value=NONE,
            )
        )
        .with_panel(
            time_series(
                "Metadata misses per minute, by kind",
                "Readings per minute whose metakey has no metadata item (written without metadata tags).",
                PER_MINUTE,
                [per_minute("metadata_miss", HEALTH_KIND_TAG)],
                grid(0, 12, 12, 8),
                bars=True,
                min_interval="1m",
                no_value=NONE,
            )
        )
        .with_panel(dead_letters(grid(12, 12, 12, 8)))
    )
