#!/usr/bin/env bash
# Interop with real Zipkin clients, from PyPI, against a real tracekeep-server:
# py_zipkin sends a trace in each of its encodings (v1 Thrift, v2 JSON, v2
# proto3), OpenTelemetry's Zipkin exporter sends one as v2 JSON, and each is
# found through the v2 search API and read back with its fields checked.
#
# Usage: tests/interop/zipkin-clients.sh PATH/TO/tracekeep-server
# The clients live in a virtualenv under ~/.cache/tracekeep (installed with pip
# when missing or out of date), so CI reuses them between runs.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
server="${1:?usage: $0 PATH/TO/tracekeep-server}"

venv="$("$here/../python-venv.sh" "$here/requirements-zipkin.txt" venv "py_zipkin and OpenTelemetry's Zipkin exporter")"
data="$(mktemp -d)"
trap 'rm -rf "$data"' EXIT
"$venv/bin/python" "$here/py_zipkin_roundtrip.py" "$server" "$data/py_zipkin"
"$venv/bin/python" "$here/otel_zipkin_roundtrip.py" "$server" "$data/otel"
