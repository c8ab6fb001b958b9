//! OTLP spans to the store's `pb.Span`.
//!
//! Each span keeps two forms. Its Zipkin view fills the ordinary fields, the
//! way OpenTelemetry's Zipkin exporters map a span (kind, `otel.status_code`,
//! `error`, `otel.scope.name`, events as annotations, attributes as text
//! tags), so search and the Zipkin API need no OTLP knowledge. And `otlp`
//! holds the span as it arrived, as a `ResourceSpans` with its resource, its
//! scope and this one span, for lossless export; string attributes that the
//! tags hold verbatim are left out of it and put back when it is read
//! (`tracekeep_proto::otlp_form`), so they are stored once.

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::trace::v1::{Span, span, status};
use prost::Message as _;
use serde_json::{Map, Value};
use tracekeep_proto::json::base64;
use tracekeep_proto::otlp_form::{self, delimited_len, push_delimited_head};
use tracekeep_proto::pb;

use super::wire::RawSpans;
use crate::zipkin::model::lower_hex;

/// Attributes that name a client span's remote side, most specific first
/// (OpenTelemetry's Zipkin exporter specification's ranking).
const REMOTE_SERVICE_KEYS: &[&str] = &[
    "peer.service",
    "server.address",
    "net.peer.name",
    "network.peer.address",
    "net.sock.peer.addr",
    "peer.hostname",
    "peer.address",
    "db.name",
];

/// Attributes that give the remote side's port.
const REMOTE_PORT_KEYS: &[&str] = &["server.port", "net.peer.port", "network.peer.port"];

/// How many rejected spans the error message names; the count covers all.
const REASONS_NAMED: usize = 3;

/// A request's spans, sorted into what can be stored and what is refused.
#[derive(Debug, Default)]
pub struct Converted {
    /// The valid spans, ready to store.
    pub spans: Vec<pb::Span>,
    /// How many spans were refused (OTLP's `rejected_spans`).
    pub rejected: i64,
    /// Why, for the first few (OTLP's `error_message`); empty when none were.
    pub error_message: String,
}

/// Converts every span of `request`; an invalid span (a trace or span ID of
/// the wrong length or all zeros, a parent ID of the wrong length, a start
/// past the year 2262) is counted and named, the others are kept.
///
/// `raw`, the spans' bytes as they arrived (`super::wire::raw_spans` of the
/// encoded request), saves re-encoding each span for its stored OTLP form;
/// without it (OTLP JSON), or when its shape differs from the request's, the
/// spans are encoded.
pub fn convert(request: ExportTraceServiceRequest, raw: Option<&RawSpans<'_>>) -> Converted {
    let raw = raw.filter(|raw| same_shape(&request, raw));
    let mut converted = Converted::default();
    let mut reasons = Vec::new();
    for (resource_index, resource_spans) in request.resource_spans.into_iter().enumerate() {
        let resource_bytes = resource_spans
            .resource
            .as_ref()
            .map(|resource| resource.encode_to_vec());
        let service = resource_spans
            .resource
            .as_ref()
            .and_then(|resource| string_attribute(&resource.attributes, "service.name"))
            .unwrap_or_default()
            .to_owned();
        for (scope_index, scope_spans) in resource_spans.scope_spans.into_iter().enumerate() {
            let scope_bytes = scope_spans.scope.as_ref().map(|scope| scope.encode_to_vec());
            let (scope_name, scope_version) = scope_spans
                .scope
                .as_ref()
                .map(|scope| (scope.name.as_str(), scope.version.as_str()))
                .unwrap_or_default();
            for (span_index, otlp_span) in scope_spans.spans.into_iter().enumerate() {
                match Ids::of(&otlp_span) {
                    Ok(ids) => {
                        // The span's bytes as they arrived (encoded when
                        // they are not at hand), taken before the view
                        // takes the span's strings instead of copying them.
                        let encoded;
                        let span_bytes = match raw
                            .and_then(|raw| raw.get(resource_index)?.get(scope_index)?.get(span_index).copied())
                        {
                            Some(bytes) => bytes,
                            None => {
                                encoded = otlp_span.encode_to_vec();
                                encoded.as_slice()
                            }
                        };
                        let mut view = zipkin_view(otlp_span, ids, &service, scope_name, scope_version);
                        // String attributes the view's tags hold verbatim
                        // are stored once, there (`otlp_form`).
                        let elided = otlp_form::elide_tag_attributes(span_bytes, &view.tags);
                        let span_bytes = elided.as_ref().map_or(span_bytes, |elided| elided.span.as_slice());
                        view.otlp = frame_resource_spans(
                            resource_bytes.as_deref(),
                            &resource_spans.schema_url,
                            scope_bytes.as_deref(),
                            &scope_spans.schema_url,
                            span_bytes,
                        );
                        if let Some(elided) = elided {
                            view.otlp_from_tags = elided.from_tags;
                        }
                        converted.spans.push(view);
                    }
                    Err(reason) => {
                        converted.rejected += 1;
                        if reasons.len() < REASONS_NAMED {
                            reasons.push(format!(
                                "resource {resource_index} scope {scope_index} span {span_index}: {reason}"
                            ));
                        }
                    }
                }
            }
        }
    }
    if converted.rejected > 0 {
        let more = converted.rejected - reasons.len() as i64;
        converted.error_message = reasons.join("; ");
        if more > 0 {
            converted.error_message.push_str(&format!("; and {more} more"));
        }
    }
    converted
}

