#!/usr/bin/env bash
# Runs the benchmark playbook with Ansible against the test sshd and prints its wall time:
#
#   tests/benches/ansible/run.sh [HOSTS]     # HOSTS: 10 (default) or up to the sshd's count
#
# Installs ansible-core with pip into a venv under target/ (only here, when the benchmark runs),
# reads the sshd's port, user and key from `scripts/sshd.sh env`, and prints one line
# `ansible_seconds=S` after the playbook's own output. ANSIBLE_SSH_PIPELINING=True selects the
# pipelining variant. Every run starts with an empty ControlPersist directory.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../../.." && pwd)"
HOSTS="${1:-10}"
VENV="$ROOT/target/ansible-venv"

if [ ! -x "$VENV/bin/ansible-playbook" ]; then
    echo "run.sh: installing ansible-core into $VENV" >&2
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check ansible-core </dev/null
fi
eval "$("$ROOT/scripts/sshd.sh" env)"

inventory="$HERE/inventory.ini"
if [ "$HOSTS" != 10 ]; then
    inventory="$(mktemp)"
    sed "s/^127\.0\.0\.\[2:11\]$/127.0.0.[2:$((HOSTS + 1))]/" "$HERE/inventory.ini" >"$inventory"
fi
control="$(mktemp -d)"
trap 'rm -rf "$control"; [ "$inventory" = "$HERE/inventory.ini" ] || rm -f "$inventory"' EXIT

export ANSIBLE_CONFIG="$HERE/ansible.cfg"
export ANSIBLE_SSH_CONTROL_PATH_DIR="$control"
export ANSIBLE_LOCAL_TEMP="$control/local"
start=$(date +%s.%N)
"$VENV/bin/ansible-playbook" -i "$inventory" "$HERE/playbook.yml" >"$control/out" 2>&1 || {
    cat "$control/out" >&2
    exit 1
}
end=$(date +%s.%N)
tail -n 4 "$control/out"
# Stop the ControlPersist masters now rather than in 60 s.
for sock in "$control"/*; do
    [ -S "$sock" ] && ssh -o ControlPath="$sock" -O exit dummy >/dev/null 2>&1 || true
done
echo "ansible_seconds=$(awk "BEGIN { printf \"%.3f\\n\", $end - $start }")"
