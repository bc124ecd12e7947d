#!/usr/bin/env bash
# A private PostgreSQL cluster on loopback, one per checkout: for the PostgreSQL state store's tests
# and for the loopback OpenStack (scripts/openstack.sh).
#
#   scripts/postgres.sh start          idempotent: installs PostgreSQL from the Debian archive when
#                                      no server binaries exist (root), initdb once, starts the
#                                      server, creates the test role and database; returns when
#                                      the server answers, or exits 1 with one line saying why
#   scripts/postgres.sh stop           stops it (fast shutdown); data stays
#   scripts/postgres.sh status         exit 0 when it runs and answers
#   scripts/postgres.sh env            `export PG*=… ACTUATOR_TEST_PG_URL=…` for the test role:
#                                      eval "$(scripts/postgres.sh env)"
#   scripts/postgres.sh createdb NAME [ROLE]
#                                      idempotent: role ROLE (default NAME; own random password)
#                                      and database NAME owned by it; prints its postgres:// URL
#   scripts/postgres.sh psql [ARGS…]   psql as the superuser over the unix socket (database
#                                      actuator_test unless ARGS say -d)
#   scripts/postgres.sh dir            prints the service directory
#   scripts/postgres.sh clean          stop, then delete the cluster and its passwords
#
# Where: the service directory of scripts/lib/services.sh — as root
# /var/lib/actuator-services/<checkout hash>/postgres, owned by the user the server runs as
# (`actuator-svc`: PostgreSQL refuses to run as root), mode 0700; as another user
# target/postgres, the server running as that user. It holds data/ (the cluster), run/ (the unix
# socket; /tmp/actuator-pg-<hash> when that path would be too long for a socket), postgres.log,
# port, and one <role>.password per role (mode 0600).
#
# Listens on 127.0.0.1 only, port ACTUATOR_PG_PORT when set; otherwise 5439, or when something
# else holds it (another checkout's cluster), the first free port of 5440..5499, remembered so
# `env` and later starts agree. TCP logins use scram-sha-256 passwords; the unix socket trusts
# whoever can reach it (its directory is 0700: the server's user, and root). Durability is traded
# for speed (fsync off): this is a test server.
#
# The test role is `actuator` on database `actuator_test` (ACTUATOR_TEST_PG_URL).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
# shellcheck source-path=SCRIPTDIR source=lib/services.sh
. "$ROOT/scripts/lib/services.sh"

TEST_ROLE=actuator
TEST_DB=actuator_test
DEFAULT_PORT=5439

log() { echo "postgres.sh: $*" >&2; }
die() {
    log "$*"
    exit 1
}

# The newest server binaries: ACTUATOR_PG_BIN, Debian's /usr/lib/postgresql/*/bin, or initdb's dir.
pg_bin() {
    local d
    if [ -n "${ACTUATOR_PG_BIN:-}" ]; then
        echo "$ACTUATOR_PG_BIN"
        return 0
    fi
    d="$(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -1)"
    if [ -n "$d" ] && [ -x "$d/initdb" ]; then
        echo "$d"
    elif d="$(command -v initdb)"; then
        dirname "$(readlink -f "$d")"
    else
        return 1
    fi
}

install_pg() {
    pg_bin >/dev/null && return 0
    svc_is_root || die "no PostgreSQL server binaries (initdb) and installing them needs root: apt-get install postgresql"
    log "installing postgresql from the Debian archive"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq </dev/null >/dev/null
    apt-get install -y -qq --no-install-recommends postgresql </dev/null >/dev/null
    pg_bin >/dev/null || die "apt-get install postgresql installed no initdb"
}

