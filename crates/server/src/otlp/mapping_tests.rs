use opentelemetry_proto::tonic::common::v1::{AnyValue, ArrayValue, InstrumentationScope, KeyValue, KeyValueList};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::span::{Event, Link, SpanKind};
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Status};
use prost::Message as _;

use super::*;

fn value(value: any_value::Value) -> Option<AnyValue> {
    Some(AnyValue { value: Some(value) })
}

fn attribute(key: &str, item: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: value(item),
        ..Default::default()
    }
}

fn text(key: &str, item: &str) -> KeyValue {
    attribute(key, any_value::Value::StringValue(item.into()))
}

fn otlp_span(trace: u8, id: u8) -> Span {
    Span {
        trace_id: [[0x10; 8], [trace; 8]].concat(),
        span_id: vec![id; 8],
        parent_span_id: Vec::new(),
        trace_state: "vendor=1".into(),
        name: "GET /orders".into(),
        kind: SpanKind::Client as i32,
        start_time_unix_nano: 1_700_000_000_000_000_000,
        end_time_unix_nano: 1_700_000_000_002_500_000,
        attributes: vec![
            text("http.method", "GET"),
            attribute("http.status_code", any_value::Value::IntValue(200)),
            attribute("retry", any_value::Value::BoolValue(false)),
            attribute("ratio", any_value::Value::DoubleValue(0.25)),
            attribute("raw", any_value::Value::BytesValue(vec![0xde, 0xad, 0xbe, 0xef])),
            attribute(
                "list",
                any_value::Value::ArrayValue(ArrayValue {
                    values: vec![
                        AnyValue {
                            value: Some(any_value::Value::StringValue("a".into())),
                        },
                        AnyValue {
                            value: Some(any_value::Value::IntValue(2)),
                        },
                    ],
                }),
            ),
            attribute(
                "map",
                any_value::Value::KvlistValue(KeyValueList {
                    values: vec![text("k", "v")],
                }),
            ),
            text("peer.service", "orders"),
            attribute("server.port", any_value::Value::IntValue(8080)),
        ],
        dropped_attributes_count: 2,
        events: vec![
            Event {
                time_unix_nano: 1_700_000_000_001_000_000,
                name: "cache miss".into(),
                attributes: Vec::new(),
                dropped_attributes_count: 0,
            },
            Event {
                time_unix_nano: 1_700_000_000_002_000_000,
                name: "exception".into(),
                attributes: vec![text("exception.type", "Timeout")],
                dropped_attributes_count: 0,
            },
        ],
        dropped_events_count: 0,
        links: vec![Link {
            trace_id: vec![0x22; 16],
            span_id: vec![0x33; 8],
            trace_state: String::new(),
            attributes: vec![text("link", "yes")],
            dropped_attributes_count: 0,
            flags: 0x100,
        }],
        dropped_links_count: 0,
        status: Some(Status {
            message: "upstream timeout".into(),
            code: StatusCode::Error as i32,
        }),
        flags: 0x101,
    }
}

fn request(spans: Vec<Span>) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![text("service.name", "Checkout"), text("host.name", "h1")],
                dropped_attributes_count: 1,
                entity_refs: Vec::new(),
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: "io.opentelemetry.http".into(),
                    version: "1.2.3".into(),
                    attributes: vec![text("scope.attr", "x")],
                    dropped_attributes_count: 0,
                }),
                spans,
                schema_url: "https://opentelemetry.io/schemas/1.21.0".into(),
            }],
            schema_url: "https://opentelemetry.io/schemas/1.20.0".into(),
        }],
    }
}

