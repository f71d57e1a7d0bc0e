#!/bin/sh
# InfluxDB 2 init script (/docker-entrypoint-initdb.d, runs once after the first setup with the
# CLI logged in as the admin): a 1.x-compatible login that may only read the Sitewatch bucket,
# for Grafana's InfluxQL datasource.
set -eu
if [ -z "${GRAFANA_INFLUX_PASSWORD:-}" ]; then
    echo "GRAFANA_INFLUX_PASSWORD unset: no Grafana reader login" >&2
    exit 0
fi
bucket_id=$(influx bucket list --org "$DOCKER_INFLUXDB_INIT_ORG" \
    --name "$DOCKER_INFLUXDB_INIT_BUCKET" --hide-headers | cut -f1)
influx v1 auth create --org "$DOCKER_INFLUXDB_INIT_ORG" --username grafana \
    --password "$GRAFANA_INFLUX_PASSWORD" --read-bucket "$bucket_id" \
    --description "Grafana (read only)"
