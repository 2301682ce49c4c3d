"""Names the dashboards share with the rest of the pipeline, each declared once."""

from __future__ import annotations

# Data sources, as provisioned by services/grafana/provisioning/datasources/datasources.yaml.
INFLUXDB_DATASOURCE_NAME = "InfluxDB"
INFLUXDB_DATASOURCE_UID = "influxdb"
CLOUDWATCH_DATASOURCE_NAME = "CloudWatch"
CLOUDWATCH_DATASOURCE_UID = "cloudwatch"

# What the ingest function writes besides the kinds' own measurements (those are in device-kinds/): the sensor
# and metadata tags of every point, and its health points (lambda/ingest_to_influxdb/health.py).
COUNT_FIELD = "count"  # of a health point
SENSOR_ID_TAG = "sensorID"
MANUFACTURER_TAG = "manufacturer"
FAMILY_TAG = "family"
# Where a sensor is, from its metadata item (sample-data/device-metadata.json, docs/dashboards.md): a sensor whose
# item has a line and a machine is shown as "<line> · <machine> · <position>" instead of its raw id.
LINE_TAG = "line"
MACHINE_TAG = "machine"
POSITION_TAG = "position"
DISPLAY_NAME_TAGS = (LINE_TAG, MACHINE_TAG, POSITION_TAG)
DISPLAY_NAME_SEPARATOR = " · "
HEALTH = "ingest_health"
HEALTH_KIND_TAG = "kind"
HEALTH_OUTCOME_TAG = "outcome"
HEALTH_REASON_TAG = "reason"

# Retention policies made by services/influxdb/init-influxdb.sh: the continuous queries keep means there under
# the same measurement and field names.
RP_1M = "rp_1m"
RP_1H = "rp_1h"

# Dead letters on AWS: the SQS queue `<env>-ingest-dead-letters`, read through CloudWatch.
DEAD_LETTER_QUEUE_SUFFIX = "-ingest-dead-letters"
