#!/bin/sh
# Creates the telemetry database, its retention policies, its three users and the continuous queries that keep
# 1-minute and 1-hour means, on a running influxd with authentication on.
# Idempotent: safe at every start (a changed duration or query is applied). Used by the ECS task and by the local
# sandbox alike. INFLUXDB_DOWNSAMPLED says what the continuous queries keep, one line per device kind of the catalog
# (device-kinds/, written by catalog/export.py): "measurement aggregate:field:column ...". Optional, with defaults: INFLUXDB_RAW_RETENTION (30d), INFLUXDB_1M_RETENTION (90d),
# INFLUXDB_1H_RETENTION (1095d, three years).
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
: "${INFLUXDB_RAW_RETENTION:=30d}"
: "${INFLUXDB_1M_RETENTION:=90d}"
: "${INFLUXDB_1H_RETENTION:=1095d}"
: "${INFLUXDB_DOWNSAMPLED:?set INFLUXDB_DOWNSAMPLED to the catalog's downsampling (catalog/export.py)}"

# Passwords never appear on a command line (every process's is readable by everyone in /proc): the CLI takes the
# admin's from the environment, and a statement holding a password reaches it on its standard input, written by
# the shell's built-in printf.
export INFLUX_USERNAME="$INFLUXDB_ADMIN_USER" INFLUX_PASSWORD="$INFLUXDB_ADMIN_PASSWORD"

# INFLUXDB_CA_FILE: influxd serves HTTPS with a certificate that CA signed; the CLI (Go) verifies it against that
# file alone (SSL_CERT_FILE replaces the system's roots), so a server with another certificate is refused.
ssl=""
if [ -n "${INFLUXDB_CA_FILE:-}" ]; then
  ssl="-ssl"
  export SSL_CERT_FILE="$INFLUXDB_CA_FILE"
fi

q() { influx $ssl -host "$INFLUXDB_HOST" -port "$INFLUXDB_PORT" -execute "$1"; }
q_secret() { printf '%s\n' "$1" | influx $ssl -host "$INFLUXDB_HOST" -port "$INFLUXDB_PORT"; }
quote() { printf "%s" "$1" | sed "s/'/\\\\'/g"; }

# INFLUXDB_RESET_ADMIN=1: only set the admin's password (and privileges) from the secret, on an influxd that
# start.sh runs with authentication off and listening on 127.0.0.1 only (its break-glass start, below).
if [ "${INFLUXDB_RESET_ADMIN:-}" = 1 ]; then
  unset INFLUX_USERNAME INFLUX_PASSWORD
  if q "SHOW USERS" | awk '{print $1}' | grep -qx "$INFLUXDB_ADMIN_USER"; then
    q_secret "SET PASSWORD FOR \"$INFLUXDB_ADMIN_USER\" = '$(quote "$INFLUXDB_ADMIN_PASSWORD")'"
    q "GRANT ALL PRIVILEGES TO \"$INFLUXDB_ADMIN_USER\""
  else
    q_secret "CREATE USER \"$INFLUXDB_ADMIN_USER\" WITH PASSWORD '$(quote "$INFLUXDB_ADMIN_PASSWORD")' WITH ALL PRIVILEGES"
  fi
  echo "init-influxdb: the admin's password is the secret's again"
  exit 0
fi

# With auth on and no user yet, influxd accepts exactly one unauthenticated CREATE USER ... WITH ALL PRIVILEGES.
# Once users exist it refuses that, so a refused admin password (the secret was changed, or made anew with the
# stack on the retained file system) ends here with status 3: start.sh then resets it (INFLUXDB_RESET_ADMIN).
if ! q "SHOW DATABASES" >/dev/null 2>&1; then
  if ! (
    unset INFLUX_USERNAME INFLUX_PASSWORD
    q_secret "CREATE USER \"$INFLUXDB_ADMIN_USER\" WITH PASSWORD '$(quote "$INFLUXDB_ADMIN_PASSWORD")' WITH ALL PRIVILEGES"
  ) >/dev/null 2>&1; then
    echo "init-influxdb: the admin's password in the secret is refused, and users exist" >&2
    exit 3
  fi
fi

q "CREATE DATABASE \"$INFLUXDB_DB\""

