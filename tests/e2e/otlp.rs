//! OTLP ingest end to end: OpenTelemetry's Rust exporter over gRPC, raw
//! OTLP/HTTP in protobuf and JSON, partial success, every bad input, the
//! full-disk answer, and the protocol's own listeners.

use std::net::SocketAddr;

use opentelemetry::KeyValue as SdkKeyValue;
use opentelemetry::trace::{Status as SdkStatus, TraceContextExt as _, Tracer as _, TracerProvider as _};
use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message as _;
use serde_json::{Value, json};
use tracekeep_e2e::harness::*;

const EXPORT_PATH: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

fn text(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.into())),
        }),
        ..Default::default()
    }
}

/// A span of trace `0x11…11 ‖ trace` with ID `id`, starting at `start` ns.
fn span(trace: u64, id: u64, start: u64) -> Span {
    Span {
        trace_id: [[0x11; 8], trace.to_be_bytes()].concat(),
        span_id: id.to_be_bytes().to_vec(),
        name: format!("op-{id}"),
        start_time_unix_nano: start,
        end_time_unix_nano: start + 1_500_000,
        attributes: vec![text("http.method", "GET")],
        ..Default::default()
    }
}

fn trace_hex(trace: u64) -> String {
    format!("{}{trace:016x}", "11".repeat(8))
}

fn request(service: &str, spans: Vec<Span>) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![text("service.name", service)],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn post(addr: SocketAddr, content_type: &str, body: &[u8]) -> HttpResponse {
    http(addr, "POST", "/v1/traces", &[("Content-Type", content_type)], body)
}

fn zipkin_trace(server: &Server, trace: &str) -> Value {
    let response = server.get(&format!("/api/v2/trace/{trace}"));
    assert_eq!(response.status, 200, "{}", response.body);
    response.json()
}

/// The `google.rpc.Status` an OTLP/HTTP error carries.
#[derive(Clone, PartialEq, prost::Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

/// Field 1 as a varint where OTLP has a message: bytes no OTLP decoder takes.
#[derive(Clone, PartialEq, prost::Message)]
struct NotAnExport {
    #[prost(uint64, tag = "1")]
    resource_spans: u64,
}

#[test]
fn opentelemetrys_rust_exporter_sends_over_grpc_and_the_zipkin_api_reads_it_back() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &[]);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let _inside = runtime.enter();
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint(format!("http://{}", server.addr))
        .build()
        .unwrap();
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder()
        .with_simple_exporter(exporter)
        .with_resource(
            opentelemetry_sdk::Resource::builder_empty()
                .with_service_name("rust-checkout")
                .build(),
        )
        .build();
    let tracer = provider.tracer("tracekeep-e2e");
    let trace_id = tracer.in_span("checkout", |context| {
        let parent = context.span();
        parent.set_attribute(SdkKeyValue::new("order.items", 3));
        tracer.in_span("charge card", |context| {
            let child = context.span();
            child.add_event("card declined", vec![SdkKeyValue::new("retry", true)]);
            child.set_status(SdkStatus::error("declined"));
        });
        parent.span_context().trace_id()
    });
    provider.shutdown().unwrap();

    let trace = format!("{trace_id:032x}");
    let spans = zipkin_trace(&server, &trace);
    let spans = spans.as_array().unwrap();
    assert_eq!(spans.len(), 2, "{spans:?}");
    let by_name = |name: &str| spans.iter().find(|span| span["name"] == name).unwrap().clone();
    let (parent, child) = (by_name("checkout"), by_name("charge card"));
    assert_eq!(child["parentId"], parent["id"]);
    assert_eq!(parent["localEndpoint"]["serviceName"], "rust-checkout");
    assert_eq!(parent["tags"]["order.items"], "3");
    assert_eq!(parent["tags"]["otel.scope.name"], "tracekeep-e2e");
    assert_eq!(child["tags"]["otel.status_code"], "ERROR");
    assert_eq!(child["tags"]["error"], "declined");
    assert_eq!(child["annotations"][0]["value"], r#"{"card declined":{"retry":true}}"#);
    // Searchable like any Zipkin span.
    let found = server.get("/api/v2/traces?serviceName=rust-checkout&annotationQuery=error");
    assert_eq!(found.json()[0][0]["traceId"], json!(trace));
}