SVC_USER="$(svc_user)"
DIR="$(svc_dir postgres "$SVC_USER")"
DATA="$DIR/data"
LOG="$DIR/postgres.log"
SOCK="$DIR/run"
# A unix socket path may not exceed 107 bytes.
if [ $((${#SOCK} + 15)) -gt 100 ]; then
    SOCK="/tmp/actuator-pg-$SVC_HASH"
fi

if [ -n "${ACTUATOR_PG_PORT:-}" ]; then
    PORT=$ACTUATOR_PG_PORT
elif [ -s "$DIR/port" ]; then
    PORT="$(cat "$DIR/port")"
else
    PORT=$DEFAULT_PORT
fi

run() { SVC_HOME="$DIR" as_svc_user "$@"; }

password() { # role → its password, made once
    local f="$DIR/$1.password"
    if [ ! -s "$f" ]; then
        (umask 077 && head -c 18 /dev/urandom | base64 | tr -d '/+=\n' >"$f.new")
        svc_is_root && chown "$SVC_USER:" "$f.new"
        mv "$f.new" "$f"
    fi
    cat "$f"
}

# psql as the superuser over the socket; quiet, stop at the first error.
su_psql() {
    "$BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$SOCK" -p "$PORT" -U postgres "$@"
}

running() {
    [ -n "${BIN:-}" ] || BIN="$(pg_bin)" || return 1
    [ -f "$DATA/postmaster.pid" ] && run "$BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1
}


choose_port() {
    local p
    if [ -z "${ACTUATOR_PG_PORT:-}" ] && ! svc_port_free "$PORT"; then
        for p in $(seq $((DEFAULT_PORT + 1)) 5499); do
            if svc_port_free "$p"; then
                log "port $PORT is taken (another checkout's cluster?); using $p"
                PORT=$p
                break
            fi
        done
    fi
    echo "$PORT" >"$DIR/port"
}

init_cluster() {
    [ -f "$DATA/PG_VERSION" ] && return 0
    log "initdb $DATA (as $SVC_USER)"
    rm -rf "$DATA"
    local pw="$DIR/postgres.password"
    password postgres >/dev/null
    run "$BIN/initdb" -D "$DATA" -U postgres --pwfile="$pw" -E UTF8 --no-locale \
        --auth-local=trust --auth-host=scram-sha-256 --no-sync >"$DIR/initdb.log" 2>&1 ||
        die "initdb failed: $(svc_why "$DIR/initdb.log")"
    # Loopback TCP with passwords only; the socket (0700 directory) for the server's user and root.
    cat >"$DATA/pg_hba.conf" <<'EOF'
# Generated by scripts/postgres.sh
local all all              trust
host  all all 127.0.0.1/32 scram-sha-256
EOF
    echo "include_if_exists = 'actuator.conf'" >>"$DATA/postgresql.conf"
    svc_is_root && chown "$SVC_USER:" "$DATA/pg_hba.conf"
    return 0
}

write_settings() {
    cat >"$DATA/actuator.conf" <<EOF
# Generated by scripts/postgres.sh on each start
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$SOCK'
password_encryption = 'scram-sha-256'
# a test server: speed over durability
fsync = off
synchronous_commit = off
full_page_writes = off
# OpenStack's services each hold a pool
max_connections = 300
shared_buffers = 64MB
log_min_messages = warning
EOF
    svc_is_root && chown "$SVC_USER:" "$DATA/actuator.conf"
    return 0
}

start() {
    install_pg
    BIN="$(pg_bin)"
    init_cluster
    if ! running; then
        choose_port
        write_settings
        mkdir -p "$SOCK"
        chmod 0700 "$SOCK"
        svc_is_root && chown "$SVC_USER:" "$SOCK"
        local from
        from=$(stat -c %s "$LOG" 2>/dev/null || echo 0)
        # pg_ctl leaves the server running in the background with its own session.
        run "$BIN/pg_ctl" -D "$DATA" -l "$LOG" -w -t 60 -s start </dev/null >/dev/null 2>&1 9>&- ||
            die "the server did not start: $(svc_why "$LOG" "$from")"
    fi
    ensure_role_db "$TEST_ROLE" "$TEST_DB" >/dev/null
}

# Role $1 (LOGIN, its password) and database $2 owned by it, each created when absent; prints the URL.
ensure_role_db() {
    local role=$1 db=$2 pw
    pw="$(password "$role")"
    su_psql -d postgres -v role="$role" -v db="$db" -v pw="$pw" <<'SQL' ||
SELECT format('CREATE ROLE %I LOGIN PASSWORD %L', :'role', :'pw')
  WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'role') \gexec
SELECT format('ALTER ROLE %I PASSWORD %L', :'role', :'pw') \gexec
SELECT format('CREATE DATABASE %I OWNER %I', :'db', :'role')
  WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'db') \gexec
SQL
        die "could not create role $role / database $db: $(svc_why "$LOG")"
    echo "postgres://$role:$pw@127.0.0.1:$PORT/$db"
}

stop() {
    BIN="$(pg_bin)" || return 0
    running || return 0
    run "$BIN/pg_ctl" -D "$DATA" -m fast -w -t 60 -s stop </dev/null >/dev/null 2>&1 ||
        die "the server did not stop: $(svc_why "$LOG")"
}

env_lines() {
    [ -s "$DIR/$TEST_ROLE.password" ] || die "not initialised yet: run scripts/postgres.sh start"
    local pw
    pw="$(cat "$DIR/$TEST_ROLE.password")"
    echo "export PGHOST=127.0.0.1 PGPORT=$PORT PGUSER=$TEST_ROLE PGPASSWORD=$pw PGDATABASE=$TEST_DB"
    echo "export ACTUATOR_TEST_PG_URL=postgres://$TEST_ROLE:$pw@127.0.0.1:$PORT/$TEST_DB"
}

# One start/stop/createdb at a time (parallel test binaries may all ask).
lock() {
    exec 9>"$DIR/.lock"
    flock 9
}

case "${1:-}" in
start) lock && start ;;
stop) lock && stop ;;
status) running && BIN="$(pg_bin)" && "$BIN/pg_isready" -q -h 127.0.0.1 -p "$PORT" ;;
env) env_lines ;;
createdb)
    [ -n "${2:-}" ] || die "usage: $0 createdb NAME [ROLE]"
    lock && start && ensure_role_db "${3:-$2}" "$2"
    ;;
psql)
    shift
    BIN="$(pg_bin)" || die "no PostgreSQL binaries: run scripts/postgres.sh start"
    PGDATABASE="${PGDATABASE:-$TEST_DB}" exec "$BIN/psql" -X -h "$SOCK" -p "$PORT" -U postgres "$@"
    ;;
dir) echo "$DIR" ;;
clean)
    lock && stop
    rm -rf "${DATA:?}" "$DIR"/*.password "$DIR/port" "$DIR"/*.log "${SOCK:?}"
    ;;
*)
    echo "usage: $0 start|stop|status|env|createdb NAME [ROLE]|psql [ARGS…]|dir|clean" >&2
    exit 2
    ;;
esac
