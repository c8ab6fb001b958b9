#!/usr/bin/env bash
# Guard: every cargo step of one test run must share one build of RocksDB's C++.
#
# Usage: scripts/check-rocksdb-builds.sh CARGO_JSON...
# Each argument is the JSON message stream (`--message-format=json...`) of one cargo
# command. Cargo reports every build script it ran or reused as `build-script-executed`
# with its `out_dir`; one RocksDB build per profile means exactly one librocksdb-sys
# out_dir across them all. Two mean a dependency change made the steps resolve
# librocksdb-sys differently, and a fresh machine compiles the C++ once per step.
# (Stale variants left in a long-lived target directory by older lockfiles are not
# counted: only what this run used.)
set -euo pipefail
source "$(dirname "$0")/common.sh"

dirs=$(grep -h '"reason":"build-script-executed"' "$@" |
    grep -o '"out_dir":"[^"]*/librocksdb-sys-[^"/]*/out"' | sed 's/^"out_dir":"//; s/"$//' | sort -u || true)
count=$(printf '%s' "$dirs" | grep -c . || true)
if [ "$count" -eq 0 ]; then
    say "error: no cargo step reported running librocksdb-sys's build script; cannot check"
    say "that the steps share one RocksDB build (were the JSON messages captured?)"
    exit 1
fi
if [ "$count" -gt 1 ]; then
    say "error: expected the cargo steps to share 1 debug build of librocksdb-sys, found $count:"
    printf '%s\n' "$dirs" >&2
    say "a fresh machine would compile RocksDB's C++ $count times; find the unit that differs with"
    say "  cargo tree -e features -i librocksdb-sys, and compare build-dependency profiles"
    say "  (see the [profile.dev.build-override] note in Cargo.toml)"
    exit 1
fi
say "one librocksdb-sys build shared by every step: $dirs"