#[test]
fn the_zipkin_view_follows_opentelemetrys_zipkin_mapping() {
    let converted = convert(request(vec![otlp_span(0xab, 0x01)]), None);
    assert_eq!(converted.rejected, 0);
    assert_eq!(converted.error_message, "");
    let span = &converted.spans[0];
    let base = span.base.as_ref().unwrap();
    assert_eq!(base.trace_id, format!("{}{}", "10".repeat(8), "ab".repeat(8)));
    assert_eq!(base.tso, 1_700_000_000_000_000_000);
    assert_eq!(span.span_id, "01".repeat(8));
    assert_eq!(span.parent_span_id, "");
    assert_eq!(span.operation, "GET /orders");
    assert_eq!(span.duration, 2_500_000);
    assert_eq!(span.kind, pb::SpanKind::Client as i32);
    assert_eq!(span.local_endpoint.as_ref().unwrap().service_name, "Checkout");
    let remote = span.remote_endpoint.as_ref().unwrap();
    assert_eq!((remote.service_name.as_str(), remote.port), ("orders", 8080));
    let tag = |key: &str| span.tags.get(key).map(String::as_str);
    assert_eq!(tag("http.method"), Some("GET"));
    assert_eq!(tag("http.status_code"), Some("200"));
    assert_eq!(tag("retry"), Some("false"));
    assert_eq!(tag("ratio"), Some("0.25"));
    assert_eq!(tag("raw"), Some("3q2+7w=="));
    assert_eq!(tag("list"), Some(r#"["a",2]"#));
    assert_eq!(tag("map"), Some(r#"{"k":"v"}"#));
    assert_eq!(tag("otel.scope.name"), Some("io.opentelemetry.http"));
    assert_eq!(tag("otel.scope.version"), Some("1.2.3"));
    assert_eq!(tag("otel.status_code"), Some("ERROR"));
    assert_eq!(tag("error"), Some("upstream timeout"));
    assert_eq!(tag("otel.dropped_attributes_count"), Some("2"));
    assert_eq!(tag("otel.dropped_events_count"), None);
    let annotations: Vec<_> = span
        .annotations
        .iter()
        .map(|annotation| (annotation.time, annotation.value.as_str()))
        .collect();
    assert_eq!(
        annotations,
        [
            (1_700_000_000_001_000_000, "cache miss"),
            (
                1_700_000_000_002_000_000,
                r#"{"exception":{"exception.type":"Timeout"}}"#
            ),
        ]
    );
}

#[test]
fn the_otlp_form_keeps_resource_scope_and_span_whole() {
    let original = request(vec![otlp_span(0xab, 0x01), otlp_span(0xab, 0x02)]);
    let converted = convert(original.clone(), None);
    for (index, stored) in converted.spans.iter().enumerate() {
        let back = ResourceSpans::decode(stored.otlp_form().unwrap().as_ref()).unwrap();
        let mut expected = original.resource_spans[0].clone();
        expected.scope_spans[0].spans = vec![original.resource_spans[0].scope_spans[0].spans[index].clone()];
        assert_eq!(back, expected);
    }
}

#[test]
fn the_otlp_form_copies_each_spans_bytes_as_they_arrived() {
    let original = request(vec![otlp_span(0xab, 0x01), otlp_span(0xab, 0x02)]);
    let encoded = original.encode_to_vec();
    let raw = super::super::wire::raw_spans(&encoded).unwrap();
    let copied = convert(original.clone(), Some(&raw));
    let reencoded = convert(original.clone(), None);
    let forms = |converted: &Converted| {
        converted
            .spans
            .iter()
            .map(|span| span.otlp_form().unwrap().into_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(forms(&copied), forms(&reencoded));
    // A field this build does not know survives in the stored form.
    let mut span = original.resource_spans[0].scope_spans[0].spans[0].encode_to_vec();
    span.extend_from_slice(&[0xF8, 0x06, 0x2A]); // field 111, varint 42
    let with_unknown = vec![vec![vec![span.as_slice()]]];
    let one = request(vec![otlp_span(0xab, 0x01)]);
    let stored = convert(one, Some(&with_unknown))
        .spans
        .remove(0)
        .otlp_form()
        .unwrap()
        .into_owned();
    assert!(stored.windows(3).any(|window| window == [0xF8, 0x06, 0x2A]));
    // Raw bytes of another shape are not used.
    let two = request(vec![otlp_span(0xab, 0x01), otlp_span(0xab, 0x02)]);
    assert_eq!(forms(&convert(two, Some(&with_unknown))), forms(&reencoded));
}

#[test]
fn string_attributes_are_stored_once_in_the_tags() {
    let original = request(vec![otlp_span(0xab, 0x01)]);
    let encoded = original.encode_to_vec();
    let raw = super::super::wire::raw_spans(&encoded).unwrap();
    let stored = convert(original.clone(), Some(&raw)).spans.remove(0);
    let whole = stored.otlp_form().unwrap().into_owned();
    assert!(!stored.otlp_from_tags.is_empty());
    assert!(stored.otlp.len() < whole.len());
    // A string attribute is in the tags and the restored form, not in what is
    // stored for the OTLP form.
    let contains =
        |haystack: &[u8], needle: &str| haystack.windows(needle.len()).any(|window| window == needle.as_bytes());
    assert_eq!(stored.tags.get("peer.service").map(String::as_str), Some("orders"));
    assert!(contains(&whole, "peer.service") && !contains(&stored.otlp, "peer.service"));
    let mut expected = original.resource_spans[0].clone();
    expected.scope_spans[0].spans.truncate(1);
    assert_eq!(ResourceSpans::decode(whole.as_slice()).unwrap(), expected);
}

#[test]
fn a_resource_or_scope_left_out_stays_left_out() {
    let mut original = request(vec![otlp_span(0xab, 0x01)]);
    original.resource_spans[0].resource = None;
    original.resource_spans[0].scope_spans[0].scope = None;
    original.resource_spans[0].schema_url.clear();
    let converted = convert(original.clone(), None);
    let back = ResourceSpans::decode(converted.spans[0].otlp_form().unwrap().as_ref()).unwrap();
    assert_eq!(back, original.resource_spans[0]);
    // No service.name: the store's rule then names the service.
    assert_eq!(converted.spans[0].local_endpoint, None);
}

#[test]
fn bad_spans_are_counted_and_named_and_the_rest_kept() {
    let mut short_trace = otlp_span(0xab, 0x02);
    short_trace.trace_id = vec![1; 8];
    let mut zero_span = otlp_span(0xab, 0x03);
    zero_span.span_id = vec![0; 8];
    let mut bad_parent = otlp_span(0xab, 0x04);
    bad_parent.parent_span_id = vec![1; 4];
    let mut zero_trace = otlp_span(0xab, 0x05);
    zero_trace.trace_id = vec![0; 16];
    let converted = convert(
        request(vec![
            otlp_span(0xab, 0x01),
            short_trace,
            zero_span,
            bad_parent,
            zero_trace,
        ]),
        None,
    );
    assert_eq!(converted.spans.len(), 1);
    assert_eq!(converted.rejected, 4);
    assert_eq!(
        converted.error_message,
        "resource 0 scope 0 span 1: traceId has 8 bytes, not 16; \
         resource 0 scope 0 span 2: spanId is all zeros; \
         resource 0 scope 0 span 3: parentSpanId has 4 bytes, not 8 or none; and 1 more"
    );
}

#[test]
fn ids_take_zipkins_spelling() {
    let mut span = otlp_span(0xab, 0x01);
    span.trace_id = [[0; 8], [0xcd; 8]].concat();
    span.parent_span_id = vec![0x0f; 8];
    let converted = convert(request(vec![span]), None);
    let stored = &converted.spans[0];
    assert_eq!(stored.base.as_ref().unwrap().trace_id, "cd".repeat(8));
    assert_eq!(stored.parent_span_id, "0f".repeat(8));

    let mut root = otlp_span(0xab, 0x01);
    root.parent_span_id = vec![0; 8];
    assert_eq!(convert(request(vec![root]), None).spans[0].parent_span_id, "");
}

#[test]
fn only_client_and_producer_spans_get_a_remote_endpoint() {
    let mut server = otlp_span(0xab, 0x01);
    server.kind = SpanKind::Server as i32;
    let mut internal = otlp_span(0xab, 0x02);
    internal.kind = SpanKind::Internal as i32;
    let converted = convert(request(vec![server, internal]), None);
    assert_eq!(converted.spans[0].kind, pb::SpanKind::Server as i32);
    assert_eq!(converted.spans[0].remote_endpoint, None);
    assert_eq!(converted.spans[1].kind, pb::SpanKind::Unspecified as i32);
}
