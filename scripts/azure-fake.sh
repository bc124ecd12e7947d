#!/usr/bin/env bash
# The Azure ARM fake (fakes/azure-arm) the Azure example runs against, on loopback, as its own
# process: ARM on https://127.0.0.1:$AZURE_FAKE_PORT (default 5443), Entra ID's token endpoint on
# https://127.0.0.1:$AZURE_FAKE_TOKEN_PORT (default 5444), both with a fresh CA per start.
#
#   scripts/azure-fake.sh start   build the fake (cargo, once) and start it; returns when it is
#                                 ready. Idempotent. AZURE_FAKE_ARGS adds flags (e.g.
#                                 "--latency-ms 20 --lro-ms 2000 --vm-lro-ms 30000").
#   scripts/azure-fake.sh stop    stop the fake this script started (by its pid file). Idempotent.
#   scripts/azure-fake.sh env     print the variables that point the Azure proxy at it:
#                                 eval "$(scripts/azure-fake.sh env)"
#   scripts/azure-fake.sh run CMD…  start it (if needed) and run CMD with those variables, e.g.
#                                 scripts/azure-fake.sh run cargo run -p azure-example -- up
#
# The client secret is a fixed test value the fake accepts; nothing here is a real credential.
# Its log, CA, pid and ready files are in target/azure-fake/.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PORT="${AZURE_FAKE_PORT:-5443}"
TOKEN_PORT="${AZURE_FAKE_TOKEN_PORT:-5444}"
RUN="$ROOT/target/azure-fake"
PIDFILE="$RUN/fake-$PORT.pid"
LOG="$RUN/fake-$PORT.log"
READY="$RUN/ready-$PORT.json"
CA="$RUN/ca-$PORT.pem"
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/debug/azure-arm-fake"
SECRET="fake-client-secret"

running_pid() {
    [[ -f "$PIDFILE" ]] || return 1
    local pid
    pid="$(cat "$PIDFILE")"
    [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null && echo "$pid"
}

answers() {
    [[ -f "$CA" ]] && curl -sf --max-time 1 --cacert "$CA" "https://127.0.0.1:$PORT/_fake/health" >/dev/null 2>&1
}

field() { # field NAME: a string field of the ready file
    sed -n "s/.*\"$1\": *\"\([^\"]*\)\".*/\1/p" "$READY"
}

start() {
    mkdir -p "$RUN"
    exec 9>"$RUN/start.lock"
    flock 9
    if running_pid >/dev/null && answers; then
        exec 9>&-
        return 0
    fi
    if [[ ! -x "$BIN" || -n "${AZURE_FAKE_REBUILD:-}" ]]; then
        (cd "$ROOT" && cargo build -q -p azure-arm-fake --bin azure-arm-fake)
    fi
    rm -f "$READY"
    # shellcheck disable=SC2086  # AZURE_FAKE_ARGS is a list of flags
    AZURE_ARM_FAKE_CLIENT_SECRET="$SECRET" setsid "$BIN" --port "$PORT" --token-port "$TOKEN_PORT" \
        --ca-file "$CA" --ready-file "$READY" ${AZURE_FAKE_ARGS:-} </dev/null >"$LOG" 2>&1 9>&- &
    echo $! >"$PIDFILE"
    for _ in $(seq 1 100); do
        if [[ -f "$READY" ]] && answers; then
            exec 9>&-
            return 0
        fi
        if ! running_pid >/dev/null; then
            echo "azure-fake.sh: the fake exited; its log ($LOG):" >&2
            tail -20 "$LOG" >&2
            exit 1
        fi
        sleep 0.1
    done
    echo "azure-fake.sh: the fake did not answer on port $PORT within 10 s" >&2
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

print_env() {
    echo "export ACTUATOR_AZURE_ARM_URL=$(field arm_url)"
    echo "export ACTUATOR_AZURE_CA_FILE=$(field ca_file)"
    echo "export AZURE_AUTHORITY_HOST=$(field authority_url)"
    echo "export AZURE_SUBSCRIPTION_ID=$(field subscription_id)"
    echo "export AZURE_TENANT_ID=$(field tenant_id)"
    echo "export AZURE_CLIENT_ID=$(field client_id)"
    echo "export AZURE_CLIENT_SECRET=$SECRET"
    echo "export AZURE_LOCATION=${AZURE_LOCATION:-westeurope}"
}

case "${1:-}" in
start) start ;;
stop) stop ;;
env) print_env ;;
run)
    shift
    start
    eval "$(print_env)"
    exec "$@"
    ;;
*)
    echo "usage: $0 start|stop|env|run CMD…" >&2
    exit 2
    ;;
esac
