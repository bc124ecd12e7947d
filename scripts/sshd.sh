#!/usr/bin/env bash
# A private OpenSSH server for the SSH agent's tests and benchmark, on loopback only.
#
#   scripts/sshd.sh start   # idempotent: installs openssh-server if absent, creates keys, the test
#                           # user and the config, starts the daemons and waits until they answer
#   scripts/sshd.sh stop    # stops the daemons this script started (keys and config stay)
#   scripts/sshd.sh env     # prints `export NAME=value` lines the tests and benchmark read
#   scripts/sshd.sh status  # exit 0 when every daemon is running
#
# The state directory (ACTUATOR_SSHD_DIR, default target/sshd/) holds what root reads: host keys, the
# client key, an unauthorized "wrong" key, a copy of the test user's password (mode 0600, read by the
# password test; never printed), the chosen port, one config, pid file and log per daemon. It may
# sit in a checkout nobody else can enter. sshd reads AuthorizedKeysFile as the user logging in, so
# as root the authorized key lives outside the checkout, in this checkout's service directory
# (scripts/lib/services.sh: /var/lib/actuator-services/<hash>/sshd/, root-owned, world-readable).
#
# Addresses: hosts 127.0.0.1 .. 127.0.0.N (ACTUATOR_SSHD_HOSTS, default 16) on one port. A socket
# bound to 127.0.0.1 does not answer 127.0.0.2, and sshd takes at most 16 ListenAddress lines, so
# each daemon serves 16 consecutive addresses: the 100-host benchmark (ACTUATOR_SSHD_HOSTS=101) runs
# 7 daemons. Nothing listens on a non-loopback address. The port is ACTUATOR_SSHD_PORT when set;
# otherwise the first of 2222..2299 nothing listens on (another checkout's sshd may hold 2222),
# remembered in the state directory so `env` and later starts agree.
#
# `start` ends by logging in once with the OpenSSH client; when a daemon does not start or that
# login fails, it exits 1 with one line saying why, taken from the daemon's log.
#
# As root (CI), logins are as an ordinary user `actuator-test` (bash, quiet start-up) created here,
# with the client key and a password; root may log in with the key too (the "current user" test).
# As another user, sshd can only log that user in: the tests then use the current user, and the
# password test is skipped.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
# shellcheck source-path=SCRIPTDIR source=lib/services.sh
. "$ROOT/scripts/lib/services.sh"
DIR="${ACTUATOR_SSHD_DIR:-$ROOT/target/sshd}"
HOSTS="${ACTUATOR_SSHD_HOSTS:-16}"
PER_DAEMON=16
SSHD=/usr/sbin/sshd

if [ "$(id -u)" = 0 ]; then
    TEST_USER="${ACTUATOR_SSH_TEST_USER:-actuator-test}"
else
    TEST_USER="$(id -un)"
fi

log() { echo "sshd.sh: $*" >&2; }

# The port: the one asked for, else the one this state directory already uses, else 2222.
if [ -n "${ACTUATOR_SSHD_PORT:-}" ]; then
    PORT=$ACTUATOR_SSHD_PORT
elif [ -s "$DIR/port" ]; then
    PORT="$(cat "$DIR/port")"
else
    PORT=2222
fi

daemons() { echo $(((HOSTS + PER_DAEMON - 1) / PER_DAEMON)); }

install_sshd() {
    [ -x "$SSHD" ] && return 0
    if [ "$(id -u)" != 0 ]; then
        log "$SSHD is missing and installing openssh-server needs root"
        exit 1
    fi
    log "installing openssh-server"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq </dev/null
    apt-get install -y -qq --no-install-recommends openssh-server openssh-client </dev/null >/dev/null
    [ -x "$SSHD" ] || { log "openssh-server did not install $SSHD"; exit 1; }
}


# Keep the port when one of our daemons already serves it; otherwise a free one (see the header).
choose_port() {
    local i p
    for i in $(seq 0 $(($(daemons) - 1))); do
        running "$i" && return 0
    done
    if [ -z "${ACTUATOR_SSHD_PORT:-}" ] && ! svc_port_free "$PORT"; then
        for p in $(seq 2222 2299); do
            if svc_port_free "$p"; then
                log "port $PORT is taken (another checkout's sshd?); using $p"
                PORT=$p
                break
            fi
        done
    fi
    echo "$PORT" >"$DIR/port"
}

