#!/usr/bin/env bash
# Builds (release) and starts tracekeep-server on :8263 with its data in ./data.
# Extra arguments go to the server, e.g. scripts/run.sh --log-level debug.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/common.sh

if [ ! -f crates/server/Cargo.toml ]; then
    say "the server (tracekeep-server) is not built yet in this checkout; nothing to run"
    exit 1
fi
ensure_build_deps
say "building tracekeep-server (release; the first build compiles RocksDB and takes a while)"
cargo build --release --locked -p tracekeep-server
exec "${CARGO_TARGET_DIR}/release/tracekeep-server" --tracer-addr :8263 --data-dir ./data "$@"
