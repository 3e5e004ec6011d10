#!/usr/bin/env bash
# Runs the whole test suite against real services (installed and started if missing):
# formatting, clippy, then every test of the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/services.sh postfix s3 podman promtool browser

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --all-features -- -D warnings
echo "== cargo test"
cargo test --workspace --all-features --no-fail-fast
