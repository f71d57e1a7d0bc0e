#!/bin/sh
# PostgreSQL init script (/docker-entrypoint-initdb.d, after 10-sitewatch-role.sh): the
# read-only role Grafana logs in as, reading the `sitewatch` schema that sitewatch_app owns.
set -eu
if [ -z "${GRAFANA_POSTGRES_PASSWORD:-}" ]; then
    echo "GRAFANA_POSTGRES_PASSWORD unset: no Grafana reader role" >&2
    exit 0
fi
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
    -v reader=grafana_reader -v password="$GRAFANA_POSTGRES_PASSWORD" \
    -v owner=sitewatch_app -v schema=sitewatch \
    -f /docker-entrypoint-initdb.d/grafana-reader.sql.in
