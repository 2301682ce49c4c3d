#!/bin/sh
# Brings a backup made by backup-influxdb.sh (directory $1) back into the RUNNING InfluxDB, keeping whatever was
# written since: the backup is restored beside the live database under a temporary name (`influxd restore
# -portable -newdb`, through the RPC port on 127.0.0.1), each retention policy's points are copied into the live
# database with SELECT ... INTO ... GROUP BY * (tags stay tags, field types are kept; a point already there with the
# same series and time is overwritten by the backup's, which is the same reading), and the temporary database is
# dropped. Restoring straight onto the live name is not done: influxd 1.x refuses an existing database, and one
# dropped then restored under its old name answers "shard is disabled" (measured on 1.6.7).
# Needs the admin (INFLUXDB_ADMIN_USER / INFLUXDB_ADMIN_PASSWORD, from the environment, never the command line).
set -eu

: "${INFLUXDB_HOST:=127.0.0.1}"
: "${INFLUXDB_PORT:=8086}"
: "${INFLUXDB_RPC:=127.0.0.1:8088}"
: "${INFLUXDB_DB:=telemetry}"
: "${INFLUXDB_ADMIN_USER:?set INFLUXDB_ADMIN_USER}"
: "${INFLUXDB_ADMIN_PASSWORD:?set INFLUXDB_ADMIN_PASSWORD}"
source=${1:?usage: restore-influxdb.sh BACKUP-DIRECTORY}
ls "$source"/*.manifest >/dev/null 2>&1 || { echo "restore: $source holds no portable backup (*.manifest)" >&2; exit 2; }

export INFLUX_USERNAME="$INFLUXDB_ADMIN_USER" INFLUX_PASSWORD="$INFLUXDB_ADMIN_PASSWORD"
# INFLUXDB_CA_FILE: influxd serves HTTPS; the CLI verifies it against that CA alone (as init-influxdb.sh).
ssl=""
if [ -n "${INFLUXDB_CA_FILE:-}" ]; then
  ssl="-ssl"
  export SSL_CERT_FILE="$INFLUXDB_CA_FILE"
fi
q() { influx $ssl -host "$INFLUXDB_HOST" -port "$INFLUXDB_PORT" -format csv -execute "$1"; }
# The values of one column of a csv answer (header lines skipped), e.g. the names of SHOW MEASUREMENTS.
column() { awk -F, -v n="$1" 'NR > 1 && $1 != "name" {print $n}'; }

staging="${INFLUXDB_DB}_restore_$(date -u +%Y%m%dT%H%M%S)_$$"
trap 'q "DROP DATABASE \"$staging\"" >/dev/null 2>&1 || true' EXIT
influxd restore -portable -db "$INFLUXDB_DB" -newdb "$staging" -host "$INFLUXDB_RPC" "$source" >&2

# influxd answers "shard is disabled" for a moment after a restore (influxdata/influxdb#11935, #19510): each
# statement on the restored database is tried again for up to 30 s, then the restore fails, saying so (the backup
# itself is untouched).
retry() { # statement
  tries=0
  until answer=$(q "$1" 2>&1); do
    tries=$((tries + 1))
    if [ "$tries" -ge 30 ]; then
      echo "restore: $1 failed: $answer" >&2
      return 1
    fi
    sleep 1
  done
  printf '%s\n' "$answer"
}

q "CREATE DATABASE \"$INFLUXDB_DB\"" >/dev/null # no-op when it exists (its policies are init-influxdb.sh's)
answer=$(q "SHOW RETENTION POLICIES ON \"$INFLUXDB_DB\"")
existing=$(printf '%s\n' "$answer" | column 1)
answer=$(retry "SHOW MEASUREMENTS ON \"$staging\"")
measurements=$(printf '%s\n' "$answer" | column 2)
answer=$(retry "SHOW RETENTION POLICIES ON \"$staging\"")
policies=$(printf '%s\n' "$answer" | awk -F, 'NR > 1 && $1 != "name" {print $1 ":" $2}')
for policy in $policies; do
  rp=${policy%%:*}
  if ! printf '%s\n' "$existing" | grep -qx "$rp"; then
    q "CREATE RETENTION POLICY \"$rp\" ON \"$INFLUXDB_DB\" DURATION ${policy#*:} REPLICATION 1" >/dev/null
  fi
  for measurement in $measurements; do
    answer=$(retry "SELECT * INTO \"$INFLUXDB_DB\".\"$rp\".\"$measurement\" FROM \"$staging\".\"$rp\".\"$measurement\" GROUP BY *")
    echo "restore: $rp.$measurement: $(printf '%s\n' "$answer" | column 3) points"
  done
done
echo "restore: $source is back in $INFLUXDB_DB"
