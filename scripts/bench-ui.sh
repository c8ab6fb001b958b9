#!/usr/bin/env bash
# The web UI's render timings in headless Chromium against a release-built
# server: a 1 000-span and a 10 000-span trace, from asking for the trace to
# its waterfall painted, N runs each (default 5). Prints a markdown table
# (docs/benchmarks.md). Installs Chromium and Playwright when missing, as the
# browser test does.
#
#   scripts/bench-ui.sh [N]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/common.sh
ensure_build_deps
cargo build --release --locked -p tracekeep-server --bins
exec tests/ui/ui-test.sh "${CARGO_TARGET_DIR}/release/tracekeep-server" --bench "${1:-5}"
