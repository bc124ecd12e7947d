#!/usr/bin/env bash
# The whole test suite: formatting, lints, docs, unit/integration/doc tests, the compile-fail UI
# tests, and the end-to-end suites against real local services, which this script starts
# (idempotently) and stops:
#   - an OpenSSH server on loopback for the SSH agent (scripts/sshd.sh; installs openssh-server
#     from the Debian archive when absent);
#   - the moto EC2 server on loopback for the AWS proxy (scripts/moto.sh; installs moto[server]
#     from PyPI into target/moto-venv when absent);
#   - the ARM fake for the Azure example (scripts/azure-fake.sh, started by the example's own test;
#     the Azure suite starts fakes of its own).
#   - PostgreSQL for the shared state store's suite (scripts/postgres.sh, started by the suite).
#   - a real OpenStack on loopback (Keystone, Neutron, Nova, Placement, Glance on that PostgreSQL:
#     scripts/openstack.sh; installs its venv from PyPI when absent) for the OpenStack suite and
#     example, started in the background while the lints build.
# The examples under examples/ are run as users run them (up, plan, down) by their own
# integration tests, which also makes `cargo test` build their binaries with the same features.
# Every crate is built once per mode: clippy (check) and test (debug), each over the whole
# workspace with every feature, so each cloud SDK compiles once for each.
set -euo pipefail
cd "$(dirname "$0")/.."
# A CI run builds everything once: incremental caches would only cost disk and time.
if [ "${CI:-}" = true ]; then export CARGO_INCREMENTAL=0; fi

cleanup() {
    # A start still under way is ended first (its daemons are then stopped by their pid files).
    if [ -n "${OS_START:-}" ]; then kill "$OS_START" 2>/dev/null || true; fi
    scripts/openstack.sh stop || true
    scripts/sshd.sh stop || true
    scripts/moto.sh stop || true
    scripts/azure-fake.sh stop || true
    scripts/postgres.sh stop || true
}
trap cleanup EXIT

# The OpenStack stack takes minutes to come up (its venv, databases and seeds on a fresh
# checkout): it starts now and is waited for before the tests.
mkdir -p target
scripts/openstack.sh start >target/openstack-start.log 2>&1 &
OS_START=$!

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy (whole workspace, all targets and features; warnings are errors)"
cargo clippy --workspace --all-targets --all-features -- -D warnings
echo "== cargo doc (warnings are errors)"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --all-features --no-deps --quiet

echo "== local services: sshd (loopback 127.0.0.1-16, port 2222 or the next free), moto (127.0.0.1:5055)"
scripts/sshd.sh start
scripts/moto.sh start
echo "== SSH from a checkout in a 0700 directory (the services must not need to read the checkout)"
scripts/private-checkout-check.sh

echo "== the OpenStack stack (started in the background above; its log: target/openstack-start.log)"
if ! wait "$OS_START"; then
    OS_START=
    cat target/openstack-start.log
    exit 1
fi
OS_START=
cat target/openstack-start.log

echo "== cargo test (unit, integration, doc and UI tests; end-to-end suites against the services)"
# --no-fail-fast: one run reports every failing test binary, not just the first.
cargo test --workspace --no-fail-fast --features actuator-tests/ssh,actuator-tests/aws,actuator-tests/azure,actuator-tests/postgres,actuator-tests/openstack
