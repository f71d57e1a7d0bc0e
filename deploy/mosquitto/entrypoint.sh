#!/bin/sh
# Builds Mosquitto's password file from the environment (.env), then runs Mosquitto.
#   sitewatch  <- MQTT_SITEWATCH_PASSWORD (required): the service, reads sitewatch/#
#   simulator  <- MQTT_SIMULATOR_PASSWORD (optional): the `simulate` profile
#   devices    <- devices.txt next to this script (optional, not in git): lines of
#                 "DEVICE_ID PASSWORD"; a device logs in with its device id as username.
# The paths default to the container's and can be overridden (the tests do).
set -eu

CONF=${MOSQUITTO_CONF:-/mosquitto/config/mosquitto.conf}
PASSWD=${MOSQUITTO_PASSWD_FILE:-/mosquitto/data/passwd}
DEVICES=${MOSQUITTO_DEVICE_CREDENTIALS:-/mosquitto/config/devices.txt}
: "${MQTT_SITEWATCH_PASSWORD:?set MQTT_SITEWATCH_PASSWORD in .env}"

umask 077
tmp="$PASSWD.new"
rm -f "$tmp"
mosquitto_passwd -c -b "$tmp" sitewatch "$MQTT_SITEWATCH_PASSWORD"
if [ -n "${MQTT_SIMULATOR_PASSWORD:-}" ]; then
    mosquitto_passwd -b "$tmp" simulator "$MQTT_SIMULATOR_PASSWORD"
fi
if [ -f "$DEVICES" ]; then
    count=0
    while read -r id password rest || [ -n "$id" ]; do
        case "$id" in '' | '#'*) continue ;; esac
        if [ -z "$password" ] || [ -n "$rest" ]; then
            echo "entrypoint: $DEVICES: line for '$id' is not 'DEVICE_ID PASSWORD'" >&2
            exit 1
        fi
        mosquitto_passwd -b "$tmp" "$id" "$password"
        count=$((count + 1))
    done < "$DEVICES"
    echo "entrypoint: $count device credentials from $DEVICES"
fi
mv "$tmp" "$PASSWD"
# Mosquitto drops root for the `mosquitto` user before it reads the password file.
chown mosquitto "$PASSWD" 2>/dev/null || true
exec mosquitto -c "$CONF"
