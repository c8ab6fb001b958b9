#!/usr/bin/env bash
# TLS with real clients: a certificate authority and server certificate made
# for the test (tracekeep-test-cert, rcgen), a real tracekeep-server serving
# TLS on its one port, then curl --cacert over HTTP/1.1 and HTTP/2 (ALPN), and
# Python's grpcio with the CA as root certificate calling DM's pb.Tracer
# (GetTSO, an upload), read back over HTTPS. Plain HTTP to the TLS port is
# refused.
#
# Usage: tests/interop/tls-clients.sh PATH/TO/tracekeep-server
# (tracekeep-test-cert is expected next to it.) grpcio comes from the browser
# test's virtualenv (tests/ui/requirements-ui.txt), installed when missing.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
server="${1:?usage: $0 PATH/TO/tracekeep-server}"
source "$here/../../scripts/common.sh"

command -v curl >/dev/null 2>&1 || apt_install curl
venv="$("$here/../ui/python-venv.sh")"

work="$(mktemp -d)"
pid=""
cleanup() {
    [[ -n "$pid" ]] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
fail() { say "FAILED: $*"; exit 1; }

"$(dirname "$server")/tracekeep-test-cert" "$work/certs"
"$venv/bin/python" -m grpc_tools.protoc -I "$here/../../proto" --python_out="$work" --grpc_python_out="$work" tracer.proto

"$server" --tracer-addr 127.0.0.1:0 --zipkin-addr "" --otlp-grpc-addr "" --otlp-http-addr "" \
    --data-dir "$work/data" --config <(printf 'tls-cert-file = "%s"\ntls-key-file = "%s"\n' \
        "$work/certs/server.pem" "$work/certs/server-key.pem") 2>"$work/server.log" &
pid=$!
port=""
for _ in $(seq 1 300); do
    port="$(sed -n 's/.*listening on [0-9.]*:\([0-9]*\).*/\1/p' "$work/server.log" | head -n1)"
    [[ -n "$port" ]] && break
    kill -0 "$pid" 2>/dev/null || { cat "$work/server.log" >&2; fail "the server stopped"; }
    read -r -t 0.1 <> <(:) || true
done
[[ -n "$port" ]] || fail "the server never said where it listens"
base="https://127.0.0.1:$port"

status="$(curl -sS --cacert "$work/certs/ca.pem" --http1.1 -o "$work/status.json" -w '%{http_version} %{http_code}' "$base/status")"
[[ "$status" == "1.1 200" ]] || fail "curl over HTTP/1.1: $status"
grep -q '"version"' "$work/status.json" || fail "no version in /status"
status="$(curl -sS --cacert "$work/certs/ca.pem" --http2 -o /dev/null -w '%{http_version} %{http_code}' "$base/status")"
[[ "$status" == "2 200" ]] || fail "curl over HTTP/2 (ALPN h2): $status"
say "curl --cacert: /status over TLS, HTTP/1.1 and HTTP/2"

if curl -sS --cacert "$work/certs/ca.pem" -o /dev/null "http://127.0.0.1:$port/status" 2>/dev/null; then
    fail "plain HTTP was answered on the TLS port"
fi
if curl -sS -o /dev/null "$base/status" 2>/dev/null; then
    fail "curl trusted the test CA without --cacert"
fi

PYTHONPATH="$work" "$venv/bin/python" - "$port" "$work/certs/ca.pem" <<'PY'
import sys, time
import grpc
import tracer_pb2, tracer_pb2_grpc

port, ca = sys.argv[1], sys.argv[2]
with open(ca, "rb") as f:
    credentials = grpc.ssl_channel_credentials(root_certificates=f.read())
with grpc.secure_channel(f"localhost:{port}", credentials) as channel:
    stub = tracer_pb2_grpc.TracerStub(channel)
    tso = stub.GetTSO(tracer_pb2.GetTSORequest(id="tls-test"), timeout=30)
    assert tso.result and tso.ts > 0, tso
    event = tracer_pb2.SyncerJobEvent(base=tracer_pb2.BaseEvent(traceID="over-tls", tso=tso.ts, filename="tls.py", line=1), sql="SELECT 1")
    answer = stub.UploadSyncerJobEvent(tracer_pb2.UploadSyncerJobEventRequest(events=[event]), timeout=30)
    assert answer.result, answer
print("[tracekeep] grpcio with root certificates: GetTSO and an upload over TLS", file=sys.stderr)
PY

curl -sS --cacert "$work/certs/ca.pem" "$base/events/query?trace_id=over-tls" | grep -q '"sql": "SELECT 1"' \
    || fail "the upload over gRPC/TLS was not read back over HTTPS"
say "TLS interop passed"
