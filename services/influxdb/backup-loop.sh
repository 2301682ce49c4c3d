#!/bin/sh
# Command of the influxdb task's `backup` container (the same influxdb image, so influxd's backup and restore
# tools; the same EFS access point). Inside the task it reaches influxd's RPC port on 127.0.0.1, which nothing
# outside the task can. Every INFLUXDB_BACKUP_INTERVAL seconds it makes a backup (backup-influxdb.sh) under
# $INFLUXDB_BACKUP_DIR/outgoing/<UTC time>/, which the `backup-upload` container (upload-loop.sh, the AWS CLI image)
# copies to the backup bucket and then deletes. INFLUXDB_RESTORE=s3://<bucket>/influxdb/<name>/ (the stack's
# RestoreBackup parameter): once the upload container has fetched it into restore/<name>/, it is restored into the
# running InfluxDB (restore-influxdb.sh) and restored/<name> records it, so a later task start does not repeat it.
# It is not essential to the task: if it stops, influxd goes on serving and the task alarm does not fire, but no new
# backup reaches the bucket (docs/operations.md: the backup age alarm).
set -eu

: "${BACKUP_INFLUXDB_SH:?set BACKUP_INFLUXDB_SH to the text of services/influxdb/backup-influxdb.sh}"
: "${RESTORE_INFLUXDB_SH:?set RESTORE_INFLUXDB_SH to the text of services/influxdb/restore-influxdb.sh}"
: "${INFLUXDB_BACKUP_INTERVAL:=21600}"
: "${INFLUXDB_BACKUP_DIR:=/var/lib/influxdb/backups}"
: "${INFLUXDB_RESTORE:=}"
: "${INFLUXDB_PORT:=8086}"
: "${POLL_SECONDS:=30}"

scripts=$(mktemp -d)
printf '%s\n' "$BACKUP_INFLUXDB_SH" >"$scripts/backup.sh"
printf '%s\n' "$RESTORE_INFLUXDB_SH" >"$scripts/restore.sh"
mkdir -p "$INFLUXDB_BACKUP_DIR/outgoing" "$INFLUXDB_BACKUP_DIR/restore" "$INFLUXDB_BACKUP_DIR/restored"
stopping=0
trap 'stopping=1' TERM INT

# INFLUXDB_TLS_CA_CERTIFICATE (the task's TLS secret): influxd serves HTTPS, verified against this CA on 127.0.0.1
# here and by restore-influxdb.sh's CLI (INFLUXDB_CA_FILE).
scheme=http
curl_ca=""
if [ -n "${INFLUXDB_TLS_CA_CERTIFICATE:-}" ]; then
  INFLUXDB_CA_FILE="$scripts/ca.pem"
  printf '%s\n' "$INFLUXDB_TLS_CA_CERTIFICATE" >"$INFLUXDB_CA_FILE"
  export INFLUXDB_CA_FILE
  scheme=https
  curl_ca="--cacert $INFLUXDB_CA_FILE"
fi
# shellcheck disable=SC2086 # curl_ca is two words or none
answers() { [ "$(curl -s $curl_ca -o /dev/null -w '%{http_code}' "$scheme://127.0.0.1:$INFLUXDB_PORT/ping")" = 204 ]; }

name=$(basename "${INFLUXDB_RESTORE:-none}")
next=0
while [ "$stopping" = 0 ]; do
  if answers; then
    if [ -n "$INFLUXDB_RESTORE" ] && [ -e "$INFLUXDB_BACKUP_DIR/restore/$name/.fetched" ] &&
      [ ! -e "$INFLUXDB_BACKUP_DIR/restored/$name" ]; then
      if sh "$scripts/restore.sh" "$INFLUXDB_BACKUP_DIR/restore/$name"; then
        date -u +%Y-%m-%dT%H:%M:%SZ >"$INFLUXDB_BACKUP_DIR/restored/$name"
        rm -rf "$INFLUXDB_BACKUP_DIR/restore/$name"
      else
        echo "backup-loop: restoring $INFLUXDB_RESTORE failed; trying again in $POLL_SECONDS s" >&2
      fi
    fi
    now=$(date -u +%s)
    if [ "$now" -ge "$next" ]; then
      if sh "$scripts/backup.sh" "$INFLUXDB_BACKUP_DIR/outgoing/$(date -u +%Y%m%dT%H%M%SZ)"; then
        next=$((now + INFLUXDB_BACKUP_INTERVAL))
      else
        echo "backup-loop: the backup failed; trying again in $POLL_SECONDS s" >&2
      fi
    fi
  fi
  sleep "$POLL_SECONDS" &
  wait $! || true
done
