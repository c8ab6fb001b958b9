"""Exports a trace with the OpenTelemetry Python SDK's OTLP exporters, over
gRPC and over HTTP (protobuf), to a real tracekeep-server on its own OTLP
listeners; reads each back through Zipkin's v2 API and through
`tracekeep-dump export --format otlp`, checking fields, not status codes.

Usage: otlp_roundtrip.py PATH/TO/tracekeep-server DATA_DIR
(tracekeep-dump is expected next to the server binary.)
"""

import json
import os
import subprocess
import sys
import urllib.parse
import urllib.request

from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Link, SpanKind, Status, StatusCode

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import server_process  # noqa: E402  (tests/server_process.py)

DEADLINE_SECONDS = 30


def start_server(binary, data_dir):
    """Starts the server on free ports; returns (process, main, OTLP/gRPC, OTLP/HTTP ports)."""
    process, ports = server_process.start(binary, data_dir, ("main", "otlp_grpc", "otlp_http"))
    return process, ports["main"], ports["otlp_grpc"], ports["otlp_http"]


def check(condition, what, context):
    if not condition:
        sys.exit(f"FAILED: {what}: {json.dumps(context, indent=1)[:3000]}")


def get_json(port, path):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=DEADLINE_SECONDS) as response:
        return json.load(response)


def make_spans(service):
    """A SERVER root with a CLIENT child that fails, records an event and
    links to the root; attributes of every type the SDK allows."""
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": service, "deployment.environment": "ci"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("shop.checkout", "2.0.1")
    with tracer.start_as_current_span("POST /checkout", kind=SpanKind.SERVER) as root:
        root.set_attribute("http.method", "POST")
        root.set_attribute("http.status_code", 502)
        root.set_attribute("cart.total", 12.5)
        root.set_attribute("cart.gift", True)
        root.set_attribute("cart.skus", ["a-1", "b-2"])
        root.set_attribute("cart.counts", [1, 2, 3])
        root.set_attribute("cart.weights", [0.5, 1.5])
        root.set_attribute("cart.flags", [True, False])
        root_context = root.get_span_context()
        with tracer.start_as_current_span(
            "charge card",
            kind=SpanKind.CLIENT,
            links=[Link(root_context, {"link.reason": "retry-of"})],
        ) as child:
            child.set_attribute("peer.service", "payments")
            child.add_event("card declined", {"code": "51", "attempt": 2})
            child.set_status(Status(StatusCode.ERROR, "declined"))
    provider.shutdown()
    return memory.get_finished_spans()