#[tokio::test]
async fn otlp_grpc_answers_partial_success_for_bad_spans_and_keeps_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &[]);
    let mut client = TraceServiceClient::connect(format!("http://{}", server.addr))
        .await
        .unwrap();
    let mut zero_trace = span(1, 2, 1_700_000_000_000_000_000);
    zero_trace.trace_id = vec![0; 16];
    let mut short_span = span(1, 3, 1_700_000_000_000_000_000);
    short_span.span_id = vec![1, 2];
    let good = span(1, 1, 1_700_000_000_000_000_000);
    let reply = client
        .export(request("grpc-partial", vec![good, zero_trace, short_span]))
        .await
        .unwrap()
        .into_inner();
    let partial = reply.partial_success.unwrap();
    assert_eq!(partial.rejected_spans, 2);
    assert!(partial.error_message.contains("traceId is all zeros"), "{partial:?}");
    assert!(partial.error_message.contains("spanId has 2 bytes"), "{partial:?}");
    let spans = zipkin_trace(&server, &trace_hex(1));
    assert_eq!(spans.as_array().unwrap().len(), 1);
    assert_eq!(spans[0]["id"], "0000000000000001");

    // All good: no partial success at all.
    let reply = client
        .export(request("grpc-partial", vec![span(1, 4, 1_700_000_000_000_000_000)]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reply.partial_success, None);

    // gzip, as exporters send it with OTEL_EXPORTER_OTLP_COMPRESSION=gzip.
    let mut gzipped = client.send_compressed(tonic::codec::CompressionEncoding::Gzip);
    let reply = gzipped
        .export(request("grpc-gzip", vec![span(6, 1, 1_700_000_000_000_000_000)]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reply.partial_success, None);
    assert_eq!(
        zipkin_trace(&server, &trace_hex(6))[0]["localEndpoint"]["serviceName"],
        "grpc-gzip"
    );
}

#[tokio::test]
async fn otlp_grpc_refuses_undecodable_and_oversized_requests_with_otlps_codes() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("tracer.toml");
    std::fs::write(&config, "max-request-size = 65536\n").unwrap();
    let server = Server::start(&dir.path().join("data"), &["--config", config.to_str().unwrap()]);
    let channel = tonic::transport::Channel::from_shared(format!("http://{}", server.addr))
        .unwrap()
        .connect()
        .await
        .unwrap();

    let mut raw = tonic::client::Grpc::new(channel.clone());
    raw.ready().await.unwrap();
    let codec = tonic_prost::ProstCodec::<NotAnExport, ExportTraceServiceResponse>::default();
    let status = raw
        .unary(
            tonic::Request::new(NotAnExport { resource_spans: 7 }),
            tonic::codegen::http::uri::PathAndQuery::from_static(EXPORT_PATH),
            codec,
        )
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");

    let mut client = TraceServiceClient::new(channel);
    let mut big = span(2, 1, 1_700_000_000_000_000_000);
    big.attributes.push(text("blob", &"x".repeat(100_000)));
    let status = client.export(request("grpc-big", vec![big])).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::ResourceExhausted, "{status:?}");

    // The server keeps serving.
    client
        .export(request("grpc-big", vec![span(2, 2, 1_700_000_000_000_000_000)]))
        .await
        .unwrap();
    assert_eq!(zipkin_trace(&server, &trace_hex(2)).as_array().unwrap().len(), 1);
}

