#!/bin/sh
# Command of the influxdb container (official image influxdb:1.8): starts influxd, waits until it answers /ping,
# runs init-influxdb.sh (database, retention policies, users, continuous queries; idempotent), then stays in the
# foreground with influxd, passing on the stop signal ECS sends. If the start-up script fails, influxd is stopped
# and the container exits non-zero, so ECS replaces the task instead of serving a database without its users.
#
# The task delivers the start-up script's text in the environment variable INIT_INFLUXDB_SH (no image build needed)
# and the passwords as secrets (see services/README.md). influxd's own settings come from INFLUXDB_* variables
# (INFLUXDB_HTTP_AUTH_ENABLED=true and friends). influxd is started directly rather than through the image's
# entrypoint, whose one-time initialisation acts only on an empty volume and would duplicate this script.
set -eu

: "${INIT_INFLUXDB_SH:?set INIT_INFLUXDB_SH to the text of services/influxdb/init-influxdb.sh}"
: "${INFLUXDB_PORT:=8086}"
export INFLUXDB_HOST=127.0.0.1 INFLUXDB_PORT

influxd &
pid=$!
trap 'kill -TERM "$pid" 2>/dev/null' TERM INT

tries=0
until [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$INFLUXDB_PORT/ping")" = 204 ]; do
  tries=$((tries + 1))
  if [ "$tries" -gt 120 ] || ! kill -0 "$pid" 2>/dev/null; then
    echo "start: influxd did not answer /ping within 60 s" >&2
    kill -TERM "$pid" 2>/dev/null || true
    exit 1
  fi
  sleep 0.5
done

script=$(mktemp)
printf '%s\n' "$INIT_INFLUXDB_SH" >"$script"
if ! sh "$script"; then
  echo "start: init-influxdb.sh failed; stopping influxd" >&2
  kill -TERM "$pid" 2>/dev/null || true
  wait "$pid" || true
  exit 1
fi
rm -f "$script"

# wait returns early when a signal arrives; then wait again for influxd to finish its shutdown. The container
# exits with influxd's status.
status=0
wait "$pid" || status=$?
if kill -0 "$pid" 2>/dev/null; then
  status=0
  wait "$pid" || status=$?
fi
exit "$status"
