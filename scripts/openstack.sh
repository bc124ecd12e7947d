#!/usr/bin/env bash
# A real OpenStack on loopback for the OpenStack proxy's tests, example and benchmark: Keystone 30,
# Neutron 29 (ML2 flat + vlan, router, security groups, port security, tags), Nova 34 (api,
# conductor, scheduler, one compute host `compute1` with the fake virt driver), Placement 16 and
# Glance 33, from PyPI; RabbitMQ from the Debian archive; PostgreSQL from scripts/postgres.sh.
#
#   scripts/openstack.sh start     idempotent: installs what is missing (the venv; apt
#                                  rabbitmq-server), initialises the databases once, starts what
#                                  is not running, waits until every API answers, seeds, writes
#                                  clouds.yaml. Fails with one line saying why (from the logs).
#   scripts/openstack.sh stop      stops every process of the stack (process groups); data stays.
#                                  PostgreSQL keeps running: scripts/postgres.sh stop.
#   scripts/openstack.sh env       eval "$(scripts/openstack.sh env)": OS_CLIENT_CONFIG_FILE,
#                                  OS_CLOUD=demo and the ACTUATOR_OS_* variables below
#   scripts/openstack.sh status    one line per process and API; exit 0 when all are up
#   scripts/openstack.sh selftest  network, subnet, router + gateway + interface, security group
#                                  + rule, port, floating IP, a server booted to ACTIVE on the
#                                  port, all deleted again; then the 10th security group of
#                                  project `limited` must get HTTP 409
#   scripts/openstack.sh dir       prints the service directory
#   scripts/openstack.sh clean     stop, drop the databases, delete the service directory
#
# WITH_NOVA=0: Keystone and Neutron only (no RabbitMQ, Nova, Placement or Glance), ~0.4 GB.
# Switching modes restarts the stack.
#
# Where: the service directory of scripts/lib/services.sh (as root
# /var/lib/actuator-services/<checkout hash>/openstack, owned by `actuator-svc`, which every
# process runs as; otherwise target/openstack): etc/, log/ (one line of them explains a failed
# start), run/ (pid files), state/, helpers/ (a copy of scripts/openstack/), clouds.yaml. The venv
# (~620 MB): as root one per content, shared by the machine's checkouts,
# /var/lib/actuator-services/venvs/openstack-<hash> (`clean` leaves it); otherwise
# target/openstack/venv. Databases keystone, neutron, nova_api, nova, nova_cell0, placement and
# glance (role `openstack`) in scripts/postgres.sh's cluster, which start starts.
#
# Ports, all on 127.0.0.1, from a base (ACTUATOR_OS_PORT_BASE; default 25000, else when something
# else holds one of them the first free block of 25010, 25020, … 25090, remembered): Keystone
# base, Neutron +1, Nova +2, Placement +3, Glance +4, RabbitMQ +5, Erlang distribution +6, epmd +7,
# the short-token Keystone +8.
#
# Clouds in clouds.yaml: `admin` (admin of project admin), `demo` (member of project demo),
# `limited` (member of project limited), one generated password for all; `demo-short-token` is
# `demo` logging in at a second Keystone (same database and keys) whose tokens expire after
# ACTUATOR_OS_SHORT_TOKEN_SECONDS (20 s), for the test of a run that outlives its token. Quotas: admin and demo
# are raised for the proxy's tests and benchmark (200 networks, subnets, floating IPs, security
# groups and servers, 100 routers, …: see scripts/openstack/stack.py); `limited` and any project a
# test creates keep the upstream defaults, so quota errors are testable there: 10 security groups
# (the `default` group is the first, so the 10th create gets HTTP 409), 10 routers, 50 floating
# IPs, 10 servers, 20 cores. Seeded: external flat network `public` (172.24.4.0/24, for floating
# IPs), flavor `m1.tiny` (id 1), public raw image `cirros` (1 MiB of zeros).
#
# No agents run: Nova's ports are bound (an agent-less ML2 driver, scripts/openstack/ml2_noop) and
# go ACTIVE, but floating IPs, router ports and unbound ports stay DOWN and nothing carries
# packets. The fake driver keeps servers in memory: after a restart of nova-compute, servers made
# before are gone from the host but not from the API.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
# shellcheck source-path=SCRIPTDIR source=lib/services.sh
. "$ROOT/scripts/lib/services.sh"

