#!/bin/sh
# Command of the grafana container (official image grafana/grafana-oss): writes the provisioning files that the
# task delivers in environment variables, checks the dashboards are there, then runs Grafana's own start script.
# No image build.
#   GRAFANA_DATASOURCES_YAML  text of services/grafana/provisioning/datasources/datasources.yaml
#   GRAFANA_DASHBOARDS_YAML   text of services/grafana/provisioning/dashboards/dashboards.yaml
#   INFLUXDB_READER           the reader's secret, JSON: {"token": ...} (the managed store) or {"username": ...,
#                             "password": ...} (the ECS store); becomes INFLUXDB_AUTHORIZATION, the data source's
#                             Authorization header (Token or Basic), and is not passed on to Grafana
#   INFLUXDB_CA_CERTIFICATE   PEM of the CA of the ECS store's certificate (system-roots with the managed store):
#                             the data source then verifies the store against it (tlsAuthWithCACert)
# The dashboards (grafana/dashboards/<name>.json and one per device kind) are copied from S3 into the dashboards
# folder by the task's init container before this starts (infrastructure/stacks/grafana.py), fresh at every start.
set -eu

: "${GRAFANA_DATASOURCES_YAML:?set GRAFANA_DATASOURCES_YAML}"
: "${GRAFANA_DASHBOARDS_YAML:?set GRAFANA_DASHBOARDS_YAML}"
: "${INFLUXDB_READER:?set INFLUXDB_READER}"

# One string value of the flat JSON secret (the generated passwords and InfluxDB tokens hold no quote or backslash).
secret_value() {
  printf '%s' "$INFLUXDB_READER" | tr -d '\n' | sed -n "s/.*\"$1\"[[:space:]]*:[[:space:]]*\"\([^\"]*\)\".*/\1/p"
}
token=$(secret_value token)
if [ -n "$token" ]; then
  INFLUXDB_AUTHORIZATION="Token $token"
  echo "start: the InfluxDB data source uses the reader's token"
else
  user=$(secret_value username)
  password=$(secret_value password)
  [ -n "$user" ] && [ -n "$password" ] || {
    echo "start: INFLUXDB_READER holds neither a token nor a username and password" >&2
    exit 1
  }
  INFLUXDB_AUTHORIZATION="Basic $(printf '%s:%s' "$user" "$password" | base64 | tr -d '\n')"
  echo "start: the InfluxDB data source uses the reader's username and password"
fi
export INFLUXDB_AUTHORIZATION
unset INFLUXDB_READER token user password

provisioning=${GF_PATHS_PROVISIONING:-/etc/grafana/provisioning}
dashboards=${GRAFANA_DASHBOARDS_DIR:-/var/lib/grafana/dashboards/iot-telemetry}  # options.path of dashboards.yaml

mkdir -p "$provisioning/datasources" "$provisioning/dashboards"
if [ "${INFLUXDB_CA_CERTIFICATE:-system-roots}" != system-roots ]; then
  printf '%s\n' "$GRAFANA_DATASOURCES_YAML" |
    sed 's/^\( *\)tlsAuthWithCACert: false$/\1tlsAuthWithCACert: true/' >"$provisioning/datasources/datasources.yaml"
  echo "start: the InfluxDB data source verifies the store against its CA"
else
  INFLUXDB_CA_CERTIFICATE=""
  export INFLUXDB_CA_CERTIFICATE
  printf '%s\n' "$GRAFANA_DATASOURCES_YAML" >"$provisioning/datasources/datasources.yaml"
fi
printf '%s\n' "$GRAFANA_DASHBOARDS_YAML" >"$provisioning/dashboards/dashboards.yaml"

count=$(find "$dashboards" -maxdepth 1 -name '*.json' 2>/dev/null | wc -l | tr -d ' ')
[ "$count" -gt 0 ] || {
  echo "start: no dashboard in $dashboards: the task's fetch-files container copies them from S3 (see its log)" >&2
  exit 1
}
echo "start: provisioning files written; $count dashboards in $dashboards"

# Alerting: GRAFANA_ALERTING_<NAME> holds services/grafana/provisioning/alerting/<name>.yaml (one variable per file,
# GRAFANA_ALERTING_ALERT_RULES is alert-rules.yaml): rules, contact point and policy, replaced as a whole.
mkdir -p "$provisioning/alerting"
rm -f "$provisioning/alerting"/*.yaml
alerting=0
for name in $(env | sed -n 's/^GRAFANA_ALERTING_\([A-Z0-9_]*\)=.*/\1/p'); do
  file=$(printf '%s' "$name" | tr 'A-Z_' 'a-z-')
  eval "printf '%s\n' \"\$GRAFANA_ALERTING_$name\"" >"$provisioning/alerting/$file.yaml"
  alerting=$((alerting + 1))
done
echo "start: $alerting alerting provisioning files written"

exec "${GRAFANA_RUN:-/run.sh}" "$@"
