# shellcheck shell=bash
# Shared by the loopback service scripts (sourced, not run): where a service keeps what another
# user must read or write, and which user a service runs as.
#
# The checkout may sit in a directory only its owner can enter (a clone in /root, or in a
# `mktemp -d`). A daemon that runs as, or reads files as, another user then cannot reach anything
# in it. So, as root, such state lives outside the checkout, in one directory per checkout:
#
#   $ACTUATOR_SERVICES_ROOT/<hash>/          root-owned 0755; <hash> = first 12 hex digits of the
#                                            sha256 of the checkout's path; `checkout` names it
#   $ACTUATOR_SERVICES_ROOT/<hash>/<name>/   one per service, mode 0700 (unless told otherwise),
#                                            owned by the user the service runs as
#
# (ACTUATOR_SERVICES_ROOT defaults to /var/lib/actuator-services.) As another user every service
# runs as that user, who can read its own checkout: the directory is then <checkout>/target/<name>.
#
# Services that refuse root (PostgreSQL, OpenStack) run as the system user `actuator-svc`
# (ACTUATOR_SERVICE_USER), created here when absent; as another user they run as that user.
#
#   svc_dir NAME [OWNER [MODE]]   create (if needed) and print the directory for service NAME
#   svc_user                      print the user services run as (creating it when root)
#   as_svc_user CMD…              run CMD as that user, in and with HOME set to $SVC_HOME (default /)
#   svc_as_prefix                 set SVC_AS to the command prefix as_svc_user uses (for setsid…)
#   svc_dir_shared NAME           as root, $ACTUATOR_SERVICES_ROOT/NAME, shared by all checkouts
#   svc_forget                    remove this checkout's directories (root only; for throwaway
#                                 checkouts such as scripts/private-checkout-check.sh's)
#   svc_port_free PORT            nothing listens on PORT, on any address
#   svc_why LOG [FROM]            print the one log line that best says why a service failed

SVC_CHECKOUT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)"
SVC_ROOT="${ACTUATOR_SERVICES_ROOT:-/var/lib/actuator-services}"
SVC_HASH="$(printf '%s' "$SVC_CHECKOUT" | sha256sum | cut -c1-12)"

svc_is_root() { [ "$(id -u)" = 0 ]; }

svc_user() {
    if ! svc_is_root; then
        id -un
        return 0
    fi
    local user="${ACTUATOR_SERVICE_USER:-actuator-svc}"
    if ! getent passwd "$user" >/dev/null; then
        useradd --system --user-group --no-create-home --home-dir /nonexistent \
            --shell /usr/sbin/nologin "$user" >&2
    fi
    echo "$user"
}

svc_dir() {
    local name=$1 owner=${2:-} mode=${3:-0700} dir
    if ! svc_is_root; then
        dir="$SVC_CHECKOUT/target/$name"
        [ -d "$dir" ] || { mkdir -p "${dir%/*}" && mkdir -m "$mode" "$dir"; }
        echo "$dir"
        return 0
    fi
    local base="$SVC_ROOT/$SVC_HASH"
    if [ ! -d "$base" ]; then
        command install -d -m 0755 -o root -g root "$SVC_ROOT" "$base"
    fi
    # Which checkout this is, for whoever wonders what the directory is.
    [ -f "$base/checkout" ] || echo "$SVC_CHECKOUT" >"$base/checkout"
    dir="$base/$name"
    [ -n "$owner" ] || owner=root
    if [ ! -d "$dir" ]; then
        command install -d -m "$mode" -o "$owner" -g "$(id -gn "$owner")" "$dir"
    fi
    echo "$dir"
}

# SVC_AS: a command prefix running a command as the service user (for `exec`, `setsid`…).
svc_as_prefix() {
    if svc_is_root; then
        local user
        user="$(svc_user)"
        SVC_AS=(setpriv --reuid="$user" --regid="$(id -g "$user")" --init-groups
            env HOME="${SVC_HOME:-/}" USER="$user" LOGNAME="$user")
    else
        SVC_AS=(env)
    fi
}

as_svc_user() {
    svc_as_prefix
    # From a directory the user can enter: some tools (initdb) insist on reading their cwd.
    (cd "${SVC_HOME:-/}" && exec "${SVC_AS[@]}" "$@")
}

# A directory shared by every checkout's services (a download cache), owned by the service user.
svc_dir_shared() {
    local dir="$SVC_ROOT/$1" user
    user="$(svc_user)"
    if [ ! -d "$dir" ]; then
        command install -d -m 0755 -o root -g root "$SVC_ROOT"
        command install -d -m 0700 -o "$user" -g "$(id -gn "$user")" "$dir"
    fi
    echo "$dir"
}

svc_port_free() {
    if command -v ss >/dev/null; then
        [ -z "$(ss -Hltn "sport = :$1" 2>/dev/null)" ]
    elif (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
        return 1
    fi
}

svc_forget() {
    svc_is_root || return 0
    case "$SVC_HASH" in ?*) rm -rf "${SVC_ROOT:?}/$SVC_HASH" ;; esac
}

# One line from LOG (from byte FROM on, default all) saying why a service failed: the last line
# naming a root cause, else the last line saying something could not be done, else the last
# error-like line, else the last line.
svc_why() {
    local log=$1 from=${2:-0} text line pattern
    [ -r "$log" ] || { echo "(no log at $log)"; return 0; }
    # Not the frames of a Python traceback in an oslo.log file, nor its empty last line.
    text="$(tail -c +"$((from + 1))" "$log" | grep -avE '(ERROR|CRITICAL) [^ ]+ ( |\^|Traceback|$)' || true)"
    for pattern in 'already in use|permission denied|no such file|no space left' \
        'could not|cannot|unable to|not found|not allowed|invalid user|refus' \
        'fatal|error|fail|exception|traceback'; do
        line="$(printf '%s\n' "$text" | grep -aiE "$pattern" | tail -1 || true)"
        [ -z "$line" ] || break
    done
    [ -n "$line" ] || line="$(printf '%s\n' "$text" | grep -v '^[[:space:]]*$' | tail -1)"
    printf '%s (%s)\n' "$(printf '%s' "$line" | tr -s ' \t' ' ' | cut -c1-300)" "$log"
}
