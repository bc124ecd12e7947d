#!/usr/bin/env bash
# The moto EC2 server the AWS tests, benchmark and example run against, on loopback.
#
#   scripts/moto.sh start   install moto[server] into target/moto-venv (once) and start moto_server
#                           on 127.0.0.1:$MOTO_PORT (default 5055); returns when it answers. Idempotent.
#   scripts/moto.sh stop    stop the server this script started (by its pid file). Idempotent.
#   scripts/moto.sh reset   wipe the server's state (POST /moto-api/reset).
#   scripts/moto.sh env     print the AWS_* variables that point an AWS client at it:
#                           eval "$(scripts/moto.sh env)"
#   scripts/moto.sh run CMD…  start it (if needed) and run CMD with those variables, e.g.
#                           scripts/moto.sh run cargo run -p aws-example --features aws -- up
#
# The server runs with AMI, key-pair and instance-type validation on, so a bad image id, key name or
# instance type fails as it would on AWS. Its log and pid file are in target/moto/.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PORT="${MOTO_PORT:-5055}"
VERSION="${MOTO_VERSION:-5.2.5}"
VENV="$ROOT/target/moto-venv"
RUN="$ROOT/target/moto"
PIDFILE="$RUN/moto-$PORT.pid"
LOG="$RUN/moto-$PORT.log"
URL="http://127.0.0.1:$PORT"

answers() {
    "$VENV/bin/python" - "$URL" <<'PY' >/dev/null 2>&1
import sys, urllib.request, urllib.error
try:
    urllib.request.urlopen(sys.argv[1] + "/moto-api/", timeout=1)
except urllib.error.HTTPError:
    pass  # any HTTP answer means the server is up
PY
}

running_pid() {
    [[ -f "$PIDFILE" ]] || return 1
    local pid
    pid="$(cat "$PIDFILE")"
    [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null && echo "$pid"
}

install() {
    if [[ ! -x "$VENV/bin/moto_server" ]]; then
        echo "moto.sh: installing moto[server]==$VERSION into $VENV" >&2
        python3 -m venv "$VENV"
        "$VENV/bin/pip" install --quiet --disable-pip-version-check "moto[server]==$VERSION"
    fi
}

start() {
    mkdir -p "$RUN"
    # One start at a time (parallel test binaries may all ask); the lock is let go before
    # returning, so a command run afterwards (`run`) does not hold it.
    exec 9>"$RUN/start.lock"
    flock 9
    start_locked
    exec 9>&-
}

start_locked() {
    install
    if running_pid >/dev/null && answers; then
        return 0
    fi
    if answers; then
        echo "moto.sh: something else answers on $URL; set MOTO_PORT to a free port" >&2
        exit 1
    fi
    # setsid + all descriptors redirected: the server outlives this script and its caller's pipes.
    MOTO_ENABLE_AMI_VALIDATION=true \
    MOTO_ENABLE_KEYPAIR_VALIDATION=true \
    MOTO_EC2_ENABLE_INSTANCE_TYPE_VALIDATION=true \
        setsid "$VENV/bin/moto_server" -H 127.0.0.1 -p "$PORT" </dev/null >"$LOG" 2>&1 9>&- &
    echo $! >"$PIDFILE"
    for _ in $(seq 1 150); do
        if answers; then
            return 0
        fi
        if ! running_pid >/dev/null; then
            echo "moto.sh: moto_server exited; its log ($LOG):" >&2
            tail -20 "$LOG" >&2
            exit 1
        fi
        sleep 0.1
    done
    echo "moto.sh: moto_server did not answer on $URL within 15 s" >&2
    exit 1
}

stop() {
    local pid
    if pid="$(running_pid)"; then
        kill "$pid"
        for _ in $(seq 1 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
    fi
    rm -f "$PIDFILE"
}

case "${1:-}" in
start) start ;;
stop) stop ;;
reset) "$VENV/bin/python" -c "import urllib.request; urllib.request.urlopen(urllib.request.Request('$URL/moto-api/reset', method='POST'))" ;;
env)
    echo "export AWS_ENDPOINT_URL=$URL"
    echo "export AWS_REGION=${AWS_REGION:-eu-west-2}"
    echo "export AWS_ACCESS_KEY_ID=testing"
    echo "export AWS_SECRET_ACCESS_KEY=testing"
    ;;
run)
    shift
    start
    export AWS_ENDPOINT_URL="$URL" AWS_REGION="${AWS_REGION:-eu-west-2}"
    export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing
    exec "$@"
    ;;
*)
    echo "usage: $0 start|stop|reset|env|run CMD…" >&2
    exit 2
    ;;
esac
