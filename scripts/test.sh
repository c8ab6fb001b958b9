#!/usr/bin/env bash
# Everything CI checks: formatting, lints (warnings are errors), and every test.
# Installs RocksDB's build dependencies (libclang-dev) first when they are missing.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/common.sh
ensure_build_deps

say "cargo fmt --check"
cargo fmt --all -- --check
say "cargo clippy (target dir: ${CARGO_TARGET_DIR})"
cargo clippy --workspace --all-targets --locked -- -D warnings
# The end-to-end tests start the real binaries, so build them first.
say "cargo build --bins"
cargo build --workspace --bins --locked
say "cargo test"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
cargo test --workspace --locked 2>&1 | tee "$log"
# One closing line for the whole run (cargo ends on a doc-test summary).
awk '/^test result:/ { passed += $4; failed += $6 } END { printf "tests: %d passed, %d failed\n", passed, failed }' "$log"