#[test]
fn otlp_http_takes_protobuf_json_and_gzip_and_answers_in_kind() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &[]);

    let response = post(
        server.addr,
        "application/x-protobuf",
        &request("http-proto", vec![span(3, 1, 1_700_000_000_000_000_000)]).encode_to_vec(),
    );
    assert_eq!(response.status, 200, "{}", response.body);
    assert_eq!(response.header("content-type"), Some("application/x-protobuf"));
    let reply = ExportTraceServiceResponse::decode(response.bytes.as_slice()).unwrap();
    assert_eq!(reply.partial_success, None);

    // OTLP's JSON: hex IDs, kind as a number, 64-bit integers as strings.
    let body = json!({"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "http-json"}}]},
        "scopeSpans": [{"scope": {"name": "json-scope"}, "spans": [
            {"traceId": trace_hex(3), "spanId": "0000000000000002", "parentSpanId": "0000000000000001",
             "name": "json child", "kind": 3,
             "startTimeUnixNano": "1700000000001000000", "endTimeUnixNano": "1700000000003000000",
             "attributes": [{"key": "db.rows", "value": {"intValue": "42"}},
                            {"key": "peer.service", "value": {"stringValue": "mysql"}}],
             "status": {"code": 1}},
            {"traceId": "00", "spanId": "0000000000000003", "name": "bad id"}
        ]}]
    }]});
    let response = post(server.addr, "application/json", body.to_string().as_bytes());
    assert_eq!(response.status, 200, "{}", response.body);
    assert_eq!(response.header("content-type"), Some("application/json"));
    let reply = response.json();
    assert_eq!(reply["partialSuccess"]["rejectedSpans"], json!("1"), "{reply}");

    // gzip, as exporters send it when compression is on.
    let gzipped = gzip(&request("http-proto", vec![span(3, 4, 1_700_000_000_002_000_000)]).encode_to_vec());
    let response = http(
        server.addr,
        "POST",
        "/v1/traces",
        &[("Content-Type", "application/x-protobuf"), ("Content-Encoding", "gzip")],
        &gzipped,
    );
    assert_eq!(response.status, 200, "{}", response.body);

    let spans = zipkin_trace(&server, &trace_hex(3));
    let spans = spans.as_array().unwrap();
    assert_eq!(spans.len(), 3, "{spans:?}");
    let child = spans.iter().find(|span| span["id"] == "0000000000000002").unwrap();
    assert_eq!(child["name"], "json child");
    assert_eq!(child["kind"], "CLIENT");
    assert_eq!(child["parentId"], "0000000000000001");
    assert_eq!(child["timestamp"], 1_700_000_000_001_000u64);
    assert_eq!(child["duration"], 2000);
    assert_eq!(child["localEndpoint"]["serviceName"], "http-json");
    assert_eq!(child["remoteEndpoint"]["serviceName"], "mysql");
    assert_eq!(child["tags"]["db.rows"], "42");
    assert_eq!(child["tags"]["otel.status_code"], "OK");
    assert_eq!(child["tags"]["otel.scope.name"], "json-scope");

    // DM's API shows them as span events too.
    let events = server.get(&format!("/events/query?trace_id={}", trace_hex(3))).json();
    assert_eq!(events.as_array().unwrap().len(), 3);
}

