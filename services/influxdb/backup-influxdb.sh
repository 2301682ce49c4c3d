#!/bin/sh
# One backup of the telemetry database: `influxd backup -portable` (a consistent snapshot of every shard and the
# database's metadata, taken while influxd keeps writing) into the new directory $1. It speaks to influxd's RPC
# port, which listens on 127.0.0.1 only (INFLUXDB_RPC, default 127.0.0.1:8088): so it runs inside the influxdb task
# (services/influxdb/backup-loop.sh) or, locally, beside the sandbox's influxd (`make backup`). The directory
# appears complete or not at all: the backup is written beside it and renamed when done.
set -eu

: "${INFLUXDB_DB:=telemetry}"
: "${INFLUXDB_RPC:=127.0.0.1:8088}"
target=${1:?usage: backup-influxdb.sh NEW-DIRECTORY}
[ ! -e "$target" ] || { echo "backup: $target exists already" >&2; exit 2; }

partial="$target.partial"
rm -rf "$partial"
influxd backup -portable -db "$INFLUXDB_DB" -host "$INFLUXDB_RPC" "$partial" >"$partial.log" 2>&1 || {
  cat "$partial.log" >&2
  rm -rf "$partial" "$partial.log"
  echo "backup: influxd backup of $INFLUXDB_DB failed" >&2
  exit 1
}
rm -f "$partial.log"
mv "$partial" "$target"
echo "backup: $INFLUXDB_DB in $target ($(ls "$target" | wc -l) files)"
