"""The functions' environment variables: the names the stacks set and the functions read, declared once.

(The kinds' variables are declared beside their readers: `kinds.FILE_VARIABLE`, `kinds.TOPICS_VARIABLE`,
`basic_ingest.RULES_VARIABLE`.)
"""

from __future__ import annotations

INFLUXDB_URL = (
    "INFLUXDB_URL"  # http://influx.<env>:8086 or the managed store's https endpoint, no credentials
)
INFLUXDB_DATABASE = "INFLUXDB_DATABASE"
INFLUXDB_SECRET_ARN = "INFLUXDB_SECRET_ARN"  # the writer's secret
# The PEM of the CA that signed the ECS store's certificate (the influxdb stack's CaCertificate export; locally the
# sandbox's CA); constants.SYSTEM_ROOTS or empty: the store's certificate is verified against the system's roots.
INFLUXDB_CA_CERTIFICATE = "INFLUXDB_CA_CERTIFICATE"
METADATA_TABLE = "METADATA_TABLE"
REJECTED_QUEUE_URL = "REJECTED_QUEUE_URL"
METADATA_CACHE_TTL_SECONDS = "METADATA_CACHE_TTL_SECONDS"
DEAD_LETTER_QUEUE_URL = "DEAD_LETTER_QUEUE_URL"  # the webhook function's: what it cannot write now
# The SQL sink (docs/sql-sink.md), set only when a kind of the catalog writes to it: the Aurora cluster the RDS
# Data API reaches, the writer's secret and the database.
SQL_RESOURCE_ARN = "SQL_RESOURCE_ARN"
SQL_SECRET_ARN = "SQL_SECRET_ARN"
SQL_DATABASE = "SQL_DATABASE"
WEBHOOK_SECRET_ARN = "WEBHOOK_SECRET_ARN"  # the callback's shared secret
LWM2M_MAPPING = "LWM2M_MAPPING"  # the catalog's lwm2m sections, as JSON
# Powertools' own settings (https://docs.powertools.aws.dev/lambda/python/latest/#environment-variables)
SERVICE_NAME = "POWERTOOLS_SERVICE_NAME"
METRICS_NAMESPACE = "POWERTOOLS_METRICS_NAMESPACE"
LOG_LEVEL = "POWERTOOLS_LOG_LEVEL"

NAMESPACE = "IoTTelemetry"  # the functions' metrics namespace, which the alarms and dashboards read