#[test]
fn otlp_http_refuses_bad_bodies_with_a_status_and_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("tracer.toml");
    std::fs::write(&config, "max-request-size = 65536\n").unwrap();
    let server = Server::start(&dir.path().join("data"), &["--config", config.to_str().unwrap()]);

    let response = post(server.addr, "application/x-protobuf", b"\x0a\xff\xff\xff");
    assert_eq!(response.status, 400);
    let status = RpcStatus::decode(response.bytes.as_slice()).unwrap();
    assert_eq!(status.code, 3, "INVALID_ARGUMENT");
    assert!(status.message.starts_with("bad protobuf"), "{status:?}");

    let response = post(server.addr, "application/json", b"{\"resourceSpans\": [");
    assert_eq!(response.status, 400);
    assert_eq!(response.json()["code"], 3);
    assert!(
        response.json()["message"]
            .as_str()
            .unwrap()
            .starts_with("bad OTLP JSON")
    );

    let response = post(server.addr, "text/plain", b"hello");
    assert_eq!(response.status, 415, "{}", response.body);

    let mut big = span(4, 1, 1_700_000_000_000_000_000);
    big.attributes.push(text("blob", &"x".repeat(100_000)));
    let response = post(
        server.addr,
        "application/x-protobuf",
        &request("big", vec![big]).encode_to_vec(),
    );
    assert_eq!(response.status, 413);
    assert_eq!(
        RpcStatus::decode(response.bytes.as_slice()).unwrap().code,
        8,
        "RESOURCE_EXHAUSTED"
    );

    let response = post(
        server.addr,
        "application/x-protobuf",
        &request("fine", vec![span(4, 2, 1_700_000_000_000_000_000)]).encode_to_vec(),
    );
    assert_eq!(response.status, 200);
    assert_eq!(zipkin_trace(&server, &trace_hex(4)).as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn a_full_disk_is_a_retryable_answer_on_both_transports() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("tracer.toml");
    // A reserve no disk has: every commit is refused for space.
    std::fs::write(&config, "min-free-disk-bytes = 1152921504606846976\n").unwrap();
    let server = Server::start(&dir.path().join("data"), &["--config", config.to_str().unwrap()]);
    let body = request("full", vec![span(5, 1, 1_700_000_000_000_000_000)]);

    let response = post(server.addr, "application/x-protobuf", &body.encode_to_vec());
    assert_eq!(response.status, 503, "{}", response.body);
    assert_eq!(response.header("retry-after"), Some("30"));
    assert_eq!(
        RpcStatus::decode(response.bytes.as_slice()).unwrap().code,
        14,
        "UNAVAILABLE"
    );

    let mut client = TraceServiceClient::connect(format!("http://{}", server.addr))
        .await
        .unwrap();
    let status = client.export(body).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
    assert_eq!(server.get(&format!("/api/v2/trace/{}", trace_hex(5))).status, 404);
}

/// The address a protocol's own listener logged (`<name> alone on <addr>`).
fn listener_addr(server: &Server, name: &str) -> SocketAddr {
    let marker = format!("{name} alone on ");
    loop {
        let found = server.log_lines().iter().find_map(|line| {
            let rest = &line[line.find(&marker)? + marker.len()..];
            rest.split([' ', '"']).next()?.parse::<SocketAddr>().ok()
        });
        if let Some(addr) = found {
            return addr;
        }
        server.pace();
    }
}

#[tokio::test]
async fn the_otlp_listeners_serve_otlp_alone() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(
        &dir.path().join("data"),
        &["--otlp-grpc-addr", "127.0.0.1:0", "--otlp-http-addr", "127.0.0.1:0"],
    );
    let grpc = listener_addr(&server, "OTLP/gRPC");
    let http_addr = listener_addr(&server, "OTLP/HTTP");

    let mut client = TraceServiceClient::connect(format!("http://{grpc}")).await.unwrap();
    client
        .export(request("own-ports", vec![span(6, 1, 1_700_000_000_000_000_000)]))
        .await
        .unwrap();
    let response = post(
        http_addr,
        "application/x-protobuf",
        &request("own-ports", vec![span(6, 2, 1_700_000_000_000_000_000)]).encode_to_vec(),
    );
    assert_eq!(response.status, 200, "{}", response.body);
    assert_eq!(zipkin_trace(&server, &trace_hex(6)).as_array().unwrap().len(), 2);
    // Nothing else is served there.
    assert_eq!(http(http_addr, "GET", "/status", &[], b"").status, 404);
    assert_eq!(http(http_addr, "GET", "/api/v2/services", &[], b"").status, 404);
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write as _;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