make_keys() {
    mkdir -p "$DIR"
    # Only root (or this user) reads the state directory: nothing in it is for the test user.
    chmod 0700 "$DIR"
    [ -f "$DIR/ssh_host_ed25519_key" ] ||
        ssh-keygen -q -t ed25519 -N '' -C actuator-test-host -f "$DIR/ssh_host_ed25519_key"
    [ -f "$DIR/client_ed25519" ] ||
        ssh-keygen -q -t ed25519 -N '' -C actuator-test-client -f "$DIR/client_ed25519"
    [ -f "$DIR/wrong_ed25519" ] ||
        ssh-keygen -q -t ed25519 -N '' -C actuator-test-unauthorized -f "$DIR/wrong_ed25519"
    # One authorized_keys for every user of this daemon (see AuthorizedKeysFile below), where the
    # test user can read it (sshd opens it as that user): as root, outside the checkout, one file
    # per state directory; otherwise the state directory, which that same user can read.
    if [ "$(id -u)" = 0 ]; then
        AUTH_KEYS="$(svc_dir sshd root 0755)/authorized_keys-$(printf '%s' "$DIR" | sha256sum | cut -c1-12)"
        rm -f "$DIR/authorized_keys" # where earlier versions of this script put it
    else
        AUTH_KEYS="$DIR/authorized_keys"
    fi
    install -m 0644 "$DIR/client_ed25519.pub" "$AUTH_KEYS"
}

make_user() {
    [ "$(id -u)" = 0 ] || return 0
    if ! getent passwd "$TEST_USER" >/dev/null; then
        log "creating user $TEST_USER"
        useradd --create-home --shell /bin/bash "$TEST_USER"
    fi
    local home
    home="$(getent passwd "$TEST_USER" | cut -d: -f6)"
    # A quiet start-up: no rc output, no motd or last-login lines.
    touch "$home/.hushlogin"
    chown "$TEST_USER:" "$home/.hushlogin"
    # One password for the user on this machine, kept root-only outside the checkouts: every
    # checkout's tests may run at once, and each setting its own would lock the others out.
    local shared="$SVC_ROOT/$TEST_USER.password"
    if [ ! -s "$shared" ]; then
        install -d -m 0755 "$SVC_ROOT"
        (umask 077 && head -c 18 /dev/urandom | base64 | tr -d '/+=\n' >"$shared.new" && mv "$shared.new" "$shared")
    fi
    install -m 0600 "$shared" "$DIR/password"
    printf '%s:%s\n' "$TEST_USER" "$(cat "$shared")" | chpasswd
}

# Writes daemon $1's config to sshd-$1.config.new (start decides whether it replaces the old one).
write_config() {
    local i=$1 cfg="$DIR/sshd-$1.config.new" first last a
    first=$((i * PER_DAEMON + 1))
    last=$((first + PER_DAEMON - 1))
    [ "$last" -le "$HOSTS" ] || last=$HOSTS
    {
        echo "# Generated by scripts/sshd.sh: daemon $i, 127.0.0.$first .. 127.0.0.$last"
        echo "Port $PORT"
        for a in $(seq "$first" "$last"); do echo "ListenAddress 127.0.0.$a"; done
        echo "HostKey $DIR/ssh_host_ed25519_key"
        echo "PidFile $DIR/sshd-$i.pid"
        echo "UsePAM no"
        echo "PubkeyAuthentication yes"
        echo "PasswordAuthentication yes"
        echo "KbdInteractiveAuthentication no"
        echo "PermitRootLogin prohibit-password"
        # Only the test key: not the users' own ~/.ssh/authorized_keys.
        echo "AuthorizedKeysFile $AUTH_KEYS"
        # The non-root state directory may sit in a group-writable checkout: do not reject the key.
        echo "StrictModes no"
        # The benchmark opens up to 100 connections at once (its own cap is lower, but be generous).
        echo "MaxStartups 400:30:800"
        echo "MaxAuthTries 10"
        echo "LoginGraceTime 30"
        echo "PrintMotd no"
        echo "PrintLastLog no"
        echo "UseDNS no"
        echo "LogLevel VERBOSE"
        echo "Subsystem sftp internal-sftp"
    } >"$cfg"
    # OpenSSH 9.8+ penalises sources that fail to authenticate (the wrong-key test would then lock
    # every later test out of 127.0.0.1 for a while); older versions do not know the keyword.
    if "$SSHD" -t -f "$cfg" -o PerSourcePenalties=no 2>/dev/null; then
        echo "PerSourcePenalties no" >>"$cfg"
    fi
    "$SSHD" -t -f "$cfg"
}

