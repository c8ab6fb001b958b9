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
say() { printf '[tracekeep] %s\n' "$*" >&2; }

venv="${TRACEKEEP_CONTRACT_VENV:-${HOME}/.cache/tracekeep/venv-contract}"
stamp="$venv/.requirements"
if ! cmp -s "$here/requirements-contract.txt" "$stamp" 2>/dev/null; then
    say "installing schemathesis from PyPI into $venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements-contract.txt"
    cp "$here/requirements-contract.txt" "$stamp"
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
"$venv/bin/python" "$here/openapi_contract.py" "$server" "$here/../../docs/openapi.yaml" "$venv/bin/schemathesis" "$work"