#[test]
fn dump_exports_otlp_spans_exactly_as_they_arrived() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Server::start(&data, &[]);
    // Every field OTLP has, on two spans of one trace; and a Zipkin span of
    // another trace, which export maps.
    let mut first = span(7, 1, 1_700_000_000_000_000_000);
    first.trace_state = "vendor=a".into();
    first.kind = 2;
    first.flags = 0x301;
    first.attributes.push(KeyValue {
        key: "nested".into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::ArrayValue(
                opentelemetry_proto::tonic::common::v1::ArrayValue {
                    values: vec![AnyValue {
                        value: Some(any_value::Value::BytesValue(vec![1, 2, 255])),
                    }],
                },
            )),
        }),
        ..Default::default()
    });
    first.events.push(opentelemetry_proto::tonic::trace::v1::span::Event {
        time_unix_nano: 1_700_000_000_000_500_000,
        name: "retry".into(),
        attributes: vec![text("attempt", "2")],
        dropped_attributes_count: 1,
    });
    first.links.push(opentelemetry_proto::tonic::trace::v1::span::Link {
        trace_id: vec![0x42; 16],
        span_id: vec![0x43; 8],
        trace_state: "k=v".into(),
        attributes: vec![text("link.kind", "follows")],
        dropped_attributes_count: 0,
        flags: 0x100,
    });
    first.status = Some(opentelemetry_proto::tonic::trace::v1::Status {
        message: "boom".into(),
        code: 2,
    });
    first.dropped_attributes_count = 3;
    first.dropped_events_count = 4;
    first.dropped_links_count = 5;
    let mut second = span(7, 2, 1_700_000_000_001_000_000);
    second.parent_span_id = 1u64.to_be_bytes().to_vec();
    let mut sent = request("exported", vec![first, second]);
    sent.resource_spans[0].schema_url = "https://opentelemetry.io/schemas/1.26.0".into();
    sent.resource_spans[0].scope_spans[0].scope = Some(opentelemetry_proto::tonic::common::v1::InstrumentationScope {
        name: "scope".into(),
        version: "9".into(),
        attributes: vec![text("scope.key", "v")],
        dropped_attributes_count: 0,
    });
    let response = post(server.addr, "application/x-protobuf", &sent.encode_to_vec());
    assert_eq!(response.status, 200, "{}", response.body);
    let zipkin = r#"[{"traceId":"00000000000000f7","id":"0000000000000009","name":"zipkin op","timestamp":1700000000000000,"duration":10,"localEndpoint":{"serviceName":"zsvc"},"tags":{"k":"v"}}]"#;
    let response = http(
        server.addr,
        "POST",
        "/api/v2/spans",
        &[("Content-Type", "application/json")],
        zipkin.as_bytes(),
    );
    assert_eq!(response.status, 202);

    let output = dump(&["export", "--format", "otlp", data.to_str().unwrap()]);
    assert_eq!(output.code, 0, "{}", output.stderr);
    let lines: Vec<ExportTraceServiceRequest> = output
        .stdout
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "a line per trace");
    let exported = lines
        .iter()
        .find(|line| {
            line.resource_spans[0].scope_spans[0].spans[0].trace_id
                == sent.resource_spans[0].scope_spans[0].spans[0].trace_id
        })
        .unwrap();
    // Each span comes back in its own ResourceSpans, with its resource and scope.
    for (index, back) in exported.resource_spans.iter().enumerate() {
        let mut expected = sent.resource_spans[0].clone();
        expected.scope_spans[0].spans = vec![sent.resource_spans[0].scope_spans[0].spans[index].clone()];
        assert_eq!(back, &expected);
    }
    let mapped = lines.iter().find(|line| line != &exported).unwrap();
    let zipkin_span = &mapped.resource_spans[0].scope_spans[0].spans[0];
    assert_eq!(
        zipkin_span.trace_id,
        [vec![0; 8], 0xf7u64.to_be_bytes().to_vec()].concat()
    );
    assert_eq!(zipkin_span.name, "zipkin op");
    assert_eq!(
        zipkin_span.end_time_unix_nano - zipkin_span.start_time_unix_nano,
        10_000
    );
    assert_eq!(
        mapped.resource_spans[0].resource.as_ref().unwrap().attributes[0],
        text("service.name", "zsvc")
    );
}
