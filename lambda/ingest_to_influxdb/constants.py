"""Limits and names used across the function, each declared once."""

from __future__ import annotations

# A reading larger than AWS IoT Core's largest message cannot be a device's reading.
MAX_PAYLOAD_BYTES = 128 * 1024
MAX_IDENTIFIER_LENGTH = 128  # deviceid, clientid, product_id
MAX_METAKEY_LENGTH = 256
MAX_NUMBER_TEXT_LENGTH = 64  # a number sent as a string
MAX_TIMESTAMP_TEXT_LENGTH = 64
MAX_TOPIC_LENGTH = 256  # AWS IoT Core's limit on a topic name
MAX_NESTING_DEPTH = 32  # objects and arrays within a reading; a device's reading is flat

# Metadata that becomes tags: bounded, so a bad item cannot explode series or line size.
MAX_TAG_VALUE_LENGTH = 256
MAX_TAG_KEY_LENGTH = 64
MAX_METADATA_TAGS = 32

# Device time: earlier than this is a device without a clock; later than now + the skew is a wrong clock.
EARLIEST_READING_MS = 946_684_800_000  # 2000-01-01T00:00:00Z
MAX_CLOCK_SKEW_MS = 24 * 3600 * 1000
# A numeric timestamp below this is in seconds (until the year 5138), otherwise in milliseconds.
SECONDS_MILLISECONDS_BOUNDARY = 100_000_000_000
NANOSECONDS_PER_MILLISECOND = 1_000_000

# SQS: a message and a SendMessageBatch request are at most 256 KiB; a batch at most 10 entries.
SQS_MAX_MESSAGE_BYTES = 256 * 1024
SQS_MAX_BATCH_ENTRIES = 10
DYNAMODB_MAX_BATCH_GET_KEYS = 100

HEALTH_MEASUREMENT = "ingest_health"
SENSOR_ID_TAG = "sensorID"
METAKEY = "metakey"

# What INFLUXDB_CA_CERTIFICATE (environment.py) holds with the managed store (an output cannot be empty): its
# certificate is a public one, verified against the system's roots. services/grafana/start.sh and
# services/chronograf/start.sh read the same value.
SYSTEM_ROOTS = "system-roots"
