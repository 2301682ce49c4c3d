"""The SQL sink's schema as code: the tables, their migrations and the statements the function runs.

Every statement is one MariaDB 10.11 (the sandbox's) and MySQL 8 (Aurora MySQL 3, through the RDS Data API) both
take: no `INSERT ... AS new` (MySQL only), no `RETURNING` (MariaDB only), no JSON column (MariaDB's is text).

`events` is the seed system's table (`id`, `ts`, `value`, `board`, `sensor`), one row per field value of a
reading, with:
- `ts` a `DATETIME(3)` in UTC: the seed's one-second `DATETIME` would merge two readings of a second. A
  DATETIME is never converted by the session's time zone (a TIMESTAMP would be), so what is written is read.
- `board` the reading's kind (the catalog's name: `pressure`, `shelf`, ...), `sensor` its sensor id (InfluxDB's
  `sensorID` tag), `field` the field's name (`pressureValue`, `viscosity`): a kind has several fields.
- a UNIQUE key on what identifies a reading's value, (sensor, board, field, ts): the board is in it because two
  kinds may share a sensor id, a field name and a millisecond, as two InfluxDB measurements may. A retried or
  replayed reading meets the key and never adds a row.
- indexes on `ts` (every chart's range) and on (`board`, `ts`) (one kind's readings over a range).
- text columns in `utf8mb4_bin`: a case-insensitive collation would take `Pump-1` and `pump-1` as one sensor
  (one key), which InfluxDB keeps apart.

The enrichment tags (the device's metadata, and a reading's own tags such as the shelf's `product_id`) go into
`event_tags`, one row per tag of a reading, keyed by the reading (sensor, board, ts) and the tag's name. Why:
- they are the tags as they were when the reading was taken, as InfluxDB keeps them on each point: grouping
  last month's readings by `site` gives the site they were read at, and the same numbers as InfluxDB's GROUP BY.
  (A `sensors` table of each sensor's current tags would regroup history whenever a device moves.)
- name/value rows join with plain SQL every BI tool speaks (`JOIN event_tags t ON (t.sensor, t.board, t.ts) =
  (e.sensor, e.board, e.ts) AND t.name = 'site'`), and a new metadata attribute needs no migration; a JSON
  column would need engine-specific functions (MariaDB's JSON is text).
- a reading's tags are written before its values: a row of `events` means its tags are there.

Writes are `INSERT ... ON DUPLICATE KEY UPDATE`, not `INSERT IGNORE`: IGNORE turns *every* error into a warning
(a value too long is cut, a NULL becomes 0 or ''), so a value the database should refuse would land wrong; the
upsert only meets the unique key, and replaces the value there, as InfluxDB does with a point written again.
(`VALUES(col)` is what both engines take in the update list; MySQL 8 calls it deprecated, not removed.)
An upsert that meets the key uses up an AUTO_INCREMENT value: ids may have gaps, never duplicates.

Migrations are numbered steps, each recorded in `schema_migrations` once it has run; each statement is
idempotent (CREATE ... IF NOT EXISTS) so a step stopped half-way runs again whole. `VERSION` is the newest step:
the relational stack passes it to the set-up step (sql_setup.constants.SCHEMA_VERSION) so a deploy with a new
step runs the set-up again.
"""

from __future__ import annotations

from dataclasses import dataclass

EVENTS = "events"
EVENT_TAGS = "event_tags"
MIGRATIONS_TABLE = "schema_migrations"

# Column sizes, in characters. A sensor id is at most a few identifiers of MAX_IDENTIFIER_LENGTH (128) joined with
# "-"; a kind's and a field's names are the catalog's; tags are bounded as InfluxDB's (constants.MAX_TAG_*). The
# unique keys stay within InnoDB's 3072-byte index key at 4 bytes a character.
SENSOR_LENGTH = 400
BOARD_LENGTH = 64
FIELD_LENGTH = 64
TAG_NAME_LENGTH = 64
TAG_VALUE_LENGTH = 256

_TEXT = "CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
_TABLE = "ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    statements: tuple[str, ...]


