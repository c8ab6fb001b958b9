#!/usr/bin/env bash
# Prints the path of a virtualenv under ~/.cache/tracekeep holding a
# requirements file's packages, installing them from PyPI first when the venv
# is missing or the file changed since (CI reuses the venv between runs).
#
# Usage: tests/python-venv.sh REQUIREMENTS VENV_NAME WHAT
#   VENV_NAME: the directory under ~/.cache/tracekeep; WHAT: what is
#   installed, for the message.
set -euo pipefail
requirements="${1:?usage: $0 REQUIREMENTS VENV_NAME WHAT}"
name="${2:?usage: $0 REQUIREMENTS VENV_NAME WHAT}"
what="${3:?usage: $0 REQUIREMENTS VENV_NAME WHAT}"
venv="${HOME}/.cache/tracekeep/${name}"
stamp="$venv/.requirements"
if ! cmp -s "$requirements" "$stamp" 2>/dev/null; then
    printf '[tracekeep] %s\n' "installing $what from PyPI into $venv" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements" >&2
    cp "$requirements" "$stamp"
fi
printf '%s\n' "$venv"
