"""What the relational stack (infrastructure/stacks/relational.py), the SQL sink's set-up function, the ingest
function and the sandbox share, declared once, here: the handler, the custom resource's property names, the
database, the users' roles and the secrets' keys."""

from __future__ import annotations

# In the function zip beside ingest_to_influxdb (infrastructure/artifacts.py).
HANDLER = "sql_setup.handler.handler"

DATABASE = "telemetry"  # the schema the events tables live in (MySQL's database)

# The custom resource's properties (all strings, as CloudFormation passes them).
RESOURCE_ARN = "ResourceArn"  # the Aurora cluster's ARN, which the RDS Data API takes
MASTER_SECRET_ARN = "MasterSecretArn"  # the cluster's master user: creates the schema and the users
WRITER_SECRET_ARN = "WriterSecretArn"  # the functions' user: INSERT (and SELECT for idempotent replays)
READER_SECRET_ARN = "ReaderSecretArn"  # analysts' and BI tools' user (QuickSight): SELECT only
SCHEMA_VERSION = "SchemaVersion"  # changes when the schema does, so an update re-runs the step
REQUIRED = (RESOURCE_ARN, MASTER_SECRET_ARN, WRITER_SECRET_ARN, READER_SECRET_ARN, SCHEMA_VERSION)

# The users' secrets are what the Data API reads: "The secret must contain username and password" (RDS Data API,
# ExecuteStatement secretArn). The relational stack generates them; the set-up step makes the users to match.
USERNAME_KEY = "username"
PASSWORD_KEY = "password"
ROLES = {"master": "sink_admin", "writer": "sink_writer", "reader": "sink_reader"}  # role -> MySQL user name
