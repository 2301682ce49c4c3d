#!/bin/sh
# Command of the grafana container (official image grafana/grafana-oss): writes the provisioning files and the
# dashboards that the task delivers in environment variables, then runs Grafana's own start script. No image build.
#   GRAFANA_DATASOURCES_YAML  text of services/grafana/provisioning/datasources/datasources.yaml
#   GRAFANA_DASHBOARDS_YAML   text of services/grafana/provisioning/dashboards/dashboards.yaml
#   GRAFANA_DASHBOARD_<NAME>  text of grafana/dashboards/<name>.json, one variable per dashboard
#                             (name upper-cased, "-" as "_": GRAFANA_DASHBOARD_PRESSURE_VISCOSITY)
set -eu

: "${GRAFANA_DATASOURCES_YAML:?set GRAFANA_DATASOURCES_YAML}"
: "${GRAFANA_DASHBOARDS_YAML:?set GRAFANA_DASHBOARDS_YAML}"
provisioning=${GF_PATHS_PROVISIONING:-/etc/grafana/provisioning}
dashboards=${GRAFANA_DASHBOARDS_DIR:-/var/lib/grafana/dashboards/iot-telemetry}  # options.path of dashboards.yaml

mkdir -p "$provisioning/datasources" "$provisioning/dashboards" "$dashboards"
printf '%s\n' "$GRAFANA_DATASOURCES_YAML" >"$provisioning/datasources/datasources.yaml"
printf '%s\n' "$GRAFANA_DASHBOARDS_YAML" >"$provisioning/dashboards/dashboards.yaml"

# Dashboards are replaced as a whole at every start, so one removed from the code disappears too.
rm -f "$dashboards"/*.json
count=0
for name in $(env | sed -n 's/^GRAFANA_DASHBOARD_\([A-Z0-9_]*\)=.*/\1/p'); do
  file=$(printf '%s' "$name" | tr 'A-Z_' 'a-z-')
  eval "printf '%s\n' \"\$GRAFANA_DASHBOARD_$name\"" >"$dashboards/$file.json"
  count=$((count + 1))
done
[ "$count" -gt 0 ] || { echo "start: no GRAFANA_DASHBOARD_* variable: no dashboard to provision" >&2; exit 1; }
echo "start: $count dashboards and the provisioning files written"

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
