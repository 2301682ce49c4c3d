#!/bin/sh
# Command of the influxdb container (official image influxdb:1.8): starts influxd, waits until it answers /ping,
# runs init-influxdb.sh (database, retention policies, users, continuous queries; idempotent), then stays in the
# foreground with influxd, passing on the stop signal ECS sends. If the start-up script fails, influxd is stopped
# and the container exits non-zero, so ECS replaces the task instead of serving a database without its users.
#
# The secrets are what the users' passwords are: the start-up script sets the writer's and the reader's at every
# start. When the database refuses the admin's password from the secret (it was rotated, or the stack was made
# anew on the retained file system with a new secret), the admin cannot log in to set anything, so this script
# makes the break-glass start: influxd again with authentication off, listening on 127.0.0.1 only (reachable from
# this task's own containers, nothing else: awsvpc gives each task its own network namespace) and with the
# Graphite listener off, sets the admin's password from the secret, and starts influxd as usual. It needs neither
# the previous value (AWSPREVIOUS, absent at a first deploy and wrong after two changes between restarts) nor
# the AWS CLI, which the image lacks.
#
# The task delivers the start-up script's text in the environment variable INIT_INFLUXDB_SH (no image build needed)
# and the passwords as secrets (see services/README.md). influxd's own settings come from INFLUXDB_* variables
# (INFLUXDB_HTTP_AUTH_ENABLED=true and friends). influxd is started directly rather than through the image's
# entrypoint, whose one-time initialisation acts only on an empty volume and would duplicate this script.
#
# HTTPS: INFLUXDB_TLS_CERTIFICATE, INFLUXDB_TLS_PRIVATE_KEY and INFLUXDB_TLS_CA_CERTIFICATE (PEM, from the task's
# TLS secret) are written to $INFLUXDB_TLS_DIR and influxd serves HTTPS only with them (INFLUXDB_HTTP_HTTPS_*,
# influxdb.conf's [http] https-enabled, https-certificate, https-private-key); this script, the start-up script's
# CLI and the health check verify the server against the CA on 127.0.0.1, which the certificate names. Without
# them influxd serves plain HTTP (only the tests that play the task without a certificate do that).
set -eu

: "${INIT_INFLUXDB_SH:?set INIT_INFLUXDB_SH to the text of services/influxdb/init-influxdb.sh}"
: "${INFLUXDB_PORT:=8086}"
export INFLUXDB_HOST=127.0.0.1 INFLUXDB_PORT

scheme=http
curl_ca=""
if [ -n "${INFLUXDB_TLS_CERTIFICATE:-}" ]; then
  : "${INFLUXDB_TLS_PRIVATE_KEY:?set INFLUXDB_TLS_PRIVATE_KEY with INFLUXDB_TLS_CERTIFICATE}"
  : "${INFLUXDB_TLS_CA_CERTIFICATE:?set INFLUXDB_TLS_CA_CERTIFICATE with INFLUXDB_TLS_CERTIFICATE}"
  : "${INFLUXDB_TLS_DIR:=/tmp/influxdb-tls}"
  mkdir -p "$INFLUXDB_TLS_DIR"
  (
    umask 077
    printf '%s\n' "$INFLUXDB_TLS_CERTIFICATE" >"$INFLUXDB_TLS_DIR/server.pem"
    printf '%s\n' "$INFLUXDB_TLS_PRIVATE_KEY" >"$INFLUXDB_TLS_DIR/server.key"
  )
  printf '%s\n' "$INFLUXDB_TLS_CA_CERTIFICATE" >"$INFLUXDB_TLS_DIR/ca.pem"
  chmod 0644 "$INFLUXDB_TLS_DIR/ca.pem"  # public: the health check reads it
  unset INFLUXDB_TLS_PRIVATE_KEY
  INFLUXDB_HTTP_HTTPS_ENABLED=true
  INFLUXDB_HTTP_HTTPS_CERTIFICATE="$INFLUXDB_TLS_DIR/server.pem"
  INFLUXDB_HTTP_HTTPS_PRIVATE_KEY="$INFLUXDB_TLS_DIR/server.key"
  INFLUXDB_CA_FILE="$INFLUXDB_TLS_DIR/ca.pem"  # init-influxdb.sh's CLI verifies with it
  export INFLUXDB_HTTP_HTTPS_ENABLED INFLUXDB_HTTP_HTTPS_CERTIFICATE INFLUXDB_HTTP_HTTPS_PRIVATE_KEY INFLUXDB_CA_FILE
  scheme=https
  curl_ca="--cacert $INFLUXDB_CA_FILE"
fi

pid=""
trap 'kill -TERM "$pid" 2>/dev/null' TERM INT

wait_ready() {
  tries=0
  # shellcheck disable=SC2086 # curl_ca is two words or none
  until [ "$(curl -s $curl_ca -o /dev/null -w '%{http_code}' "$scheme://127.0.0.1:$INFLUXDB_PORT/ping")" = 204 ]; do
    tries=$((tries + 1))
    if [ "$tries" -gt 120 ] || ! kill -0 "$pid" 2>/dev/null; then
      echo "start: influxd did not answer /ping within 60 s" >&2
      kill -TERM "$pid" 2>/dev/null || true
      exit 1
    fi
    sleep 0.5
  done
}

stop_influxd() {
  kill -TERM "$pid" 2>/dev/null || true
  wait "$pid" || true
}

script=$(mktemp)
printf '%s\n' "$INIT_INFLUXDB_SH" >"$script"

influxd &
pid=$!
wait_ready

status=0
sh "$script" || status=$?
if [ "$status" = 3 ]; then
  echo "start: the admin's password in the secret is refused; setting it with authentication off, on 127.0.0.1 only" >&2
  stop_influxd
  INFLUXDB_HTTP_AUTH_ENABLED=false INFLUXDB_HTTP_BIND_ADDRESS="127.0.0.1:$INFLUXDB_PORT" \
    INFLUXDB_GRAPHITE_0_ENABLED=false influxd &
  pid=$!
  wait_ready
  status=0
  INFLUXDB_RESET_ADMIN=1 sh "$script" || status=$?
  stop_influxd
  if [ "$status" = 0 ]; then
    influxd &
    pid=$!
    wait_ready
    sh "$script" || status=$?
  fi
fi
rm -f "$script"
if [ "$status" != 0 ]; then
  echo "start: init-influxdb.sh failed (status $status); stopping influxd" >&2
  stop_influxd
  exit 1
fi

# wait returns early when a signal arrives; then wait again for influxd to finish its shutdown. The container
# exits with influxd's status.
status=0
wait "$pid" || status=$?
if kill -0 "$pid" 2>/dev/null; then
  status=0
  wait "$pid" || status=$?
fi
exit "$status"
