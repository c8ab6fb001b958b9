#!/usr/bin/env bash
# The contract test: schemathesis (from PyPI) generates requests from
# docs/openapi.yaml and checks a real, seeded tracekeep-server's answers
# against it: every status code documented, every content type as
# documented, every response body valid against its schema, no 5xx.
#
# Usage: tests/contract/openapi-contract.sh PATH/TO/tracekeep-server
# schemathesis lives in a virtualenv under ~/.cache/tracekeep (installed with
# pip when missing or out of date), so CI reuses it between runs.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
server="${1:?usage: $0 PATH/TO/tracekeep-server}"

venv="$("$here/../python-venv.sh" "$here/requirements-contract.txt" venv-contract schemathesis)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
"$venv/bin/python" "$here/openapi_contract.py" "$server" "$here/../../docs/openapi.yaml" "$venv/bin/schemathesis" "$work"
