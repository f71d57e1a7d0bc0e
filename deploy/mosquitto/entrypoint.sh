#!/bin/sh
# Builds Mosquitto's password files and ACL from the environment (.env), then runs Mosquitto.
#   sitewatch  <- MQTT_SITEWATCH_PASSWORD (required): the service; both listeners
#   simulator  <- MQTT_SIMULATOR_PASSWORD, only when COMPOSE_PROFILES names `simulate`;
#                 the internal listener (1883) only
#   devices    <- devices.txt next to this script (optional, not in git): lines of
#                 "DEVICE_ID SITE PASSWORD"; the TLS listener (8883) only, each device with
#                 ACL lines for its own site and id.
# Any value still containing `change-me` is refused. The paths default to the container's and
# can be overridden (the tests do).
set -eu

CONF=${MOSQUITTO_CONF:-/mosquitto/config/mosquitto.conf}
DATA=${MOSQUITTO_DATA:-/mosquitto/data}
ACL_HEAD=${MOSQUITTO_ACL_HEAD:-/mosquitto/config/acl}
DEVICES=${MOSQUITTO_DEVICE_CREDENTIALS:-/mosquitto/config/devices.txt}
PREFIX=sitewatch
NAME_RE='^[A-Za-z0-9][A-Za-z0-9_.-]\{0,63\}$'  # SPEC §2's site and device ids
: "${MQTT_SITEWATCH_PASSWORD:?set MQTT_SITEWATCH_PASSWORD in .env}"

refuse_placeholder() {  # name value
    case "$2" in *change-me*)
        echo "entrypoint: $1 still holds a change-me value: set a real secret in .env" >&2
        exit 1 ;;
    esac
}
refuse_placeholder MQTT_SITEWATCH_PASSWORD "$MQTT_SITEWATCH_PASSWORD"

simulate=false
case ",${COMPOSE_PROFILES:-}," in *,simulate,*) simulate=true ;; esac

umask 077
internal="$DATA/passwd-internal.new"
devices="$DATA/passwd-devices.new"
acl="$DATA/acl.new"
rm -f "$internal" "$devices" "$acl"
mosquitto_passwd -c -b "$internal" sitewatch "$MQTT_SITEWATCH_PASSWORD"
mosquitto_passwd -c -b "$devices" sitewatch "$MQTT_SITEWATCH_PASSWORD"
if $simulate; then
    : "${MQTT_SIMULATOR_PASSWORD:?the simulate profile needs MQTT_SIMULATOR_PASSWORD in .env}"
    refuse_placeholder MQTT_SIMULATOR_PASSWORD "$MQTT_SIMULATOR_PASSWORD"
    mosquitto_passwd -b "$internal" simulator "$MQTT_SIMULATOR_PASSWORD"
fi
cp "$ACL_HEAD" "$acl"
if [ -f "$DEVICES" ]; then
    count=0
    while read -r id site password rest || [ -n "$id" ]; do
        case "$id" in '' | '#'*) continue ;; esac
        if [ -z "$password" ] || [ -n "$rest" ]; then
            echo "entrypoint: $DEVICES: line for '$id' is not 'DEVICE_ID SITE PASSWORD'" >&2
            exit 1
        fi
        for value in "$id" "$site"; do
            if ! echo "$value" | grep -q "$NAME_RE"; then
                echo "entrypoint: $DEVICES: '$value' is not a site or device id" >&2
                exit 1
            fi
        done
        case "$id" in sitewatch | simulator)
            echo "entrypoint: $DEVICES: device id '$id' is reserved for the broker's accounts" >&2
            exit 1 ;;
        esac
        refuse_placeholder "the password of $id" "$password"
        mosquitto_passwd -b "$devices" "$id" "$password"
        printf '\nuser %s\n' "$id" >> "$acl"
        for channel in telemetry event status; do
            printf 'topic write %s/%s/%s/%s\n' "$PREFIX" "$site" "$id" "$channel" >> "$acl"
        done
        count=$((count + 1))
    done < "$DEVICES"
    echo "entrypoint: $count device credentials from $DEVICES"
fi
mv "$internal" "$DATA/passwd-internal"
mv "$devices" "$DATA/passwd-devices"
mv "$acl" "$DATA/acl"
# Started as root (not the compose stack's way), Mosquitto drops to the `mosquitto` user
# before it reads these files.
chown mosquitto "$DATA/passwd-internal" "$DATA/passwd-devices" "$DATA/acl" 2>/dev/null || true
exec mosquitto -c "$CONF"
