#!/usr/bin/env bash
# Load and soak: 8 concurrent uploaders, query and scan readers and a deleter
# against one release-built server for a bounded time (default 60 s, at most
# 3600), sampling the server's RSS every few seconds.
#
#   scripts/soak.sh                   # 60 s
#   scripts/soak.sh --seconds 600 --sync
#   scripts/soak.sh --seconds 600 --max-disk-bytes 200000000 --disk-csv disk.csv
#
# Prints throughput, errors and the RSS samples; exits 1 on any request error.
# With --max-disk-bytes the server runs with that bound and the data directory
# is sampled every 250 ms; a sample over the bound by more than 10% exits 1.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/common.sh
ensure_build_deps
cargo build --release --locked --workspace --bins
exec "${CARGO_TARGET_DIR}/release/tracekeep-soak" "$@"