ensure_user() { # name password privilege
  if q "SHOW USERS" | awk '{print $1}' | grep -qx "$1"; then
    q_secret "SET PASSWORD FOR \"$1\" = '$(quote "$2")'"
  else
    q_secret "CREATE USER \"$1\" WITH PASSWORD '$(quote "$2")'"
  fi
  q "GRANT $3 ON \"$INFLUXDB_DB\" TO \"$1\""
}
ensure_user "$INFLUXDB_WRITE_USER" "$INFLUXDB_WRITE_USER_PASSWORD" WRITE
ensure_user "$INFLUXDB_READ_USER" "$INFLUXDB_READ_USER_PASSWORD" READ

# Retention: raw points in the default policy "autogen" (readings are written without a policy), the means in
# rp_1m and rp_1h. ALTER when the policy exists, so a changed duration is applied at the next start.
ensure_rp() { # name duration shard-duration [DEFAULT]
  if q "SHOW RETENTION POLICIES ON \"$INFLUXDB_DB\"" | awk '{print $1}' | grep -qx "$1"; then
    q "ALTER RETENTION POLICY \"$1\" ON \"$INFLUXDB_DB\" DURATION $2 REPLICATION 1 SHARD DURATION $3 ${4:-}"
  else
    q "CREATE RETENTION POLICY \"$1\" ON \"$INFLUXDB_DB\" DURATION $2 REPLICATION 1 SHARD DURATION $3 ${4:-}"
  fi
}
ensure_rp autogen "$INFLUXDB_RAW_RETENTION" 1d DEFAULT
ensure_rp rp_1m "$INFLUXDB_1M_RETENTION" 7d
ensure_rp rp_1h "$INFLUXDB_1H_RETENTION" 30d

# Continuous queries: each kind's aggregates (the mean under the field's own name), grouped by every tag, under the
# same measurement in rp_1m / rp_1h. Both read the raw points (a mean of means would weigh sparse minutes wrongly). RESAMPLE ...
# FOR recomputes the last windows, so readings that arrive late (device time, replayed dead letters) still count.
# Dropped and created again so that a changed definition takes effect.
ensure_cq() { # name interval resample-every resample-for measurement aggregate:field:column...
  name=$1 interval=$2 every=$3 window=$4 measurement=$5
  shift 5
  select=""
  for column in "$@"; do
    aggregate=${column%%:*} rest=${column#*:}
    select="${select:+$select, }$aggregate(\"${rest%%:*}\") AS \"${rest#*:}\""
  done
  q "DROP CONTINUOUS QUERY \"$name\" ON \"$INFLUXDB_DB\"" >/dev/null 2>&1 || true
  q "CREATE CONTINUOUS QUERY \"$name\" ON \"$INFLUXDB_DB\" RESAMPLE EVERY $every FOR $window BEGIN \
SELECT $select INTO \"$INFLUXDB_DB\".\"rp_$interval\".\"$measurement\" \
FROM \"$INFLUXDB_DB\".\"autogen\".\"$measurement\" GROUP BY time($interval), * END"
}
echo "$INFLUXDB_DOWNSAMPLED" | while read -r measurement columns; do
  [ -n "$measurement" ] || continue
  # shellcheck disable=SC2086 # the column list is meant to split into words
  ensure_cq "cq_${measurement}_1m" 1m 1m 10m "$measurement" $columns
  # shellcheck disable=SC2086
  ensure_cq "cq_${measurement}_1h" 1h 1h 3h "$measurement" $columns
done

# The continuous queries of a kind no longer downsampled (removed from the catalog, or its downsampling dropped)
# are dropped, so the catalog alone says which exist; the points stay (raw in autogen, means in rp_1m / rp_1h)
# until their retention ends. Only this script's names (cq_<measurement>_1m / _1h) are touched.
wanted=$(echo "$INFLUXDB_DOWNSAMPLED" | awk 'NF { print "cq_" $1 "_1m"; print "cq_" $1 "_1h" }')
influx $ssl -host "$INFLUXDB_HOST" -port "$INFLUXDB_PORT" -format csv -execute "SHOW CONTINUOUS QUERIES" |
  awk -F, -v db="$INFLUXDB_DB" '$1 == db && $2 ~ /^cq_.+_1[mh]$/ { print $2 }' |
  while read -r name; do
    if ! printf '%s\n' "$wanted" | grep -qx "$name"; then
      q "DROP CONTINUOUS QUERY \"$name\" ON \"$INFLUXDB_DB\""
      echo "init-influxdb: dropped $name: its kind is no longer downsampled (its points stay)"
    fi
  done

echo "init-influxdb: database $INFLUXDB_DB, retention policies, users and continuous queries ready"