running() {
    local pidfile="$DIR/sshd-$1.pid"
    [ -s "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null
}

# The one line of daemon $1's log (since this start) that says why it is not serving.
why() {
    svc_why "$DIR/sshd-$1.log" "${LOG_FROM:-0}"
}

wait_ready() {
    local i=$1 addr=$2 n
    for n in $(seq 1 100); do
        if (exec 3<>"/dev/tcp/$addr/$PORT") 2>/dev/null; then
            return 0
        fi
        sleep 0.05
    done
    log "sshd $i does not answer on $addr:$PORT: $(why "$i")"
    exit 1
}

# Log in once as the test user with the OpenSSH client and the test key, as the tests will. On
# failure, say why from what the daemon logged during the attempt.
check_login() {
    command -v ssh >/dev/null || { log "no ssh client: login not checked"; return 0; }
    local log="$DIR/sshd-0.log" before out
    before=$(stat -c %s "$log" 2>/dev/null || echo 0)
    if out="$(ssh -F /dev/null -i "$DIR/client_ed25519" -p "$PORT" \
        -o BatchMode=yes -o IdentitiesOnly=yes -o StrictHostKeyChecking=no \
        -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -o ConnectTimeout=10 \
        "$TEST_USER@127.0.0.1" 'id -un' </dev/null 2>&1)" && [ "$out" = "$TEST_USER" ]; then
        return 0
    fi
    local reason
    if [ "$(stat -c %s "$log" 2>/dev/null || echo 0)" -gt "$before" ]; then
        reason="$(svc_why "$log" "$before")"
    else
        reason="$(echo "$out" | tail -1)"
    fi
    log "$TEST_USER cannot log in with $DIR/client_ed25519 on 127.0.0.1:$PORT: $reason"
    exit 1
}

start() {
    install_sshd
    make_keys
    make_user
    choose_port
    mkdir -p /run/sshd 2>/dev/null || true
    local i n
    n=$(daemons)
    for i in $(seq 0 $((n - 1))); do
        write_config "$i"
        if running "$i"; then
            # A daemon started from an older config (another version of this script) is restarted.
            if cmp -s "$DIR/sshd-$i.config" "$DIR/sshd-$i.config.new"; then
                rm -f "$DIR/sshd-$i.config.new"
                continue
            fi
            log "sshd $i: config changed, restarting"
            stop_one "$DIR/sshd-$i.pid"
        fi
        mv "$DIR/sshd-$i.config.new" "$DIR/sshd-$i.config"
        LOG_FROM=$(stat -c %s "$DIR/sshd-$i.log" 2>/dev/null || echo 0)
        "$SSHD" -f "$DIR/sshd-$i.config" -E "$DIR/sshd-$i.log" 9>&- ||
            { log "sshd $i did not start: $(why "$i")"; exit 1; }
        wait_ready "$i" "127.0.0.$((i * PER_DAEMON + 1))"
        # Answering is not enough: it must be this daemon (not another server on the port).
        running "$i" || {
            log "sshd $i exited: $(why "$i")"
            exit 1
        }
    done
    check_login
    log "running: 127.0.0.1 .. 127.0.0.$HOSTS port $PORT, user $TEST_USER, state $DIR"
}

stop_one() {
    local pidfile=$1 pid
    pid="$(cat "$pidfile" 2>/dev/null || true)"
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        kill "$pid"
        for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    fi
    rm -f "$pidfile"
}

stop() {
    local pidfile
    shopt -s nullglob
    for pidfile in "$DIR"/sshd-*.pid; do
        stop_one "$pidfile"
    done
}

status() {
    local i
    for i in $(seq 0 $(($(daemons) - 1))); do
        running "$i" || return 1
    done
}

env_lines() {
    echo "export ACTUATOR_SSHD_DIR='$DIR'"
    echo "export ACTUATOR_SSH_PORT='$PORT'"
    echo "export ACTUATOR_SSH_HOSTS='$HOSTS'"
    echo "export ACTUATOR_SSH_USER='$TEST_USER'"
    echo "export ACTUATOR_SSH_KEY='$DIR/client_ed25519'"
    echo "export ACTUATOR_SSH_WRONG_KEY='$DIR/wrong_ed25519'"
    echo "export ACTUATOR_SSH_HOST_KEY='$DIR/ssh_host_ed25519_key.pub'"
    echo "export ACTUATOR_SSH_KNOWN_HOSTS='$DIR/known_hosts'"
    if [ "$(id -u)" = 0 ]; then
        echo "export ACTUATOR_SSH_PASSWORD_FILE='$DIR/password'"
    fi
}

# One start or stop at a time (test binaries and the benchmark may call this concurrently).
lock() {
    mkdir -p "$DIR"
    exec 9>"$DIR/.lock"
    flock 9
}

case "${1:-}" in
start) lock && start ;;
stop) lock && stop ;;
env) env_lines ;;
status) status ;;
*)
    echo "usage: $0 start|stop|env|status" >&2
    exit 2
    ;;
esac
