#!/bin/sh
# Certificates for the compose stack: Mosquitto's TLS listener (8883) and Caddy's HTTPS.
#   deploy/make-certs.sh [OUT_DIR] [HOSTNAME...]
# OUT_DIR defaults to deploy/certs; HOSTNAMEs (default: localhost) are the names devices and
# browsers use to reach this machine; `mosquitto` (the compose service name) is always added
# so Sitewatch reaches the broker over mqtts:// inside the stack.
#
# A site without a certificate authority gets a private one here (ca.crt, ca.key: keep the
# key offline once devices are enrolled). A site with its own CA puts its ca.crt and ca.key
# in OUT_DIR first: the script then only issues the server certificate from it.
# Devices trust ca.crt; Sitewatch trusts it through SITEWATCH_MQTT_CA_FILE.
# Optional client certificates: CLIENT=name deploy/make-certs.sh OUT_DIR -> name.crt/.key.
set -eu

OUT=${1:-$(dirname "$0")/certs}
[ $# -gt 0 ] && shift
NAMES=${*:-localhost}
DAYS=${CERT_DAYS:-825}  # the longest validity browsers accept for a server certificate
mkdir -p "$OUT"
umask 077

if [ ! -f "$OUT/ca.key" ]; then
    openssl req -x509 -new -newkey rsa:3072 -nodes -sha256 -days 3650 \
        -subj "/CN=Sitewatch private CA" -keyout "$OUT/ca.key" -out "$OUT/ca.crt" \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
        2>/dev/null
    echo "make-certs: new private CA in $OUT/ca.crt"
fi

san="DNS:mosquitto,DNS:caddy,IP:127.0.0.1"
for name in $NAMES; do
    case "$name" in
        *[!0-9.]*) san="$san,DNS:$name" ;;
        *) san="$san,IP:$name" ;;
    esac
done
cat > "$OUT/server.ext" <<EXT
basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=$san
EXT
openssl req -new -newkey rsa:2048 -nodes -subj "/CN=sitewatch" \
    -keyout "$OUT/server.key" -out "$OUT/server.csr" 2>/dev/null
openssl x509 -req -in "$OUT/server.csr" -CA "$OUT/ca.crt" -CAkey "$OUT/ca.key" \
    -CAcreateserial -days "$DAYS" -sha256 -extfile "$OUT/server.ext" -out "$OUT/server.crt" \
    2>/dev/null
rm -f "$OUT/server.csr" "$OUT/server.ext"
echo "make-certs: server certificate for $san in $OUT/server.crt"

if [ -n "${CLIENT:-}" ]; then
    printf 'basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n' > "$OUT/client.ext"
    openssl req -new -newkey rsa:2048 -nodes -subj "/CN=$CLIENT" \
        -keyout "$OUT/$CLIENT.key" -out "$OUT/$CLIENT.csr" 2>/dev/null
    openssl x509 -req -in "$OUT/$CLIENT.csr" -CA "$OUT/ca.crt" -CAkey "$OUT/ca.key" \
        -CAcreateserial -days "$DAYS" -sha256 -extfile "$OUT/client.ext" \
        -out "$OUT/$CLIENT.crt" 2>/dev/null
    rm -f "$OUT/$CLIENT.csr" "$OUT/client.ext"
    echo "make-certs: client certificate for $CLIENT in $OUT/$CLIENT.crt"
fi
# The containers read these as their own non-root users: certificates and keys readable by
# all inside this folder, which itself stays private to its owner on the host.
chmod 755 "$OUT"
chmod 644 "$OUT"/*.crt "$OUT"/*.key
chmod 600 "$OUT/ca.key"
