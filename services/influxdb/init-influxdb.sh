#!/bin/sh
# Creates the telemetry database and its three users on a running influxd with authentication on.
# Idempotent: safe at every start. Used by the ECS task and by the local sandbox alike.
set -eu

: "${INFLUXDB_HOST:=127.0.0.1}"
: "${INFLUXDB_PORT:=8086}"
: "${INFLUXDB_DB:=telemetry}"
: "${INFLUXDB_ADMIN_USER:?set INFLUXDB_ADMIN_USER}"
: "${INFLUXDB_ADMIN_PASSWORD:?set INFLUXDB_ADMIN_PASSWORD}"
: "${INFLUXDB_WRITE_USER:?set INFLUXDB_WRITE_USER}"
: "${INFLUXDB_WRITE_USER_PASSWORD:?set INFLUXDB_WRITE_USER_PASSWORD}"
: "${INFLUXDB_READ_USER:?set INFLUXDB_READ_USER}"
: "${INFLUXDB_READ_USER_PASSWORD:?set INFLUXDB_READ_USER_PASSWORD}"

# Passwords go to the CLI through the environment, never on its command line.
export INFLUX_USERNAME="$INFLUXDB_ADMIN_USER" INFLUX_PASSWORD="$INFLUXDB_ADMIN_PASSWORD"

q() { influx -host "$INFLUXDB_HOST" -port "$INFLUXDB_PORT" -execute "$1"; }
quote() { printf "%s" "$1" | sed "s/'/\\\\'/g"; }

# With auth on and no user yet, influxd accepts exactly one unauthenticated CREATE USER ... WITH ALL PRIVILEGES.
if ! q "SHOW DATABASES" >/dev/null 2>&1; then
  env -u INFLUX_USERNAME -u INFLUX_PASSWORD influx -host "$INFLUXDB_HOST" -port "$INFLUXDB_PORT" \
    -execute "CREATE USER \"$INFLUXDB_ADMIN_USER\" WITH PASSWORD '$(quote "$INFLUXDB_ADMIN_PASSWORD")' WITH ALL PRIVILEGES"
fi

q "CREATE DATABASE \"$INFLUXDB_DB\""

ensure_user() { # name password privilege
  if q "SHOW USERS" | awk '{print $1}' | grep -qx "$1"; then
    q "SET PASSWORD FOR \"$1\" = '$(quote "$2")'"
  else
    q "CREATE USER \"$1\" WITH PASSWORD '$(quote "$2")'"
  fi
  q "GRANT $3 ON \"$INFLUXDB_DB\" TO \"$1\""
}
ensure_user "$INFLUXDB_WRITE_USER" "$INFLUXDB_WRITE_USER_PASSWORD" WRITE
ensure_user "$INFLUXDB_READ_USER" "$INFLUXDB_READ_USER_PASSWORD" READ
echo "init-influxdb: database $INFLUXDB_DB and users ready"
