use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::InstrumentationScope;
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;

use super::*;

fn span(id: u8, name: &str) -> Span {
    Span {
        trace_id: vec![7; 16],
        span_id: vec![id; 8],
        name: name.into(),
        start_time_unix_nano: 1_700_000_000_000_000_000,
        end_time_unix_nano: 1_700_000_000_000_001_000,
        ..Default::default()
    }
}

fn scope(spans: Vec<Span>) -> ScopeSpans {
    ScopeSpans {
        scope: Some(InstrumentationScope {
            name: "lib".into(),
            ..Default::default()
        }),
        spans,
        schema_url: "https://opentelemetry.io/schemas/1.26.0".into(),
    }
}

#[test]
fn every_spans_bytes_are_found_by_resource_and_scope() {
    let request = ExportTraceServiceRequest {
        resource_spans: vec![
            ResourceSpans {
                resource: Some(Resource::default()),
                scope_spans: vec![scope(vec![span(1, "a"), span(2, "b")]), scope(vec![])],
                schema_url: String::new(),
            },
            ResourceSpans {
                resource: None,
                scope_spans: vec![scope(vec![span(3, "c")])],
                schema_url: "x".into(),
            },
        ],
    };
    let encoded = request.encode_to_vec();
    let raw = raw_spans(&encoded).unwrap();
    let expected: Vec<Vec<Vec<Vec<u8>>>> = request
        .resource_spans
        .iter()
        .map(|resource| {
            resource
                .scope_spans
                .iter()
                .map(|scope| scope.spans.iter().map(Message::encode_to_vec).collect())
                .collect()
        })
        .collect();
    let found: Vec<Vec<Vec<Vec<u8>>>> = raw
        .iter()
        .map(|scopes| {
            scopes
                .iter()
                .map(|spans| spans.iter().map(|span| span.to_vec()).collect())
                .collect()
        })
        .collect();
    assert_eq!(found, expected);
    assert_eq!(raw_spans(&[]), Some(Vec::new()), "an empty request has no spans");
}

#[test]
fn fields_it_does_not_know_are_skipped_and_bad_bytes_give_up() {
    let request = ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![scope(vec![span(1, "a")])],
            ..Default::default()
        }],
    };
    let mut encoded = request.encode_to_vec();
    // Unknown fields of every wire type: varint, 64-bit, length-delimited, 32-bit.
    encoded.extend_from_slice(&[0x18, 0x96, 0x01]);
    encoded.extend_from_slice(&[0x21, 1, 2, 3, 4, 5, 6, 7, 8]);
    encoded.extend_from_slice(&[0x2A, 0x02, b'h', b'i']);
    encoded.extend_from_slice(&[0x35, 1, 2, 3, 4]);
    let raw = raw_spans(&encoded).unwrap();
    assert_eq!(raw[0][0], vec![span(1, "a").encode_to_vec().as_slice()]);
    // Cut anywhere inside, the walk gives up rather than guess.
    let whole = request.encode_to_vec();
    for cut in 1..whole.len() {
        assert_eq!(raw_spans(&whole[..cut]), None, "cut at {cut}");
    }
    // A group, and field number 0, are not OTLP.
    assert_eq!(raw_spans(&[0x0B, 0x0C]), None);
    assert_eq!(raw_spans(&[0x00, 0x01]), None);
}