/// Whether `raw` has a span for every span of `request`, and no more.
fn same_shape(request: &ExportTraceServiceRequest, raw: &RawSpans<'_>) -> bool {
    request.resource_spans.len() == raw.len()
        && request.resource_spans.iter().zip(raw).all(|(resource, raw)| {
            resource.scope_spans.len() == raw.len()
                && resource
                    .scope_spans
                    .iter()
                    .zip(raw)
                    .all(|(scope, raw)| scope.spans.len() == raw.len())
        })
}

/// The value of a string attribute.
fn string_attribute<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a str> {
    attributes
        .iter()
        .rev()
        .find(|attribute| attribute.key == key)
        .and_then(|attribute| match attribute.value.as_ref()?.value.as_ref()? {
            any_value::Value::StringValue(text) => Some(text.as_str()),
            _ => None,
        })
}

/// An ID of `len` bytes, not all zero, as lowercase hex.
fn id_hex(field: &str, bytes: &[u8], len: usize) -> Result<String, String> {
    if bytes.len() != len {
        return Err(format!("{field} has {} bytes, not {len}", bytes.len()));
    }
    if bytes.iter().all(|byte| *byte == 0) {
        return Err(format!("{field} is all zeros"));
    }
    Ok(lower_hex(bytes))
}

/// A trace ID as Zipkin spells it: 32 hex digits, or 16 when the upper half
/// is zero (Zipkin's normalisation, so both protocols find the same trace).
fn trace_id_hex(bytes: &[u8]) -> Result<String, String> {
    let hex = id_hex("traceId", bytes, 16)?;
    Ok(match hex.strip_prefix("0000000000000000") {
        Some(lower) => lower.to_owned(),
        None => hex,
    })
}

/// A valid span's IDs and start, as the view spells them.
#[derive(Debug)]
struct Ids {
    trace_id: String,
    span_id: String,
    parent_span_id: String,
    start: i64,
}

impl Ids {
    /// The IDs of `otlp`, or why the span is refused.
    fn of(otlp: &Span) -> Result<Ids, String> {
        let trace_id = trace_id_hex(&otlp.trace_id)?;
        let span_id = id_hex("spanId", &otlp.span_id, 8)?;
        let parent_span_id = match otlp.parent_span_id.len() {
            0 => String::new(),
            8 if otlp.parent_span_id.iter().all(|byte| *byte == 0) => String::new(),
            8 => lower_hex(&otlp.parent_span_id),
            n => return Err(format!("parentSpanId has {n} bytes, not 8 or none")),
        };
        let start = i64::try_from(otlp.start_time_unix_nano)
            .map_err(|_| format!("startTimeUnixNano {} is out of range", otlp.start_time_unix_nano))?;
        Ok(Ids {
            trace_id,
            span_id,
            parent_span_id,
            start,
        })
    }
}

