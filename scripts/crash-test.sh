#!/usr/bin/env bash
# The crash loop: start the server, upload from concurrent clients, kill -9 it at
# a random moment (also mid-delete and mid-truncate), restart, check that every
# acknowledged event is there exactly once and in order, repeat.
#
#   scripts/crash-test.sh --cycles 200            # without fsync (survives kill -9)
#   scripts/crash-test.sh --cycles 200 --sync     # with fsync on every commit
#   options: --clients N --traces N --seed N --data-dir DIR
#
# Prints the cycles run, events acknowledged and events lost; exits 1 on any loss.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/common.sh
ensure_build_deps
cargo build --workspace --bins --locked
exec "${CARGO_TARGET_DIR}/debug/tracekeep-crash-test" "$@"
