#!/bin/sh
# Command of the chronograf container (official image chronograf): connects Chronograf to the store as the reader,
# with whichever credentials the reader's secret holds, then runs Chronograf. No image build.
#   INFLUXDB_READER        the reader's secret, JSON: {"token": ...} (the managed store, InfluxDB 2.x) or
#                          {"username": ..., "password": ...} (the ECS store, InfluxDB 1.8)
#   INFLUXDB_ORGANIZATION  the managed store's organization (Chronograf's InfluxDB v2 connection needs it)
# With a token Chronograf connects with "InfluxDB v2 auth" (INFLUXDB_ORG, INFLUXDB_TOKEN) and reads through the
# 1.x-compatible InfluxQL API and the store's DBRP mappings; with a username and password as to InfluxDB 1.x.
# ("InfluxDB v2 auth" since Chronograf 1.8.9, influxdata/chronograf#5662; INFLUXDB_ORG and INFLUXDB_TOKEN are its
# server options, server/server.go.)
#   INFLUXDB_CA_CERTIFICATE  PEM of the CA of the ECS store's certificate (system-roots with the managed store):
#                            written to
#                            a directory Go's TLS reads its roots from (SSL_CERT_DIR, beside the system's bundle,
#                            which the OAuth provider still needs), so Chronograf verifies the store against it.
set -eu

if [ "${INFLUXDB_CA_CERTIFICATE:-system-roots}" != system-roots ]; then
  roots="${TMPDIR:-/tmp}/influxdb-ca"
  mkdir -p "$roots"
  printf '%s\n' "$INFLUXDB_CA_CERTIFICATE" >"$roots/influxdb-ca.pem"
  SSL_CERT_DIR="$roots:${SSL_CERT_DIR:-/etc/ssl/certs}"
  export SSL_CERT_DIR
  echo "start: Chronograf verifies InfluxDB against its CA"
fi
unset INFLUXDB_CA_CERTIFICATE

: "${INFLUXDB_READER:?set INFLUXDB_READER}"

# One string value of the flat JSON secret (the generated passwords and InfluxDB tokens hold no quote or backslash).
secret_value() {
  printf '%s' "$INFLUXDB_READER" | tr -d '\n' | sed -n "s/.*\"$1\"[[:space:]]*:[[:space:]]*\"\([^\"]*\)\".*/\1/p"
}
token=$(secret_value token)
if [ -n "$token" ]; then
  : "${INFLUXDB_ORGANIZATION:?set INFLUXDB_ORGANIZATION}"
  INFLUXDB_TOKEN=$token
  INFLUXDB_ORG=$INFLUXDB_ORGANIZATION
  export INFLUXDB_TOKEN INFLUXDB_ORG
  echo "start: Chronograf reads InfluxDB with the reader's token (organization $INFLUXDB_ORG)"
else
  INFLUXDB_USERNAME=$(secret_value username)
  INFLUXDB_PASSWORD=$(secret_value password)
  [ -n "$INFLUXDB_USERNAME" ] && [ -n "$INFLUXDB_PASSWORD" ] || {
    echo "start: INFLUXDB_READER holds neither a token nor a username and password" >&2
    exit 1
  }
  export INFLUXDB_USERNAME INFLUXDB_PASSWORD
  echo "start: Chronograf reads InfluxDB as $INFLUXDB_USERNAME"
fi
unset INFLUXDB_READER token

exec "${CHRONOGRAF_RUN:-chronograf}" "$@"
