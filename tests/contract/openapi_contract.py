"""Starts a real tracekeep-server, seeds it with Zipkin and OTLP traffic, and
runs schemathesis against it with docs/openapi.yaml: every answer's status
code, content type and body must be the ones the document promises, and no
request may get a 5xx.

Usage: openapi_contract.py PATH/TO/tracekeep-server PATH/TO/openapi.yaml PATH/TO/schemathesis WORK_DIR
"""

import json
import os
import subprocess
import sys
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import server_process  # noqa: E402  (tests/server_process.py)

DEADLINE_SECONDS = 30
# Fixed, so a failure reproduces: schemathesis prints the request it sent.
SEED = 20261206
EXAMPLES_PER_OPERATION = 40


def start_server(binary, work):
    """Starts the server on a free port; returns (process, port)."""
    process, ports = server_process.start(binary, f"{work}/data", extra=["--autocomplete-keys", "http.method"])
    return process, ports["main"]


def post(base, path, content_type, body):
    request = urllib.request.Request(base + path, data=body, method="POST",
                                     headers={"Content-Type": content_type})
    with urllib.request.urlopen(request, timeout=DEADLINE_SECONDS) as response:
        return response.status


def seed(base):
    """A few traces the generated queries can find: Zipkin spans with tags,
    remote services and annotations, and an OTLP span."""
    now_micros = 1_764_000_000_000_000
    spans = []
    for n in range(1, 6):
        trace = f"{n:016x}"
        spans.append({
            "traceId": trace, "id": f"{n:016x}", "name": "get /api", "kind": "SERVER",
            "timestamp": now_micros + n, "duration": 1000 * n,
            "localEndpoint": {"serviceName": "backend", "ipv4": "10.0.0.2", "port": 8080},
            "remoteEndpoint": {"serviceName": "frontend"},
            "annotations": [{"timestamp": now_micros + n + 1, "value": "wr"}],
            "tags": {"http.method": "GET", "error": "" if n % 2 else "boom"},
        })
        spans.append({
            "traceId": trace, "parentId": f"{n:016x}", "id": f"{n + 100:016x}", "name": "select",
            "kind": "CLIENT", "timestamp": now_micros + n + 2, "duration": 10,
            "localEndpoint": {"serviceName": "backend"}, "remoteEndpoint": {"serviceName": "db"},
        })
    assert post(base, "/api/v2/spans", "application/json", json.dumps(spans).encode()) == 202
    otlp = {"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "checkout"}}]},
        "scopeSpans": [{"spans": [{
            "traceId": "5b8efff798038103d269b633813fc60c", "spanId": "eee19b7ec3c1b174",
            "name": "charge card", "kind": 3,
            "startTimeUnixNano": str(now_micros * 1000), "endTimeUnixNano": str(now_micros * 1000 + 5000),
        }]}],
    }]}
    assert post(base, "/v1/traces", "application/json", json.dumps(otlp).encode()) == 200


def main():
    binary, spec, schemathesis, work = sys.argv[1:5]
    process, port = start_server(binary, work)
    base = f"http://127.0.0.1:{port}"
    try:
        seed(base)
        with urllib.request.urlopen(base + "/api/tracekeep/openapi.yaml", timeout=DEADLINE_SECONDS) as response:
            with open(spec, "rb") as document:
                if response.read() != document.read():
                    sys.exit("/api/tracekeep/openapi.yaml is not docs/openapi.yaml: rebuild the server")
        result = subprocess.run(
            [schemathesis, "run", spec, "--url", base,
             "--checks", "not_a_server_error,status_code_conformance,content_type_conformance,"
                         "response_schema_conformance,response_headers_conformance",
             "--phases", "examples,coverage,fuzzing",
             "--max-examples", str(EXAMPLES_PER_OPERATION), "--seed", str(SEED),
             # One worker: with two, this machine's CPython 3.11.7 failed once in
             # hypothesis's parse of lambda source ("AST constructor recursion
             # depth mismatch"): its ast module is not safe across threads there.
             "--workers", "1", "--request-timeout", "30", "--no-color",
             "--report", "junit", "--report-dir", f"{work}/report"],
            cwd=work, check=False)
        if process.poll() is not None:
            sys.exit(f"the server exited during the contract test ({process.returncode})")
        # The server still serves what it was seeded with (schemathesis may
        # have truncated it: it calls every operation, truncate included).
        with urllib.request.urlopen(base + "/status", timeout=DEADLINE_SECONDS) as response:
            assert response.status == 200
        sys.exit(result.returncode)
    finally:
        process.kill()
        process.wait()


if __name__ == "__main__":
    main()
