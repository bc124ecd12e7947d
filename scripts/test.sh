#!/usr/bin/env bash
# The whole test suite: formatting, lints, unit/integration/doc tests and the compile-fail UI tests.
# Idempotent; installs nothing yet because no test needs a service (sshd and moto arrive with the
# SSH and AWS issues, and will be started from here).
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy (all targets, warnings are errors)"
cargo clippy --workspace --all-targets -- -D warnings
echo "== cargo test (unit, integration, doc and UI tests)"
cargo test --workspace
echo "== benchmarks build"
cargo bench --workspace --no-run
