#!/usr/bin/env bash
# Fails when the docs name internal work periods ("stop 12", "this session"):
# docs describe the current system, with dates, commits and versions.
set -euo pipefail
cd "$(dirname "$0")/.."
pattern='\bstops? [0-9]+|\bthis session\b|\ba session\b|\bsession'"'"'s\b|\bstop'"'"'s\b|\bthis stop\b'
if hits=$(grep -rniE "$pattern" docs README.md); then
    printf '[tracekeep] %s\n' "docs name internal work periods; write dates, commits and versions instead:" >&2
    printf '%s\n' "$hits" >&2
    exit 1
fi
