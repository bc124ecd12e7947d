#!/usr/bin/env bash
# The SSH smoke path from a checkout nobody else can enter (issue 16): a clone in /root or in a
# `mktemp -d` directory is mode 0700, and sshd reads the authorized keys as the test user.
#
#   scripts/private-checkout-check.sh
#
# Copies this tree's scripts/ (as they are, committed or not) into a fresh 0700 `mktemp -d`
# directory, starts that copy's sshd (one address, 127.0.0.1; the first free port from 2222 on, so
# the sshd of this or any other checkout may keep running), logs in as the test user with the
# OpenSSH client, the authorized key and the daemon's host key pinned, runs a command, and stops
# and removes everything it made (the copy, and as root its directory under
# /var/lib/actuator-services/). Exit 0 when the login and the command worked; otherwise
# scripts/sshd.sh's one-line reason, or this script's, on stderr. Takes about a second.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
log() { echo "private-checkout-check: $*" >&2; }

TMP="$(mktemp -d)"
chmod 0700 "$TMP"
COPY="$TMP/checkout"
mkdir "$COPY"
cp -r "$ROOT/scripts" "$COPY/"
SSHD_SH="$COPY/scripts/sshd.sh"

cleanup() {
    "$SSHD_SH" stop || true
    # shellcheck source-path=SCRIPTDIR source=lib/services.sh
    (. "$COPY/scripts/lib/services.sh" && svc_forget) || true
    rm -rf "$TMP"
}
trap cleanup EXIT

# The copy's own settings, not whatever the caller set for its checkout.
unset ACTUATOR_SSHD_DIR ACTUATOR_SSHD_PORT
export ACTUATOR_SSHD_HOSTS=1

"$SSHD_SH" start
eval "$("$SSHD_SH" env)"

# The point of the exercise: the test user cannot even enter the checkout.
if [ "$(id -u)" = 0 ] && runuser -u "$ACTUATOR_SSH_USER" -- test -x "$TMP" 2>/dev/null; then
    log "$ACTUATOR_SSH_USER can enter $TMP: the check would prove nothing"
    exit 1
fi

KNOWN="$TMP/known_hosts"
echo "[127.0.0.1]:$ACTUATOR_SSH_PORT $(cat "$ACTUATOR_SSH_HOST_KEY")" >"$KNOWN"
if ! out="$(ssh -F /dev/null -i "$ACTUATOR_SSH_KEY" -p "$ACTUATOR_SSH_PORT" \
    -o BatchMode=yes -o IdentitiesOnly=yes -o StrictHostKeyChecking=yes \
    -o UserKnownHostsFile="$KNOWN" -o LogLevel=ERROR -o ConnectTimeout=10 \
    "$ACTUATOR_SSH_USER@127.0.0.1" 'echo "$(id -un) $((6 * 7))"' </dev/null 2>&1)"; then
    log "ssh $ACTUATOR_SSH_USER@127.0.0.1:$ACTUATOR_SSH_PORT failed: $(echo "$out" | tail -1)"
    exit 1
fi
if [ "$out" != "$ACTUATOR_SSH_USER 42" ]; then
    log "unexpected output from the remote command: $out"
    exit 1
fi
log "ok: $ACTUATOR_SSH_USER logged in to the sshd of a checkout in a 0700 directory (port $ACTUATOR_SSH_PORT)"
