#!/usr/bin/env bash
# The benchmark: a release-built server on a fresh data directory, driven through
# real sockets with the DM client; prints one table (markdown).
#
#   scripts/bench.sh --quick    # smoke run, under two minutes
#   scripts/bench.sh            # the full run recorded in docs/benchmarks.md
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/common.sh
ensure_build_deps
cargo build --release --locked --workspace --bins
exec "${CARGO_TARGET_DIR}/release/tracekeep-bench" "$@"
