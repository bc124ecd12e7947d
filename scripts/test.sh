#!/usr/bin/env bash
# The whole test suite: formatting, lints, unit/integration/doc tests, the compile-fail UI tests, and
# the suites against real local services, which this script starts (idempotently) and stops:
#   - an OpenSSH server on loopback for the SSH agent (scripts/sshd.sh; installs openssh-server
#     from the Debian archive when absent).
# Features: ssh (the examples turn it on anyway, so the workspace builds once with it).
set -euo pipefail
cd "$(dirname "$0")/.."

cleanup() {
    scripts/sshd.sh stop || true
}
trap cleanup EXIT

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy (all targets, warnings are errors)"
cargo clippy --workspace --all-targets --features actuator/ssh -- -D warnings
echo "== sshd for the SSH agent's tests (loopback 127.0.0.1-16:2222, state in target/sshd/)"
scripts/sshd.sh start
echo "== cargo test (unit, integration, doc and UI tests, SSH against the local sshd)"
cargo test --workspace --features actuator/ssh