# Python must keep the bytecode it compiles: the services import thousands of modules, and compiling
# them again in every process doubles the CPU time of a start.
unset PYTHONDONTWRITEBYTECODE

WITH_NOVA="${WITH_NOVA:-1}"
PYTHON="${ACTUATOR_OS_PYTHON:-/usr/bin/python3}"
UV_VERSION=0.13.9
PKGS=(keystone==30.0.0 neutron==29.0.0 nova==34.0.0 openstack-placement==16.0.0 glance==33.0.0
    python-openstackclient==10.5.0 psycopg2-binary==2.9.13)
DATABASES=(keystone neutron nova_api nova nova_cell0 placement glance)

log() { echo "openstack.sh: [$((SECONDS - T0)) s] $*" >&2; }
T0=$SECONDS
die() {
    log "$*"
    exit 1
}

SVC_USER="$(svc_user)"
D="$(svc_dir openstack "$SVC_USER")"
# What the venv holds: as root, one venv per content is shared by the machine's checkouts (it is
# only read once installed, and installing takes minutes on a busy machine).
VENV_KEY="$(cat "$ROOT/scripts/openstack/constraints.txt" "$ROOT"/scripts/openstack/ml2_noop/*.py \
    "$ROOT"/scripts/openstack/ml2_noop/*.toml <(echo "${PKGS[*]}") <("$PYTHON" --version 2>&1) |
    sha256sum | cut -c1-12)"
if svc_is_root; then
    VENV="$(svc_dir_shared venvs)/openstack-$VENV_KEY"
else
    VENV="$D/venv"
fi
PY="$VENV/bin/python"
ETC="$D/etc"
LOGS="$D/log"
RUN="$D/run"
STATE="$D/state"
# The helpers (scripts/openstack/) as the service user reads them: a copy made on each start,
# since the checkout may be closed to that user.
HERE="$D/helpers"

# The service user's processes run in, and with HOME = the service directory.
SVC_HOME="$D"
run() { as_svc_user "$@"; }

# Creates, as the service user, the directories given.
mkdirs() {
    local d
    for d in "$@"; do
        [ -d "$d" ] || run mkdir -p "$d"
    done
}

secret() { # name → a random password kept in the service directory
    local f="$D/$1"
    if [ ! -s "$f" ]; then
        run sh -c "umask 077 && head -c 18 /dev/urandom | base64 | tr -d '/+=\n' >'$f'"
    fi
    cat "$f"
}

# ---------------------------------------------------------------- ports
if [ -n "${ACTUATOR_OS_PORT_BASE:-}" ]; then
    BASE_PORT=$ACTUATOR_OS_PORT_BASE
elif [ -s "$D/port-base" ]; then
    BASE_PORT="$(cat "$D/port-base")"
else
    BASE_PORT=25000
fi
set_ports() {
    KS_PORT=$BASE_PORT
    NEUTRON_PORT=$((BASE_PORT + 1))
    NOVA_PORT=$((BASE_PORT + 2))
    PLACEMENT_PORT=$((BASE_PORT + 3))
    GLANCE_PORT=$((BASE_PORT + 4))
    RABBIT_PORT=$((BASE_PORT + 5))
    RABBIT_DIST_PORT=$((BASE_PORT + 6))
    EPMD_PORT=$((BASE_PORT + 7))
    KS_SHORT_PORT=$((BASE_PORT + 8))
}
# The short-token Keystone's token lifetime (its conf file says the same).
SHORT_TOKEN_SECONDS=20
set_ports

block_free() {
    local p
    for p in $(seq "$1" $(($1 + 8))); do
        svc_port_free "$p" || return 1
    done
}

# With nothing of ours running: keep the base when its 9 ports are free, else find a free block.
choose_ports() {
    if ! block_free "$BASE_PORT"; then
        [ -z "${ACTUATOR_OS_PORT_BASE:-}" ] ||
            die "a port of $BASE_PORT..$((BASE_PORT + 8)) is taken (ACTUATOR_OS_PORT_BASE)"
        local b
        for b in $(seq 25000 10 25090); do
            if block_free "$b"; then
                log "ports $BASE_PORT..$((BASE_PORT + 8)) are taken (another checkout's stack?); using $b.."
                BASE_PORT=$b
                set_ports
                break
            fi
        done
        block_free "$BASE_PORT" || die "no free block of 9 ports in 25000..25098"
    fi
    echo "$BASE_PORT" >"$D/port-base"
}

