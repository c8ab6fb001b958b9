#!/usr/bin/env bash
# Prints the path of the virtualenv with Playwright and grpcio (the browser
# test's and the TLS test's Python clients), installing it from PyPI first
# when it is missing or its requirements changed.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="${TRACEKEEP_UI_VENV:-${HOME}/.cache/tracekeep/venv-ui}"
stamp="$venv/.requirements"
if ! cmp -s "$here/requirements-ui.txt" "$stamp" 2>/dev/null; then
    printf '[tracekeep] %s\n' "installing Playwright (for the system Chromium) and grpcio from PyPI into $venv" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements-ui.txt" >&2
    cp "$here/requirements-ui.txt" "$stamp"
fi
printf '%s\n' "$venv"
