#!/usr/bin/env bash
# Interop with real OTLP clients, from PyPI, against a real tracekeep-server:
# the OpenTelemetry Python SDK exports a trace with its OTLP/gRPC exporter and
# another with its OTLP/HTTP (protobuf) exporter; each is found through
# Zipkin's v2 search API and read back, and `tracekeep-dump export --format
# otlp` gives both back with resource, scope, events, links and typed
# attributes intact.
#
# Usage: tests/interop/otlp-clients.sh PATH/TO/tracekeep-server
# (tracekeep-dump is expected next to it.) The clients live in a virtualenv
# under ~/.cache/tracekeep (installed with pip when missing or out of date),
# apart from the Zipkin clients' venv: they need protobuf 5+, py_zipkin 3.x.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
server="${1:?usage: $0 PATH/TO/tracekeep-server}"

venv="$("$here/../python-venv.sh" "$here/requirements-otlp.txt" venv-otlp "the OpenTelemetry Python SDK and its OTLP exporters")"
data="$(mktemp -d)"
trap 'rm -rf "$data"' EXIT
"$venv/bin/python" "$here/otlp_roundtrip.py" "$server" "$data/otlp"