# ---------------------------------------------------------------- processes
PROCS_NOVA=(epmd rabbitmq keystone keystone-short placement glance neutron nova-api nova-conductor
    nova-scheduler nova-compute)
PROCS_NEUTRON=(keystone keystone-short neutron)

running() { [ -s "$RUN/$1.pid" ] && kill -0 "$(cat "$RUN/$1.pid")" 2>/dev/null; }

any_running() {
    local p
    for p in "${PROCS_NOVA[@]}"; do
        running "$p" && return 0
    done
    return 1
}

# spawn NAME CMD…: start CMD as the service user in its own session (so stop can end its whole
# process group), output to log/NAME.out, pid in run/NAME.pid.
spawn() {
    local name=$1
    shift
    running "$name" && return 0
    # A subshell that execs: $! is the daemon's pid (setsid does not fork outside a group leader).
    (cd "$D" && exec setsid "${SVC_AS[@]}" "$@" </dev/null >>"$LOGS/$name.out" 2>&1 9>&-) &
    echo $! >"$RUN/$name.pid"
}

# serve NAME MODULE PORT PROG [VAR=value…] [-- oslo args…]: an API's WSGI app via serve.py.
serve() {
    local name=$1 module=$2 port=$3 prog=$4 envs=()
    shift 4
    while [ $# -gt 0 ] && [ "$1" != -- ]; do
        envs+=("$1")
        shift
    done
    [ "${1:-}" != -- ] || shift
    spawn "$name" env "${envs[@]}" "$PY" "$HERE/serve.py" "$module" "$port" "$prog" "$@"
}

# One line saying why process $1 is not serving: its own log, else its output.
why() {
    local name=$1 f
    for f in "$LOGS/$name.log" "$LOGS/$name.out"; do
        if [ -s "$f" ] && grep -qaiE 'error|exception|fatal|refus|denied|could not|cannot' "$f"; then
            svc_why "$f"
            return
        fi
    done
    svc_why "$LOGS/$name.out"
}

# wait_http NAME URL [SECONDS]: until URL answers any HTTP status.
wait_http() {
    local name=$1 url=$2 limit=${3:-180} t0=$SECONDS
    until curl -s -o /dev/null -m 5 "$url"; do
        running "$name" || die "$name exited: $(why "$name")"
        [ $((SECONDS - t0)) -lt "$limit" ] || die "$name does not answer at $url after $limit s: $(why "$name")"
        sleep 0.3
    done
}

wait_tcp() {
    local name=$1 port=$2 limit=${3:-120} t0=$SECONDS
    until (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
        running "$name" || die "$name exited: $(why "$name")"
        [ $((SECONDS - t0)) -lt "$limit" ] || die "$name does not listen on $port after $limit s: $(why "$name")"
        sleep 0.3
    done
}

# ---------------------------------------------------------------- install
stage_helpers() {
    rm -rf "$HERE.new"
    cp -r "$ROOT/scripts/openstack" "$HERE.new"
    svc_is_root && chown -R "$SVC_USER:" "$HERE.new"
    rm -rf "$HERE"
    mv "$HERE.new" "$HERE"
}

install_stack() {
    if svc_is_root && [ "$WITH_NOVA" = 1 ] && [ ! -x /usr/lib/rabbitmq/bin/rabbitmq-server ]; then
        log "installing rabbitmq-server from the Debian archive"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq </dev/null >/dev/null
        apt-get install -y -qq --no-install-recommends rabbitmq-server </dev/null >/dev/null
    fi
    [ "$WITH_NOVA" != 1 ] || [ -x /usr/lib/rabbitmq/bin/rabbitmq-server ] ||
        die "rabbitmq-server is missing and installing it needs root: apt-get install rabbitmq-server"
    if ! "$PYTHON" -c 'import ensurepip, venv' 2>/dev/null; then
        svc_is_root || die "$PYTHON cannot make a venv: apt-get install python3-venv"
        log "installing python3-venv from the Debian archive"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-venv </dev/null >/dev/null
    fi
    [ "$(cat "$VENV/.installed" 2>/dev/null)" = "$VENV_KEY" ] && return 0
    mkdirs "$LOGS"
    # One installer per venv (another checkout may be installing the same one).
    exec 8>"$VENV.lock"
    flock 8
    if [ "$(cat "$VENV/.installed" 2>/dev/null)" = "$VENV_KEY" ]; then
        exec 8>&-
        return 0
    fi
    log "installing the OpenStack services into $VENV (uv, ~170 packages)"
    [ -x "$PY" ] || run "$PYTHON" -m venv "$VENV"
    # uv installs in a fraction of pip's time; pip is the fallback. The cache is shared by the
    # checkouts of this machine.
    local cache
    if svc_is_root; then
        cache="$(svc_dir_shared cache)"
        export UV_CACHE_DIR="$cache/uv" PIP_CACHE_DIR="$cache/pip"
    fi
    [ -z "${PIP_CERT:-}" ] || export SSL_CERT_FILE="${SSL_CERT_FILE:-$PIP_CERT}"
    [ -z "${PIP_INDEX_URL:-}" ] || export UV_DEFAULT_INDEX="${UV_DEFAULT_INDEX:-$PIP_INDEX_URL}"
    if ! { run "$VENV/bin/pip" install -q "uv==$UV_VERSION" >"$LOGS/install.log" 2>&1 &&
        run "$VENV/bin/uv" pip install -q --python "$PY" -c "$HERE/constraints.txt" \
            "${PKGS[@]}" "$HERE/ml2_noop" >>"$LOGS/install.log" 2>&1; }; then
        log "uv failed ($(svc_why "$LOGS/install.log")); trying pip"
        run "$VENV/bin/pip" install -q -c "$HERE/constraints.txt" "${PKGS[@]}" "$HERE/ml2_noop" \
            >>"$LOGS/install.log" 2>&1 || die "pip install failed: $(svc_why "$LOGS/install.log")"
    fi
    echo "$VENV_KEY" >"$VENV/.installed"
    exec 8>&-
    # The venv of an earlier version of this script, per checkout.
    [ "$VENV" = "$D/venv" ] || rm -rf "$D/venv"
}

# ---------------------------------------------------------------- configuration
configure() {
    mkdirs "$ETC"/{keystone,neutron,nova,placement,glance,rabbitmq} "$LOGS" "$RUN" "$STATE" \
        "$STATE"/{neutron/lock,nova/lock,nova/instances,glance/images,glance/staging,glance/tasks,glance/lock} \
        "$D/rabbit"
    PASSWORD="$(secret password)"
    local pg_url
    pg_url="$("$ROOT/scripts/postgres.sh" createdb keystone openstack)"
    # postgres://openstack:PW@127.0.0.1:PORT/keystone → SQLAlchemy's prefix for every database
    export DB="postgresql+psycopg2://${pg_url#postgres://}"
    DB="${DB%keystone}"
    export BASE="$D" VENV PASSWORD KS_PORT GLANCE_PORT RABBIT_PORT
    if [ "$WITH_NOVA" = 1 ]; then
        export NEUTRON_TRANSPORT="rabbit://guest:guest@127.0.0.1:$RABBIT_PORT/" NOTIFY_NOVA=true
    else
        export NEUTRON_TRANSPORT="fake://" NOTIFY_NOVA=false
    fi
    local c="$HERE/conf"
    run "$PY" "$HERE/stack.py" render \
        "$c/keystone.conf" "$ETC/keystone/keystone.conf" \
        "$c/keystone-short-token.conf" "$ETC/keystone/short-token.conf" \
        "$c/neutron.conf" "$ETC/neutron/neutron.conf" \
        "$c/ml2_conf.ini" "$ETC/neutron/ml2_conf.ini" \
        "$c/placement.conf" "$ETC/placement/placement.conf" \
        "$c/nova.conf" "$ETC/nova/nova.conf" \
        "$c/glance-api.conf" "$ETC/glance/glance-api.conf" \
        "$c/rabbitmq.conf" "$ETC/rabbitmq/rabbitmq.conf"
    run cp "$VENV/etc/glance/glance-api-paste.ini" "$ETC/glance/"
    # nova-api: its first config file must be the paste file ("No section 'osapi_compute'").
    run cp "$VENV/etc/nova/api-paste.ini" "$ETC/nova/"
    run sh -c "echo '[].' >'$ETC/rabbitmq/enabled_plugins' && : >'$ETC/rabbitmq/rabbitmq-env.conf'"
    if [ ! -s "$D/rabbit/.erlang.cookie" ]; then
        run sh -c "umask 077 && head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >'$D/rabbit/.erlang.cookie'"
        run chmod 0400 "$D/rabbit/.erlang.cookie"
    fi
    write_clouds
}

write_clouds() {
    local auth="http://127.0.0.1:$KS_PORT/v3" cloud
    {
        echo "# Written by scripts/openstack.sh on each start."
        echo "clouds:"
        for cloud in admin demo limited demo-short-token; do
            [ "$cloud" != demo-short-token ] || auth="http://127.0.0.1:$KS_SHORT_PORT/v3"
            cat <<EOF
  $cloud:
    auth:
      auth_url: $auth
      username: ${cloud%-short-token}
      password: $PASSWORD
      project_name: ${cloud%-short-token}
      user_domain_name: Default
      project_domain_name: Default
    region_name: RegionOne
    interface: public
    identity_api_version: 3
EOF
        done
    } >"$D/clouds.yaml.new"
    svc_is_root && chown "$SVC_USER:" "$D/clouds.yaml.new"
    chmod 0600 "$D/clouds.yaml.new"
    mv "$D/clouds.yaml.new" "$D/clouds.yaml"
}

# ---------------------------------------------------------------- databases
# The databases are initialised once per PostgreSQL cluster: a marker names the cluster it was
# made for, so a re-created cluster (postgres.sh clean) is initialised again, with fresh state.
cluster_id() {
    "$ROOT/scripts/postgres.sh" psql -d postgres -Atc 'SELECT system_identifier FROM pg_control_system()'
}

db_init() { # name command… (in the background; its log in log/init-NAME.log)
    local name=$1
    shift
    [ "$(cat "$STATE/$name.done" 2>/dev/null)" = "$CLUSTER" ] && return 0
    (
        run "$@" >"$LOGS/init-$name.log" 2>&1 || exit 1
        run sh -c "echo '$CLUSTER' >'$STATE/$name.done'"
    ) 9>&- &
    INIT_PIDS+=("$!:$name")
}

init_keystone() {
    local km=("$VENV/bin/keystone-manage" --config-file "$ETC/keystone/keystone.conf") u g
    u="$SVC_USER"
    g="$(id -gn "$SVC_USER")"
    "${km[@]}" db_sync &&
        "${km[@]}" fernet_setup --keystone-user "$u" --keystone-group "$g" &&
        "${km[@]}" credential_setup --keystone-user "$u" --keystone-group "$g" &&
        OS_BOOTSTRAP_PASSWORD="$PASSWORD" "${km[@]}" bootstrap --bootstrap-region-id RegionOne \
            --bootstrap-admin-url "http://127.0.0.1:$KS_PORT/v3" \
            --bootstrap-internal-url "http://127.0.0.1:$KS_PORT/v3" \
            --bootstrap-public-url "http://127.0.0.1:$KS_PORT/v3"
}

init_neutron() {
    "$PY" "$HERE/stack.py" neutron-schema "${DB}neutron" &&
        "$VENV/bin/neutron-db-manage" --config-file "$ETC/neutron/neutron.conf" \
            --config-file "$ETC/neutron/ml2_conf.ini" stamp heads
}

init_nova() {
    local nm=("$VENV/bin/nova-manage" --config-file "$ETC/nova/nova.conf")
    # Cell URLs are templates filled from nova.conf, so the ports may change between starts.
    "${nm[@]}" api_db sync &&
        "${nm[@]}" cell_v2 map_cell0 \
            --database_connection '{scheme}://{username}:{password}@{hostname}:{port}/nova_cell0' &&
        "${nm[@]}" cell_v2 create_cell --name cell1 \
            --database_connection '{scheme}://{username}:{password}@{hostname}:{port}/{path}' \
            --transport-url '{scheme}://{username}:{password}@{hostname}:{port}/' &&
        "${nm[@]}" db sync
}

init_databases() {
    # configure made the role `openstack` and its database keystone; the others, in one go.
    local d sql=""
    for d in "${DATABASES[@]}"; do
        sql+="SELECT 'CREATE DATABASE $d OWNER openstack' WHERE NOT EXISTS"
        sql+=" (SELECT 1 FROM pg_database WHERE datname = '$d') \gexec"$'\n'
    done
    "$ROOT/scripts/postgres.sh" psql -q -v ON_ERROR_STOP=1 -d postgres <<<"$sql" >/dev/null
    CLUSTER="$(cluster_id)"
    if [ "$(cat "$STATE/keystone.done" 2>/dev/null)" != "$CLUSTER" ] && [ -s "$STATE/keystone.done" ]; then
        log "the PostgreSQL cluster is new: initialising again, with fresh state"
        run rm -rf "$STATE/nova" "$STATE/glance" "$ETC/keystone/fernet-keys" "$ETC/keystone/credential-keys"
        run rm -f "$STATE"/*.done
        configure
    fi
    INIT_PIDS=()
    # Export what the functions need: they run as the service user through `run bash -c`.
    export -f init_keystone init_neutron init_nova
    export VENV ETC PY HERE KS_PORT PASSWORD SVC_USER
    db_init keystone bash -c init_keystone
    db_init neutron bash -c init_neutron
    if [ "$WITH_NOVA" = 1 ]; then
        db_init placement "$VENV/bin/placement-manage" --config-file "$ETC/placement/placement.conf" db sync
        db_init glance "$VENV/bin/glance-manage" --config-file "$ETC/glance/glance-api.conf" db_sync
        db_init nova bash -c init_nova
    fi
    [ ${#INIT_PIDS[@]} -gt 0 ] || return 0
    log "initialising the databases: ${INIT_PIDS[*]#*:}"
    local item
    for item in "${INIT_PIDS[@]}"; do
        wait "${item%%:*}" || die "initialising ${item#*:} failed: $(svc_why "$LOGS/init-${item#*:}.log")"
    done
    log "databases initialised"
}

# ---------------------------------------------------------------- start / stop
start_processes() {
    local rabbit_env=(HOME="$D/rabbit" ERL_EPMD_PORT="$EPMD_PORT" ERL_EPMD_ADDRESS=127.0.0.1
        RABBITMQ_CONF_ENV_FILE="$ETC/rabbitmq/rabbitmq-env.conf"
        RABBITMQ_NODENAME=rabbit@localhost RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
        RABBITMQ_NODE_PORT="$RABBIT_PORT" RABBITMQ_DIST_PORT="$RABBIT_DIST_PORT"
        RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
        RABBITMQ_MNESIA_BASE="$D/rabbit/mnesia" RABBITMQ_LOG_BASE="$LOGS/rabbitmq"
        RABBITMQ_CONFIG_FILE="$ETC/rabbitmq/rabbitmq"
        RABBITMQ_ENABLED_PLUGINS_FILE="$ETC/rabbitmq/enabled_plugins"
        RABBITMQ_PID_FILE="$RUN/rabbitmq.beam.pid")
    if [ "$WITH_NOVA" = 1 ]; then
        spawn epmd env ERL_EPMD_ADDRESS=127.0.0.1 epmd -port "$EPMD_PORT"
        spawn rabbitmq env "${rabbit_env[@]}" /usr/lib/rabbitmq/bin/rabbitmq-server
    fi
    serve keystone keystone.wsgi.api "$KS_PORT" keystone OS_KEYSTONE_CONFIG_DIR="$ETC/keystone"
    serve keystone-short keystone.wsgi.api "$KS_SHORT_PORT" keystone \
        OS_KEYSTONE_CONFIG_DIR="$ETC/keystone" "OS_KEYSTONE_CONFIG_FILES=keystone.conf;short-token.conf"
    serve neutron neutron.wsgi.api "$NEUTRON_PORT" neutron-api OS_NEUTRON_CONFIG_DIR="$ETC/neutron" \
        "OS_NEUTRON_CONFIG_FILES=neutron.conf;ml2_conf.ini"
    [ "$WITH_NOVA" = 1 ] || return 0
    serve placement placement.wsgi.api "$PLACEMENT_PORT" placement-api \
        OS_PLACEMENT_CONFIG_DIR="$ETC/placement"
    serve glance glance.wsgi.api "$GLANCE_PORT" glance-api OS_GLANCE_CONFIG_DIR="$ETC/glance"
    serve nova-api nova.wsgi.osapi_compute "$NOVA_PORT" nova-api OS_NOVA_CONFIG_DIR="$ETC/nova" \
        "OS_NOVA_CONFIG_FILES=api-paste.ini;nova.conf" -- --log-file "$LOGS/nova-api.log"
}

# Nova's RPC services: after RabbitMQ answers (or they wait a while before retrying) and after
# Keystone knows the service users (nova-conductor exits when its Placement login fails).
start_nova_rpc() {
    [ "$WITH_NOVA" = 1 ] || return 0
    wait_tcp rabbitmq "$RABBIT_PORT" 120
    local s
    RPC_SINCE=$(date +%s)
    RPC_STARTED=()
    for s in conductor scheduler compute; do
        running "nova-$s" && continue
        spawn "nova-$s" "$VENV/bin/nova-$s" --config-file "$ETC/nova/nova.conf"
        RPC_STARTED+=("nova-$s")
    done
}

export_urls() {
    export OS_STACK_KEYSTONE_URL="http://127.0.0.1:$KS_PORT/v3"
    export OS_STACK_NEUTRON_URL="http://127.0.0.1:$NEUTRON_PORT"
    if [ "$WITH_NOVA" = 1 ]; then
        export OS_STACK_NOVA_URL="http://127.0.0.1:$NOVA_PORT/v2.1"
        export OS_STACK_PLACEMENT_URL="http://127.0.0.1:$PLACEMENT_PORT"
        export OS_STACK_GLANCE_URL="http://127.0.0.1:$GLANCE_PORT"
    fi
    export OS_CLIENT_CONFIG_FILE="$D/clouds.yaml" OS_STACK_WITH_NOVA="$WITH_NOVA" OS_STACK_STATE="$STATE"
}

# stack.py as the service user; its failure is one line (the last of its output).
stack_py() {
    local out
    if ! out="$(run "$PY" "$HERE/stack.py" "$@" 2>&1)"; then
        echo "$out" >>"$LOGS/stack.log"
        die "stack.py $1 failed: $(echo "$out" | grep -v '^\s*$' | tail -1 | cut -c1-300)"
    fi
    [ -z "$out" ] || echo "$out" >>"$LOGS/stack.log"
}

start() {
    RPC_STARTED=()
    if [ -s "$D/mode" ] && [ "$(cat "$D/mode")" != "$WITH_NOVA" ] && any_running; then
        log "WITH_NOVA changed from $(cat "$D/mode") to $WITH_NOVA: restarting the stack"
        stop
    fi
    if [ -s "$D/venv-key" ] && [ "$(cat "$D/venv-key")" != "$VENV_KEY" ] && any_running; then
        log "the venv changed: restarting the stack"
        stop
    fi
    stage_helpers
    install_stack
    "$ROOT/scripts/postgres.sh" start
    any_running || choose_ports
    echo "$WITH_NOVA" >"$D/mode"
    echo "$VENV_KEY" >"$D/venv-key"
    configure
    init_databases
    svc_as_prefix
    start_processes
    export_urls
    wait_http keystone "$OS_STACK_KEYSTONE_URL"
    wait_http keystone-short "http://127.0.0.1:$KS_SHORT_PORT/v3"
    once "ks-init" "$CLUSTER $BASE_PORT $WITH_NOVA" stack_py keystone
    start_nova_rpc
    log "Keystone is up; waiting for the other APIs"
    wait_http neutron "$OS_STACK_NEUTRON_URL/"
    if [ "$WITH_NOVA" = 1 ]; then
        wait_http placement "$OS_STACK_PLACEMENT_URL/"
        wait_http glance "$OS_STACK_GLANCE_URL/"
        wait_http nova-api "$OS_STACK_NOVA_URL/"
        local s
        for s in conductor scheduler compute; do
            running "nova-$s" || die "nova-$s exited: $(why "nova-$s")"
        done
    fi
    log "every API answers"
    once seed "$CLUSTER $WITH_NOVA" stack_py seed
    if [ "$WITH_NOVA" = 1 ] && [ ${#RPC_STARTED[@]} -gt 0 ]; then
        stack_py wait-nova "$((RPC_SINCE - 1))" "${RPC_STARTED[@]}"
    fi
    # Fresh tables have no statistics: Neutron's RBAC joins take 20x longer until ANALYZE.
    once analyze "$CLUSTER" analyze
    stack_py warm
    log "ready: Keystone $OS_STACK_KEYSTONE_URL$([ "$WITH_NOVA" = 1 ] || echo ' (WITH_NOVA=0)'); eval \"\$($0 env)\""
}

analyze() {
    local d
    for d in "${DATABASES[@]}"; do
        "$ROOT/scripts/postgres.sh" psql -d "$d" -qc ANALYZE
    done
}

# once NAME KEY CMD…: CMD unless it already succeeded for KEY (state/NAME.done holds the key).
once() {
    local name=$1 key=$2
    shift 2
    [ "$(cat "$STATE/$name.done" 2>/dev/null)" != "$key" ] || return 0
    "$@"
    run sh -c "echo '$key' >'$STATE/$name.done'"
}

stop() {
    local name pid live=() t0=$SECONDS
    # Nova first, RabbitMQ and epmd last; each process group as a whole (TERM, then KILL).
    for name in nova-compute nova-scheduler nova-conductor nova-api neutron glance placement keystone-short keystone rabbitmq epmd; do
        [ -s "$RUN/$name.pid" ] || continue
        pid="$(cat "$RUN/$name.pid")"
        if kill -0 "$pid" 2>/dev/null; then
            kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
            live+=("$pid")
        fi
        rm -f "$RUN/$name.pid"
    done
    for pid in "${live[@]}"; do
        while kill -0 "$pid" 2>/dev/null && [ $((SECONDS - t0)) -lt 15 ]; do
            sleep 0.2
        done
        kill -KILL -- "-$pid" 2>/dev/null || true
    done
    rm -f "$RUN/rabbitmq.beam.pid"
}

status() {
    local name ok=0 procs
    if [ "$(cat "$D/mode" 2>/dev/null || echo "$WITH_NOVA")" = 1 ]; then
        procs=("${PROCS_NOVA[@]}")
    else
        procs=("${PROCS_NEUTRON[@]}")
    fi
    for name in "${procs[@]}"; do
        if running "$name"; then
            echo "$name: running, pid $(cat "$RUN/$name.pid")"
        else
            echo "$name: not running"
            ok=1
        fi
    done
    return $ok
}

env_lines() {
    local nova
    nova="$(cat "$D/mode" 2>/dev/null || echo "$WITH_NOVA")"
    echo "export OS_CLIENT_CONFIG_FILE=$D/clouds.yaml OS_CLOUD=demo"
    echo "export ACTUATOR_OS_ADMIN_CLOUD=admin ACTUATOR_OS_DEMO_CLOUD=demo ACTUATOR_OS_LIMITED_CLOUD=limited"
    echo "export ACTUATOR_OS_AUTH_URL=http://127.0.0.1:$KS_PORT/v3 ACTUATOR_OS_NEUTRON_URL=http://127.0.0.1:$NEUTRON_PORT"
    if [ "$nova" = 1 ]; then
        echo "export ACTUATOR_OS_NOVA_URL=http://127.0.0.1:$NOVA_PORT/v2.1 ACTUATOR_OS_GLANCE_URL=http://127.0.0.1:$GLANCE_PORT ACTUATOR_OS_PLACEMENT_URL=http://127.0.0.1:$PLACEMENT_PORT"
        echo "export ACTUATOR_OS_FLAVOR=m1.tiny ACTUATOR_OS_IMAGE=cirros"
    fi
    echo "export ACTUATOR_OS_WITH_NOVA=$nova ACTUATOR_OS_EXTERNAL_NETWORK=public"
    echo "export ACTUATOR_OS_SHORT_TOKEN_CLOUD=demo-short-token ACTUATOR_OS_SHORT_TOKEN_SECONDS=$SHORT_TOKEN_SECONDS"
}

selftest() {
    [ -s "$D/clouds.yaml" ] || die "not started: scripts/openstack.sh start"
    stage_helpers
    WITH_NOVA="$(cat "$D/mode")"
    export_urls
    run "$PY" "$HERE/stack.py" selftest
}

clean() {
    stop
    if "$ROOT/scripts/postgres.sh" status; then
        local d
        for d in "${DATABASES[@]}"; do
            "$ROOT/scripts/postgres.sh" psql -d postgres -qc "DROP DATABASE IF EXISTS $d"
        done
    fi
    rm -rf "${D:?}"
}

lock() {
    exec 9>"$D/.lock"
    flock 9
}

case "${1:-}" in
start) lock && start ;;
stop) lock && stop ;;
status) status ;;
env) env_lines ;;
selftest) selftest ;;
dir) echo "$D" ;;
clean) lock && clean ;;
*)
    echo "usage: $0 start|stop|status|env|selftest|dir|clean" >&2
    exit 2
    ;;
esac
