"""Sends a trace with py_zipkin in each encoding to a real tracekeep-server,
finds it through Zipkin's v2 search API and reads it back, checking fields,
not just status codes.

Usage: py_zipkin_roundtrip.py PATH/TO/tracekeep-server DATA_DIR
"""

import json
import os
import sys
import urllib.error
import urllib.request

from py_zipkin import Kind
from py_zipkin.encoding import Encoding, detect_span_version_and_encoding
from py_zipkin.transport import BaseTransportHandler
from py_zipkin.zipkin import zipkin_span

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import server_process  # noqa: E402  (tests/server_process.py)

DEADLINE_SECONDS = 30


def start_server(binary, data_dir):
    """Starts the server on free ports; returns (process, main port, Zipkin port)."""
    process, ports = server_process.start(binary, data_dir, ("main", "zipkin"))
    return process, ports["main"], ports["zipkin"]


class Transport(BaseTransportHandler):
    """py_zipkin's SimpleHTTPTransport, but with failures kept instead of
    logged and dropped (py_zipkin swallows a transport's exceptions), and JSON
    payloads sent as bytes (1.0.0's passes a str, which urllib refuses)."""

    PATHS = {
        Encoding.V1_THRIFT: ("/api/v1/spans", "application/x-thrift"),
        Encoding.V1_JSON: ("/api/v1/spans", "application/json"),
        Encoding.V2_JSON: ("/api/v2/spans", "application/json"),
        Encoding.V2_PROTO3: ("/api/v2/spans", "application/x-protobuf"),
    }

    def __init__(self, port):
        super().__init__()
        self.port = port
        self.statuses = []

    def get_max_payload_bytes(self):
        return None

    def send(self, payload):
        body = payload.encode("utf-8") if isinstance(payload, str) else payload
        path, content_type = self.PATHS[detect_span_version_and_encoding(payload)]
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}", body, {"Content-Type": content_type}
        )
        try:
            with urllib.request.urlopen(request, timeout=DEADLINE_SECONDS) as response:
                self.statuses.append((content_type, response.status))
        except urllib.error.HTTPError as error:
            self.statuses.append((content_type, error.code, error.read().decode("utf-8", "replace")))


def send_trace(zipkin_port, encoding, use_128bit):
    """A SERVER root with a CLIENT child (calling mysql) and a local grandchild."""
    transport = Transport(zipkin_port)
    with zipkin_span(
        service_name="py-shop",
        span_name="GET /cart",
        transport_handler=transport,
        sample_rate=100.0,
        encoding=encoding,
        kind=Kind.SERVER,
        use_128bit_trace_id=use_128bit,
        host="10.1.2.3",
        port=8080,
    ) as root:
        root.update_binary_annotations({"http.method": "GET", "note": "héllo <b>"})
        root.add_annotation("cache miss")
        with zipkin_span(service_name="py-shop", span_name="SELECT cart", kind=Kind.CLIENT) as client:
            client.add_sa_binary_annotation(port=3306, service_name="mysql", host="10.9.9.9")
            client.update_binary_annotations({"db.rows": "3"})
            with zipkin_span(service_name="py-shop", span_name="decode rows") as local:
                local.update_binary_annotations({"rows": "3"})
    if not transport.statuses or any(status[1] != 202 for status in transport.statuses):
        sys.exit(f"FAILED: {encoding.name}: the server answered {transport.statuses}")
    return root.zipkin_attrs.trace_id


def get_json(port, path):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=DEADLINE_SECONDS) as response:
        return json.load(response)


def check(condition, what, spans):
    if not condition:
        sys.exit(f"FAILED: {what}\n{json.dumps(spans, indent=1)}")


def check_trace(main_port, trace_id, encoding):
    spans = get_json(main_port, f"/api/v2/trace/{trace_id}")
    by_name = {span.get("name"): span for span in spans}
    check(len(spans) == 3, f"{encoding}: three spans", spans)
    check(set(by_name) == {"get /cart", "select cart", "decode rows"}, f"{encoding}: span names", spans)
    root, client, local = by_name["get /cart"], by_name["select cart"], by_name["decode rows"]
    check(all(span["traceId"] == trace_id for span in spans), f"{encoding}: trace IDs", spans)
    check("parentId" not in root, f"{encoding}: the root has no parent", spans)
    check(client.get("parentId") == root["id"], f"{encoding}: client's parent", spans)
    check(local.get("parentId") == client["id"], f"{encoding}: local span's parent", spans)
    check(root.get("kind") == "SERVER" and client.get("kind") == "CLIENT", f"{encoding}: kinds", spans)
    check("kind" not in local, f"{encoding}: a local span has no kind", spans)
    check(all(span["localEndpoint"]["serviceName"] == "py-shop" for span in spans), f"{encoding}: services", spans)
    check(root["localEndpoint"].get("ipv4") == "10.1.2.3", f"{encoding}: root address", spans)
    check(root["localEndpoint"].get("port") == 8080, f"{encoding}: root port", spans)
    check(root["tags"].get("http.method") == "GET", f"{encoding}: root tag", spans)
    check(root["tags"].get("note") == "héllo <b>", f"{encoding}: non-ASCII tag", spans)
    check(any(a["value"] == "cache miss" for a in root.get("annotations", [])), f"{encoding}: annotation", spans)
    remote = client.get("remoteEndpoint", {})
    check(remote.get("serviceName") == "mysql" and remote.get("port") == 3306, f"{encoding}: remote", spans)
    check(remote.get("ipv4") == "10.9.9.9", f"{encoding}: remote address", spans)
    check(client["tags"].get("db.rows") == "3" and local["tags"].get("rows") == "3", f"{encoding}: tags", spans)
    for span in spans:
        check(span.get("timestamp", 0) > 0 and span.get("duration", 0) > 0, f"{encoding}: times", spans)
    check(client["timestamp"] >= root["timestamp"], f"{encoding}: child starts after its parent", spans)
    # Found by search, too: by service and span name, and by a tag.
    for query in ["serviceName=py-shop&spanName=select%20cart", "annotationQuery=http.method%3DGET"]:
        found = get_json(main_port, f"/api/v2/traces?{query}&lookback=3600000&limit=100")
        check(any(trace[0]["traceId"] == trace_id for trace in found), f"{encoding}: search {query}", found)
    remote = get_json(main_port, "/api/v2/remoteServices?serviceName=py-shop")
    check(remote == ["mysql"], f"{encoding}: remote services", remote)


def main():
    binary, data_dir = sys.argv[1], sys.argv[2]
    process, main_port, zipkin_port = start_server(binary, data_dir)
    try:
        cases = [(Encoding.V1_THRIFT, False), (Encoding.V2_JSON, True), (Encoding.V2_PROTO3, False)]
        for encoding, use_128bit in cases:
            trace_id = send_trace(zipkin_port, encoding, use_128bit)
            check_trace(main_port, trace_id, encoding.name)
            print(f"[tracekeep] py_zipkin {encoding.name}: trace {trace_id} read back with every field", file=sys.stderr)
    finally:
        process.terminate()
        process.wait(timeout=DEADLINE_SECONDS)


if __name__ == "__main__":
    main()
