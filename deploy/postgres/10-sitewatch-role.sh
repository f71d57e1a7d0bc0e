#!/bin/sh
# PostgreSQL's first start (docker-entrypoint-initdb.d): make Sitewatch's least-privilege role.
# The superuser (POSTGRES_USER) stays for the operator; Sitewatch connects as sitewatch_app.
set -eu
: "${SITEWATCH_DB_PASSWORD:?set SITEWATCH_DB_PASSWORD in .env}"
for value in "$POSTGRES_PASSWORD" "$SITEWATCH_DB_PASSWORD"; do
    case "$value" in *change-me*)
        echo "10-sitewatch-role: a PostgreSQL password still holds change-me: set it in .env" >&2
        exit 1 ;;
    esac
done
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
    -v pw="$SITEWATCH_DB_PASSWORD" -v db="$POSTGRES_DB" \
    -f /docker-entrypoint-initdb.d/sitewatch-role.sql.in