/// The Zipkin view of one valid OTLP span (taken apart: its strings move).
fn zipkin_view(otlp: Span, ids: Ids, service: &str, scope_name: &str, scope_version: &str) -> pb::Span {
    let Ids {
        trace_id,
        span_id,
        parent_span_id,
        start,
    } = ids;
    let duration = i64::try_from(otlp.end_time_unix_nano.saturating_sub(otlp.start_time_unix_nano)).unwrap_or(i64::MAX);
    let kind = span::SpanKind::try_from(otlp.kind).unwrap_or(span::SpanKind::Unspecified);

    let remote_endpoint = matches!(kind, span::SpanKind::Client | span::SpanKind::Producer)
        .then(|| remote_endpoint(&otlp.attributes))
        .flatten();
    // Gathered, then built in one go: a map built from a sorted run costs
    // less than one insert per tag (a later entry wins, as inserts would).
    let mut tags = Vec::with_capacity(otlp.attributes.len() + 6);
    for attribute in otlp.attributes {
        tags.push((attribute.key, tag_text(attribute.value)));
    }
    if !scope_name.is_empty() {
        tags.push(("otel.scope.name".to_owned(), scope_name.to_owned()));
    }
    if !scope_version.is_empty() {
        tags.push(("otel.scope.version".to_owned(), scope_version.to_owned()));
    }
    if let Some(status) = otlp.status {
        match status::StatusCode::try_from(status.code) {
            Ok(status::StatusCode::Ok) => {
                tags.push(("otel.status_code".to_owned(), "OK".to_owned()));
            }
            Ok(status::StatusCode::Error) => {
                tags.push(("otel.status_code".to_owned(), "ERROR".to_owned()));
                tags.push(("error".to_owned(), status.message));
            }
            _ => {}
        }
    }
    for (key, count) in [
        ("otel.dropped_attributes_count", otlp.dropped_attributes_count),
        ("otel.dropped_events_count", otlp.dropped_events_count),
        ("otel.dropped_links_count", otlp.dropped_links_count),
    ] {
        if count > 0 {
            tags.push((key.to_owned(), count.to_string()));
        }
    }
    let tags: std::collections::BTreeMap<String, String> = tags.into_iter().collect();

    let annotations = otlp
        .events
        .into_iter()
        .map(|event| pb::SpanAnnotation {
            time: i64::try_from(event.time_unix_nano).unwrap_or(i64::MAX),
            value: event_text(event.name, &event.attributes),
            zipkin_time: 0,
        })
        .collect();
    pb::Span {
        base: Some(pb::BaseEvent {
            trace_id,
            tso: start,
            r#type: pb::TraceType::SpanEvent as i32,
            ..Default::default()
        }),
        span_id,
        parent_span_id,
        operation: otlp.name,
        duration,
        tags,
        kind: match kind {
            span::SpanKind::Client => pb::SpanKind::Client,
            span::SpanKind::Server => pb::SpanKind::Server,
            span::SpanKind::Producer => pb::SpanKind::Producer,
            span::SpanKind::Consumer => pb::SpanKind::Consumer,
            span::SpanKind::Internal | span::SpanKind::Unspecified => pb::SpanKind::Unspecified,
        } as i32,
        local_endpoint: (!service.is_empty()).then(|| pb::Endpoint {
            service_name: service.to_owned(),
            ..Default::default()
        }),
        remote_endpoint,
        annotations,
        ..Default::default()
    }
}

/// The remote side of a client or producer span, from its attributes.
fn remote_endpoint(attributes: &[KeyValue]) -> Option<pb::Endpoint> {
    let service_name = REMOTE_SERVICE_KEYS
        .iter()
        .find_map(|key| string_attribute(attributes, key))?
        .to_owned();
    let port = REMOTE_PORT_KEYS
        .iter()
        .find_map(|key| {
            attributes
                .iter()
                .find(|attribute| attribute.key == *key)
                .and_then(|attribute| match attribute.value.as_ref()?.value.as_ref()? {
                    any_value::Value::IntValue(port) => i32::try_from(*port).ok(),
                    any_value::Value::StringValue(port) => port.parse().ok(),
                    _ => None,
                })
        })
        .unwrap_or(0);
    Some(pb::Endpoint {
        service_name,
        port,
        ..Default::default()
    })
}

