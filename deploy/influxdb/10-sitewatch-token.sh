#!/bin/sh
# InfluxDB's first start (docker-entrypoint-initdb.d, after setup): a token that can read and
# write Sitewatch's bucket and nothing else, written to the volume shared with Sitewatch
# (SITEWATCH_INFLUX_TOKEN_FILE). The admin token never leaves this container.
set -eu
for value in "$DOCKER_INFLUXDB_INIT_PASSWORD" "$DOCKER_INFLUXDB_INIT_ADMIN_TOKEN"; do
    case "$value" in *change-me*)
        echo "10-sitewatch-token: an InfluxDB secret still holds change-me: set it in .env" >&2
        exit 1 ;;
    esac
done
org=$DOCKER_INFLUXDB_INIT_ORG
bucket=$DOCKER_INFLUXDB_INIT_BUCKET
bucket_id=$(influx bucket list --org "$org" --name "$bucket" --hide-headers | cut -f1)
[ -n "$bucket_id" ] || { echo "10-sitewatch-token: no bucket $bucket" >&2; exit 1; }
token=$(influx auth create --org "$org" --read-bucket "$bucket_id" --write-bucket "$bucket_id" \
    --description "sitewatch: read and write bucket $bucket only" --json \
    | sed -n 's/.*"token": *"\([^"]*\)".*/\1/p')
[ -n "$token" ] || { echo "10-sitewatch-token: influx auth create gave no token" >&2; exit 1; }
out=${SITEWATCH_TOKEN_OUT:-/run/sitewatch-secrets/influx-token}
printf '%s\n' "$token" > "$out.new"
chmod 644 "$out.new"  # the volume is mounted only here and (read-only) in Sitewatch
mv "$out.new" "$out"
echo "10-sitewatch-token: bucket-scoped token for Sitewatch written to $out"
