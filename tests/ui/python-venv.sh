#!/usr/bin/env bash
# Prints the path of the virtualenv with Playwright and grpcio (the browser
# test's and the TLS test's Python clients), installing it from PyPI first
# when it is missing or its requirements changed.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
exec "$here/../python-venv.sh" "$here/requirements-ui.txt" venv-ui "Playwright (for the system Chromium) and grpcio"