/// An attribute's value as a Zipkin tag: strings as they are, scalars as
/// text, arrays and maps as JSON, bytes as base64.
fn tag_text(value: Option<AnyValue>) -> String {
    match value.and_then(|value| value.value) {
        // A string-table index is for profiles only; OTLP says to read it
        // elsewhere as if absent (the OTLP form keeps it).
        None | Some(any_value::Value::StringValueStrindex(_)) => String::new(),
        Some(any_value::Value::StringValue(text)) => text,
        Some(any_value::Value::BoolValue(flag)) => flag.to_string(),
        Some(any_value::Value::IntValue(number)) => number.to_string(),
        Some(any_value::Value::DoubleValue(number)) => number.to_string(),
        Some(any_value::Value::BytesValue(bytes)) => base64(&bytes),
        Some(other @ (any_value::Value::ArrayValue(_) | any_value::Value::KvlistValue(_))) => {
            json_value(Some(&other)).to_string()
        }
    }
}

/// An attribute value as JSON, for arrays, maps and event attributes.
fn json_value(value: Option<&any_value::Value>) -> Value {
    match value {
        None | Some(any_value::Value::StringValueStrindex(_)) => Value::Null,
        Some(any_value::Value::StringValue(text)) => Value::from(text.as_str()),
        Some(any_value::Value::BoolValue(flag)) => Value::from(*flag),
        Some(any_value::Value::IntValue(number)) => Value::from(*number),
        Some(any_value::Value::DoubleValue(number)) => Value::from(*number),
        Some(any_value::Value::BytesValue(bytes)) => Value::from(base64(bytes)),
        Some(any_value::Value::ArrayValue(array)) => Value::Array(
            array
                .values
                .iter()
                .map(|item| json_value(item.value.as_ref()))
                .collect(),
        ),
        Some(any_value::Value::KvlistValue(list)) => Value::Object(json_object(&list.values)),
    }
}

fn json_object(attributes: &[KeyValue]) -> Map<String, Value> {
    attributes
        .iter()
        .map(|attribute| {
            (
                attribute.key.clone(),
                json_value(attribute.value.as_ref().and_then(|value| value.value.as_ref())),
            )
        })
        .collect()
}

/// An event as a Zipkin annotation: its name, or `{"name":{attributes}}`
/// when it has attributes (the Zipkin exporter specification's form).
fn event_text(name: String, attributes: &[KeyValue]) -> String {
    if attributes.is_empty() {
        return name;
    }
    let mut outer = Map::new();
    outer.insert(name, Value::Object(json_object(attributes)));
    Value::Object(outer).to_string()
}

/// Appends field `number` holding `bytes` (length-delimited).
fn push_field(buffer: &mut Vec<u8>, number: u32, bytes: &[u8]) {
    push_delimited_head(buffer, number, bytes.len());
    buffer.extend_from_slice(bytes);
}

/// The protobuf encoding of `ResourceSpans { resource, scope_spans: [ScopeSpans
/// { scope, spans: [span], schema_url }], schema_url }`, written once into
/// one buffer from the already encoded resource and scope (a request's
/// resource is encoded once, not once per span) and the span's bytes.
fn frame_resource_spans(
    resource: Option<&[u8]>,
    resource_schema_url: &str,
    scope: Option<&[u8]>,
    scope_schema_url: &str,
    span_bytes: &[u8],
) -> Vec<u8> {
    let span_len = span_bytes.len();
    // Schema URLs are field 3 of both messages, left out when empty.
    let schema_url_len = |text: &str| {
        if text.is_empty() {
            0
        } else {
            delimited_len(3, text.len())
        }
    };
    let scope_spans_len = scope.map_or(0, |scope| delimited_len(1, scope.len()))
        + delimited_len(2, span_len)
        + schema_url_len(scope_schema_url);
    let total = resource.map_or(0, |resource| delimited_len(1, resource.len()))
        + delimited_len(2, scope_spans_len)
        + schema_url_len(resource_schema_url);
    let mut buffer = Vec::with_capacity(total);
    if let Some(resource) = resource {
        push_field(&mut buffer, 1, resource);
    }
    push_delimited_head(&mut buffer, 2, scope_spans_len);
    if let Some(scope) = scope {
        push_field(&mut buffer, 1, scope);
    }
    push_delimited_head(&mut buffer, 2, span_len);
    buffer.extend_from_slice(span_bytes);
    if !scope_schema_url.is_empty() {
        push_field(&mut buffer, 3, scope_schema_url.as_bytes());
    }
    if !resource_schema_url.is_empty() {
        push_field(&mut buffer, 3, resource_schema_url.as_bytes());
    }
    buffer
}

#[cfg(test)]
#[path = "mapping_tests.rs"]
mod tests;
