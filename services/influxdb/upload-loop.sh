#!/bin/sh
# Command of the influxdb task's `backup-upload` container (the official AWS CLI image; the influxdb image has no
# AWS CLI). Copies each finished backup under $INFLUXDB_BACKUP_DIR/outgoing/<name>/ to
# s3://$BACKUP_BUCKET/influxdb/<name>/ (the bucket is versioned and encrypted with the data key by default), then
# deletes it from the file system; a failed copy is tried again at the next round and nothing is deleted before it
# is in the bucket. INFLUXDB_RESTORE=s3://<bucket>/influxdb/<name>/ (the stack's RestoreBackup parameter): fetches
# that backup into restore/<name>/ for backup-loop.sh to restore (once: restored/<name> says it was).
# `.partial` directories are backups still being written. METRIC_NAMESPACE, METRIC_NAME, ENVIRONMENT_NAME: each
# backup in the bucket is counted in CloudWatch, which the influxdb-BackupMissing alarm watches.
set -eu

: "${BACKUP_BUCKET:?set BACKUP_BUCKET}"
: "${BACKUP_PREFIX:=influxdb/}"
: "${INFLUXDB_BACKUP_DIR:=/var/lib/influxdb/backups}"
: "${INFLUXDB_RESTORE:=}"
: "${POLL_SECONDS:=30}"

stopping=0
trap 'stopping=1' TERM INT
mkdir -p "$INFLUXDB_BACKUP_DIR/outgoing" "$INFLUXDB_BACKUP_DIR/restore" "$INFLUXDB_BACKUP_DIR/restored"

while [ "$stopping" = 0 ]; do
  for backup in "$INFLUXDB_BACKUP_DIR"/outgoing/*; do
    [ -d "$backup" ] || continue
    case "$backup" in *.partial) continue ;; esac
    name=$(basename "$backup")
    if aws s3 cp --recursive --only-show-errors "$backup" "s3://$BACKUP_BUCKET/$BACKUP_PREFIX$name/"; then
      rm -rf "$backup"
      echo "upload-loop: backup $name is in s3://$BACKUP_BUCKET/$BACKUP_PREFIX$name/"
      if [ -n "${METRIC_NAME:-}" ]; then # counted for the BackupMissing alarm
        aws cloudwatch put-metric-data --namespace "$METRIC_NAMESPACE" --metric-name "$METRIC_NAME" \
          --dimensions "Environment=$ENVIRONMENT_NAME" --value 1 ||
          echo "upload-loop: could not count backup $name in CloudWatch (the BackupMissing alarm may fire)" >&2
      fi
    else
      echo "upload-loop: copying backup $name failed; trying again in $POLL_SECONDS s" >&2
    fi
  done
  name=$(basename "$INFLUXDB_RESTORE")
  wanted="$INFLUXDB_BACKUP_DIR/restore/$name"
  if [ -n "$INFLUXDB_RESTORE" ] && [ ! -e "$wanted/.fetched" ] && [ ! -e "$INFLUXDB_BACKUP_DIR/restored/$name" ]; then
    if aws s3 cp --recursive --only-show-errors "$INFLUXDB_RESTORE" "$wanted/" &&
      ls "$wanted"/*.manifest >/dev/null 2>&1; then
      touch "$wanted/.fetched"
      echo "upload-loop: backup $INFLUXDB_RESTORE fetched for restoring"
    else
      echo "upload-loop: no backup at $INFLUXDB_RESTORE; trying again in $POLL_SECONDS s" >&2
    fi
  fi
  sleep "$POLL_SECONDS" &
  wait $! || true
done