CREATE_MIGRATIONS_TABLE = f"""CREATE TABLE IF NOT EXISTS {MIGRATIONS_TABLE} (
  version INT NOT NULL PRIMARY KEY,
  description VARCHAR(255) NOT NULL,
  applied_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3)
) {_TABLE}"""

MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "events (one row per field value of a reading) and event_tags (its tags as they were)",
        (
            f"""CREATE TABLE IF NOT EXISTS {EVENTS} (
  id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  ts DATETIME(3) NOT NULL COMMENT 'the reading''s time, UTC',
  value DOUBLE NOT NULL,
  board VARCHAR({BOARD_LENGTH}) {_TEXT} NOT NULL COMMENT 'the kind of the device (catalog name)',
  sensor VARCHAR({SENSOR_LENGTH}) {_TEXT} NOT NULL COMMENT 'the sensor id (InfluxDB''s sensorID tag)',
  field VARCHAR({FIELD_LENGTH}) {_TEXT} NOT NULL COMMENT 'the field of the kind',
  UNIQUE KEY events_reading (sensor, board, field, ts),
  KEY events_ts (ts),
  KEY events_board_ts (board, ts)
) {_TABLE}""",
            f"""CREATE TABLE IF NOT EXISTS {EVENT_TAGS} (
  sensor VARCHAR({SENSOR_LENGTH}) {_TEXT} NOT NULL,
  board VARCHAR({BOARD_LENGTH}) {_TEXT} NOT NULL,
  ts DATETIME(3) NOT NULL,
  name VARCHAR({TAG_NAME_LENGTH}) {_TEXT} NOT NULL,
  value VARCHAR({TAG_VALUE_LENGTH}) {_TEXT} NOT NULL,
  PRIMARY KEY (sensor, board, ts, name),
  KEY event_tags_name_value (name, value)
) {_TABLE}""",
        ),
    ),
)
VERSION = MIGRATIONS[-1].version  # the schema's version: the set-up step's SchemaVersion property
TABLES = (EVENTS, EVENT_TAGS, MIGRATIONS_TABLE)  # what the users are granted on

APPLIED_VERSIONS = f"SELECT version FROM {MIGRATIONS_TABLE}"
RECORD_MIGRATION = (
    f"INSERT INTO {MIGRATIONS_TABLE} (version, description) VALUES (:version, :description) "
    "ON DUPLICATE KEY UPDATE description = VALUES(description)"
)

# The function's writes: one parameter set per field value, per tag (the Data API's named parameters).
INSERT_EVENT = (
    f"INSERT INTO {EVENTS} (ts, value, board, sensor, field) VALUES (:ts, :value, :board, :sensor, :field) "
    "ON DUPLICATE KEY UPDATE value = VALUES(value)"
)
INSERT_TAG = (
    f"INSERT INTO {EVENT_TAGS} (sensor, board, ts, name, value) VALUES (:sensor, :board, :ts, :name, :value) "
    "ON DUPLICATE KEY UPDATE value = VALUES(value)"
)

# Readings per kind (board) whose time lies in a window: a reading is its values' (sensor, ts) in `events`, one row
# per field. The accounting's count of what the SQL sink holds.
READINGS_BY_BOARD = (
    f"SELECT board, COUNT(DISTINCT sensor, ts) AS readings FROM {EVENTS} "
    "WHERE ts >= :start AND ts <= :end GROUP BY board"
)

# Readings per hour per sensor of one kind's field: the dashboard's chart (the seed's QuickSight X axis
# aggregated by hour), the same numbers as InfluxDB's `GROUP BY time(1h), sensorID`. The hour is computed without
# a '%' or ':' in the text, which a client's parameter syntax could take for its own.
HOURLY = (
    "SELECT DATE(ts) + INTERVAL HOUR(ts) HOUR AS hour, sensor, COUNT(*) AS readings, AVG(value) AS mean "
    f"FROM {EVENTS} WHERE board = :board AND field = :field AND ts >= :start AND ts < :end "
    "GROUP BY hour, sensor ORDER BY hour, sensor"
)


def pending(applied: set[int]) -> tuple[Migration, ...]:
    """The steps not yet recorded as applied, oldest first."""
    return tuple(migration for migration in MIGRATIONS if migration.version not in applied)
