#!/usr/bin/env bash
# Sitewatch's two commands:
#   ./run.sh demo   set up a virtual environment and run the demo (no servers needed)
#   ./run.sh test   set up, install the test servers when missing, lint, type-check, test
# Anything else is passed to the `sitewatch` CLI inside the environment.
set -euo pipefail
cd "$(dirname "$0")"
VENV=${SITEWATCH_VENV:-.venv}

setup_venv() {
    if [ ! -x "$VENV/bin/python" ]; then
        python3 -m venv "$VENV"
    fi
    local stamp="$VENV/.installed-$(sha1sum pyproject.toml | cut -c1-12)-$1"
    if [ ! -f "$stamp" ]; then
        "$VENV/bin/python" -m pip install -q --upgrade pip
        if [ "$1" = test ]; then
            "$VENV/bin/python" -m pip install -q -e ".[test]"
        else
            "$VENV/bin/python" -m pip install -q -e .
        fi
        touch "$stamp"
    fi
}

install_servers() {
    # The tests start their own Mosquitto, InfluxDB 1.x and PostgreSQL and drive Chromium; install
    # them if missing.
    local need=()
    command -v mosquitto >/dev/null || [ -x /usr/sbin/mosquitto ] || need+=(mosquitto)
    command -v influxd >/dev/null || need+=(influxdb)
    ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
    # The console's browser tests drive Debian's Chromium (Playwright cannot download its own
    # here); the CJK fonts make the Chinese screenshots readable.
    [ -x /usr/bin/chromium ] || need+=(chromium)
    [ -d /usr/share/fonts/opentype/noto ] || need+=(fonts-noto-cjk)
    command -v promtool >/dev/null || need+=(prometheus)  # promtool checks deploy/prometheus
    command -v khal >/dev/null || need+=(khal)  # a real calendar client reads our .ics
    if [ ${#need[@]} -gt 0 ]; then
        echo "installing ${need[*]} with apt-get" >&2
        local sudo=""
        [ "$(id -u)" = 0 ] || sudo=sudo
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
            "${need[@]}"
        # The packages may start system services; the tests use their own instances.
    fi
}

case "${1:-}" in
    demo)
        setup_venv run
        shift
        exec "$VENV/bin/sitewatch" demo "$@"
        ;;
    test)
        setup_venv test
        install_servers
        shift
        "$VENV/bin/ruff" check devices ingest rules api tests bench
        "$VENV/bin/mypy"
        # Every worker imports the whole suite: keep the compiled modules (in the venv, even where
        # PYTHONDONTWRITEBYTECODE is set) so a run does not compile them again (~half of the
        # collection's CPU per worker).
        PYTHONPYCACHEPREFIX="$(cd "$VENV" && pwd)/pycache"
        export PYTHONPYCACHEPREFIX
        unset PYTHONDONTWRITEBYTECODE
        # Most tests wait on real servers, not the CPU: several workers, each with servers of
        # its own, overlap the waits (`./run.sh test -n 0` runs serially).
        exec "$VENV/bin/pytest" -n "${SITEWATCH_TEST_WORKERS:-4}" "$@"
        ;;
    "")
        sed -n '2,5p' "$0"
        exit 2
        ;;
    *)
        setup_venv run
        exec "$VENV/bin/sitewatch" "$@"
        ;;
esac
