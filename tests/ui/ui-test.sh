#!/usr/bin/env bash
# The web UI in a real browser: starts a real tracekeep-server with seeded
# data (DM traces over gRPC, Zipkin spans over HTTP), drives headless
# Chromium through every page with Playwright, asserts what is on screen, and
# fails on any JavaScript error, failed request or HTTP error. Saves a
# screenshot of each page; prints how long the 1 000- and 10 000-span traces
# took to render.
#
# Usage: tests/ui/ui-test.sh PATH/TO/tracekeep-server [--screenshots DIR] [--bench N]
#   --screenshots docs/ui   refreshes the screenshots committed in docs/ui
#   --bench N               only the render timings, N runs each (scripts/bench-ui.sh)
#
# Installs what is missing: Debian's chromium (apt-get), and Playwright with
# grpcio in a virtualenv under ~/.cache/tracekeep (pip). Playwright uses the
# system Chromium; it downloads no browser.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
server="${1:?usage: $0 PATH/TO/tracekeep-server [--screenshots DIR] [--bench N]}"
shift
source "$here/../../scripts/common.sh"

chromium="${TRACEKEEP_CHROMIUM:-/usr/bin/chromium}"
if [[ ! -x "$chromium" ]]; then
    say "Chromium is missing: installing Debian's chromium package"
    apt_install chromium
fi

venv="$("$here/python-venv.sh")"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# DM's wire contract, compiled for Python from the same .proto the server uses.
"$venv/bin/python" -m grpc_tools.protoc -I "$here/../../proto" --python_out="$work" --grpc_python_out="$work" tracer.proto
PYTHONPATH="$work" "$venv/bin/python" "$here/ui_test.py" --server "$server" --chromium "$chromium" --data "$work/data" "$@"
