#!/usr/bin/env bash
# The whole test suite: formatting, lints, unit/integration/doc tests, the compile-fail UI tests, and
# the suites against real local services, which this script starts (idempotently) and stops:
#   - an OpenSSH server on loopback for the SSH agent (scripts/sshd.sh; installs openssh-server
#     from the Debian archive when absent);
#   - the moto EC2 server on loopback for the AWS proxy (scripts/moto.sh; installs moto[server]
#     from PyPI into target/moto-venv when absent).
# Each feature set is built once: the workspace with `ssh` (the SSH example turns it on anyway),
# then actuator + the AWS example with `aws` (aws-sdk-ec2 takes minutes to compile).
set -euo pipefail
cd "$(dirname "$0")/.."

cleanup() {
    scripts/sshd.sh stop || true
    scripts/moto.sh stop || true
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

echo "== AWS against moto: clippy, tests and the example, with --features aws"
AWS=(-p actuator -p aws-example --features aws-example/aws)
scripts/moto.sh start
cargo clippy "${AWS[@]}" --all-targets -- -D warnings
cargo build "${AWS[@]}" --all-targets
cargo test "${AWS[@]}"
echo "== the AWS example against moto: up, then down"
EXAMPLE="${CARGO_TARGET_DIR:-target}/debug/aws-example"
mkdir -p target/aws-example
AWS_EXAMPLE_KEY_FILE=target/aws-example/key.pem scripts/moto.sh run "$EXAMPLE" up --state target/aws-example/state
scripts/moto.sh run "$EXAMPLE" down --state target/aws-example/state
