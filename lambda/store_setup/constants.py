"""What the influxdb stack (infrastructure/stacks/influxdb.py) and the store's set-up function share, declared
once, here: the handler, the custom resource's property names, the secrets' keys, the buckets, retention and
downsampling of the managed store (Amazon Timestream for InfluxDB, an InfluxDB v2 DB instance)."""

from __future__ import annotations

from dataclasses import dataclass

HANDLER = "store_setup.handler.handler"  # in the function zip beside ingest_to_influxdb (infrastructure/artifacts.py)

# The custom resource's properties (all strings, as CloudFormation passes them).
URL = "Url"  # the store's base URL, https://<instance endpoint>:8086
ADMIN_SECRET_ARN = "AdminSecretArn"  # the instance's InfluxAuthParametersSecretArn
ORGANIZATION = "Organization"
DATABASE = "Database"  # the 1.x database name the rest of the project writes and reads: "telemetry"
WRITER_SECRET_ARN = "WriterSecretArn"
READER_SECRET_ARN = "ReaderSecretArn"
RETENTION_DAYS = "RetentionDays"  # optional: the raw points' retention in days (0 keeps them for ever)
# catalog.export.downsampled(catalog): the text the ECS task gets as INFLUXDB_DOWNSAMPLED. Required (empty when no
# kind is downsampled), so a stack that forgets it fails rather than silently dropping the downsampling tasks.
DOWNSAMPLED = "Downsampled"
REQUIRED = (URL, ADMIN_SECRET_ARN, ORGANIZATION, DATABASE, WRITER_SECRET_ARN, READER_SECRET_ARN)  # not empty
PRESENT = (DOWNSAMPLED,)  # present, may be empty
OPTIONAL = (RETENTION_DAYS,)

# The secret Timestream for InfluxDB makes for the instance's admin (its InfluxAuthParametersSecretArn):
# "a JSON formatted key-value pair holding InfluxDB authorization values: organization, bucket, username, and
# password" (AWS SDK reference, GetDbInstance influxAuthParametersSecretArn). An operator "token", when an
# operator adds one, is used instead of signing in.
ADMIN_USERNAME_KEY = "username"
ADMIN_PASSWORD_KEY = "password"
ADMIN_ORGANIZATION_KEY = "organization"
ADMIN_BUCKET_KEY = "bucket"
ADMIN_TOKEN_KEY = "token"
# The writer's and reader's secrets: the token (its key is ingest_to_influxdb.secrets.TOKEN_KEY) and the ID of
# its authorization, by which a re-run checks it is still valid (InfluxDB 2.9 hashes tokens: a listed
# authorization no longer shows its token).
AUTHORIZATION_ID_KEY = "authorizationID"

# Retention policies and continuous queries of the ECS store (services/influxdb/init-influxdb.sh; a test holds
# them equal): raw points in the default policy, the means per minute and per hour in their own.
DEFAULT_POLICY = "autogen"
RAW_RETENTION_DAYS = 30


@dataclass(frozen=True)
class Downsampled:
    """A retention policy the continuous queries write, and how they run (RESAMPLE EVERY ... FOR ...)."""

    policy: str
    interval: str  # GROUP BY time(...) and RESAMPLE EVERY
    window: str  # RESAMPLE ... FOR: the last windows computed again, for readings that arrive late
    retention_days: int


DOWNSAMPLED_POLICIES = (
    Downsampled("rp_1m", "1m", "10m", 90),
    Downsampled("rp_1h", "1h", "3h", 1095),
)
TASK_PREFIX = "cq_"  # the tasks are named as the continuous queries: cq_<measurement>_<interval>


def bucket_name(database: str, policy: str) -> str:
    """The bucket of a database's retention policy: the database's own name for the default policy, `db/rp`
    otherwise (the naming InfluxDB's 1.x upgrade and virtual DBRP mappings use)."""
    return database if policy == DEFAULT_POLICY else f"{database}/{policy}"