def check_zipkin_view(port, service, spans):
    trace_id = format(spans[0].context.trace_id, "032x")
    query = urllib.parse.urlencode(
        {"serviceName": service, "annotationQuery": "otel.status_code=ERROR", "lookback": 3_600_000}
    )
    found = get_json(port, f"/api/v2/traces?{query}")
    check(len(found) == 1 and found[0][0]["traceId"] == trace_id, f"{service}: search finds the trace", found)
    trace = get_json(port, f"/api/v2/trace/{trace_id}")
    by_name = {span["name"]: span for span in trace}
    root, child = by_name["post /checkout"], by_name["charge card"]
    check(root.get("kind") == "SERVER" and child.get("kind") == "CLIENT", "kinds", trace)
    check(child.get("parentId") == root["id"], "parent", trace)
    check(root["localEndpoint"]["serviceName"] == service, "service.name", trace)
    check(child.get("remoteEndpoint", {}).get("serviceName") == "payments", "peer.service", trace)
    tags = root["tags"]
    check(tags.get("http.status_code") == "502", "int attribute", trace)
    check(tags.get("cart.total") == "12.5", "double attribute", trace)
    check(tags.get("cart.gift") == "true", "bool attribute", trace)
    check(json.loads(tags.get("cart.skus", "null")) == ["a-1", "b-2"], "string array", trace)
    check(json.loads(tags.get("cart.counts", "null")) == [1, 2, 3], "int array", trace)
    check(json.loads(tags.get("cart.weights", "null")) == [0.5, 1.5], "double array", trace)
    check(json.loads(tags.get("cart.flags", "null")) == [True, False], "bool array", trace)
    check(tags.get("otel.scope.name") == "shop.checkout", "scope name", trace)
    check(tags.get("otel.scope.version") == "2.0.1", "scope version", trace)
    check(child["tags"].get("otel.status_code") == "ERROR", "status code", trace)
    check(child["tags"].get("error") == "declined", "status message", trace)
    annotations = [json.loads(a["value"]) for a in child.get("annotations", [])]
    check(annotations == [{"card declined": {"code": "51", "attempt": 2}}], "the event", trace)
    sdk_root = next(span for span in spans if span.name == "POST /checkout")
    check(root["timestamp"] == sdk_root.start_time // 1000, "start time", trace)
    check(root["duration"] == max(1, (sdk_root.end_time - sdk_root.start_time + 999) // 1000), "duration", trace)
    return trace_id


def check_otlp_export(dump, data_dir, trace_ids, spans_by_trace):
    output = subprocess.run(
        [dump, "export", "--format", "otlp", data_dir], check=True, capture_output=True, text=True
    ).stdout
    requests = [json.loads(line) for line in output.splitlines()]
    check(len(requests) == len(trace_ids), "a line per trace", requests)
    for request in requests:
        spans = [
            (resource, scope, span)
            for resource in request["resourceSpans"]
            for scope in resource["scopeSpans"]
            for span in scope["spans"]
        ]
        trace_id = spans[0][2]["traceId"]
        check(trace_id in trace_ids, "a trace we sent", request)
        by_name = {span["name"]: (resource, scope, span) for resource, scope, span in spans}
        resource, scope, child = by_name["charge card"]
        sdk_child = next(span for span in spans_by_trace[trace_id] if span.name == "charge card")
        attributes = {item["key"]: item["value"] for item in resource["resource"]["attributes"]}
        check(attributes.get("deployment.environment") == {"stringValue": "ci"}, "resource attributes", resource)
        check((scope["scope"]["name"], scope["scope"]["version"]) == ("shop.checkout", "2.0.1"), "scope", scope)
        check(child["spanId"] == format(sdk_child.context.span_id, "016x"), "span ID", child)
        check(child["kind"] == 3, "kind", child)
        check(int(child["startTimeUnixNano"]) == sdk_child.start_time, "start in nanoseconds", child)
        check(int(child["endTimeUnixNano"]) == sdk_child.end_time, "end in nanoseconds", child)
        check(child["status"] == {"code": 2, "message": "declined"}, "status", child)
        event = child["events"][0]
        check(event["name"] == "card declined", "event name", child)
        event_attributes = {item["key"]: item["value"] for item in event["attributes"]}
        check(event_attributes == {"code": {"stringValue": "51"}, "attempt": {"intValue": "2"}}, "event attributes", child)
        link = child["links"][0]
        sdk_root = next(span for span in spans_by_trace[trace_id] if span.name == "POST /checkout")
        check(link["spanId"] == format(sdk_root.context.span_id, "016x"), "link", child)
        check(link["attributes"] == [{"key": "link.reason", "value": {"stringValue": "retry-of"}}], "link attributes", child)
        _, _, root = by_name["POST /checkout"]
        root_attributes = {item["key"]: item["value"] for item in root["attributes"]}
        check(root_attributes["cart.counts"] == {"arrayValue": {"values": [{"intValue": "1"}, {"intValue": "2"}, {"intValue": "3"}]}},
              "an int array kept typed", root)
        check(root_attributes["cart.total"] == {"doubleValue": 12.5}, "a double kept typed", root)


def main():
    binary, data_dir = sys.argv[1], sys.argv[2]
    dump = os.path.join(os.path.dirname(binary), "tracekeep-dump")
    process, main_port, grpc_port, http_port = start_server(binary, data_dir)
    try:
        spans_by_trace = {}
        for transport, exporter in [
            ("grpc", GrpcExporter(endpoint=f"127.0.0.1:{grpc_port}", insecure=True)),
            ("http", HttpExporter(endpoint=f"http://127.0.0.1:{http_port}/v1/traces")),
        ]:
            service = f"otlp-{transport}-shop"
            spans = make_spans(service)
            result = exporter.export(spans)
            check(result == SpanExportResult.SUCCESS, f"the OTLP/{transport} exporter reports success", str(result))
            trace_id = check_zipkin_view(main_port, service, spans)
            spans_by_trace[trace_id] = spans
            print(f"[tracekeep] OpenTelemetry OTLP/{transport} exporter: trace {trace_id} found and read back", file=sys.stderr)
        check_otlp_export(dump, data_dir, set(spans_by_trace), spans_by_trace)
        print("[tracekeep] tracekeep-dump export --format otlp gave both traces back, fields intact", file=sys.stderr)
    finally:
        process.terminate()
        process.wait(timeout=30)


if __name__ == "__main__":
    main()
