"""Exports a trace with the OpenTelemetry SDK's Zipkin JSON exporter to a real
tracekeep-server, then finds it through Zipkin's v2 search API and reads it
back, checking fields as OpenTelemetry's Zipkin mapping sets them.

Usage: otel_zipkin_roundtrip.py PATH/TO/tracekeep-server DATA_DIR
"""

import sys
import urllib.parse

from opentelemetry.exporter.zipkin.json import ZipkinExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode

from py_zipkin_roundtrip import check, get_json, start_server


def make_spans():
    """A SERVER root with a failing CLIENT child that records an event."""
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "otel-shop"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("shop.checkout", "1.2.3")
    with tracer.start_as_current_span("POST /checkout", kind=SpanKind.SERVER) as root:
        root.set_attribute("http.method", "POST")
        root.set_attribute("http.status_code", 500)
        with tracer.start_as_current_span("charge card", kind=SpanKind.CLIENT) as child:
            child.set_attribute("retries", 2)
            child.add_event("card declined", {"code": "51"})
            child.set_status(Status(StatusCode.ERROR, "declined"))
    provider.shutdown()
    return memory.get_finished_spans()


def main():
    binary, data_dir = sys.argv[1], sys.argv[2]
    process, main_port, zipkin_port = start_server(binary, data_dir)
    try:
        spans = make_spans()
        exporter = ZipkinExporter(endpoint=f"http://127.0.0.1:{zipkin_port}/api/v2/spans")
        result = exporter.export(spans)
        if result != SpanExportResult.SUCCESS:
            sys.exit(f"FAILED: the OpenTelemetry Zipkin exporter reported {result}")
        trace_id = format(spans[0].context.trace_id, "032x")

        services = get_json(main_port, "/api/v2/services")
        check("otel-shop" in services, "the service is listed", services)
        names = get_json(main_port, "/api/v2/spans?serviceName=otel-shop")
        check(names == ["charge card", "post /checkout"], "span names", names)
        query = urllib.parse.urlencode(
            {"serviceName": "otel-shop", "annotationQuery": "otel.status_code=ERROR", "lookback": 3_600_000}
        )
        found = get_json(main_port, f"/api/v2/traces?{query}")
        check(len(found) == 1 and found[0][0]["traceId"] == trace_id, "search by status finds the trace", found)

        trace = get_json(main_port, f"/api/v2/trace/{trace_id}")
        check(sorted(found[0], key=lambda s: s["id"]) == sorted(trace, key=lambda s: s["id"]), "search answers whole traces", found)
        by_name = {span["name"]: span for span in trace}
        root, child = by_name["post /checkout"], by_name["charge card"]
        check(root.get("kind") == "SERVER" and child.get("kind") == "CLIENT", "kinds", trace)
        check(child.get("parentId") == root["id"] and "parentId" not in root, "parents", trace)
        check(root["localEndpoint"]["serviceName"] == "otel-shop", "the resource's service.name", trace)
        check(root["tags"].get("http.method") == "POST", "string attribute", trace)
        check(root["tags"].get("http.status_code") == "500", "int attribute as text", trace)
        check(root["tags"].get("otel.scope.name") == "shop.checkout", "scope name", trace)
        check(child["tags"].get("otel.status_code") == "ERROR", "status code", trace)
        check(child["tags"].get("error") == "declined", "status message as the error tag", trace)
        check(child["tags"].get("retries") == "2", "child attribute", trace)
        annotations = [annotation["value"] for annotation in child.get("annotations", [])]
        check(any("card declined" in value for value in annotations), "the event as an annotation", trace)
        for span in trace:
            check(span.get("timestamp", 0) > 0 and span.get("duration", 0) > 0, "times", trace)
        print(f"[tracekeep] OpenTelemetry Zipkin JSON exporter: trace {trace_id} found by search and read back", file=sys.stderr)
    finally:
        process.terminate()
        process.wait(timeout=30)


if __name__ == "__main__":
    main()
