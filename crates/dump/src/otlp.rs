//! `export --format otlp`: stored spans as OTLP JSON, one
//! `ExportTraceServiceRequest` per trace and line (the OpenTelemetry
//! Collector's file exporter format, which its `otlpjsonfile` receiver reads).
//!
//! A span that arrived over OTLP is written back from the `ResourceSpans` the
//! store kept for it, so nothing it carried is lost. Other spans (Zipkin's, the
//! span tracer's) are mapped the way OpenTelemetry's Zipkin receiver maps
//! Zipkin spans. DM's job and binlog events are not spans and are left out.

use std::collections::BTreeMap;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, span};
use prost::Message as _;
use tracekeep_proto::{TraceEvent, pb};

/// One trace's spans, gathered as the export walk visits them.
#[derive(Debug, Default)]
pub struct TraceBatch {
    trace_id: String,
    resource_spans: Vec<ResourceSpans>,
}

/// What [`TraceBatch::add`] did.
#[derive(Debug, Default)]
pub struct Added {
    /// The request of the previous trace, when this event started a new one.
    pub finished: Option<ExportTraceServiceRequest>,
    /// Why the event's span was left out: its stored OTLP form is damaged.
    /// The rest of the export goes on; `verify` says more.
    pub skipped: Option<String>,
}

impl TraceBatch {
    /// Adds one stored event of `trace_id`.
    pub fn add(&mut self, trace_id: &str, event: &TraceEvent) -> Added {
        let mut added = Added::default();
        if self.trace_id != trace_id {
            self.trace_id = trace_id.to_owned();
            added.finished = self.finish();
        }
        if let TraceEvent::Span(span) = event {
            match resource_spans(span) {
                Ok(resource_spans) => self.resource_spans.push(resource_spans),
                Err(reason) => {
                    added.skipped = Some(format!("trace {trace_id}, span {}: {reason}", span.span_id));
                }
            }
        }
        added
    }

    /// The request of the spans gathered so far, if any.
    pub fn finish(&mut self) -> Option<ExportTraceServiceRequest> {
        let resource_spans = std::mem::take(&mut self.resource_spans);
        (!resource_spans.is_empty()).then_some(ExportTraceServiceRequest { resource_spans })
    }
}

/// A stored span as OTLP: the form it arrived in, or the Zipkin mapping.
fn resource_spans(span: &pb::Span) -> Result<ResourceSpans, String> {
    if span.otlp.is_empty() {
        return Ok(from_span(span));
    }
    let form = span.otlp_form().map_err(|error| error.to_string())?;
    ResourceSpans::decode(form.as_ref()).map_err(|error| format!("its OTLP form does not decode: {error}"))
}

fn text(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.to_owned())),
        }),
        ..Default::default()
    }
}

/// Hex text to bytes; IDs the store holds are hex (anything else, such as a
/// DM trace name on a span-tracer span, is left empty).
fn id_bytes(hex: &str, len: usize) -> Vec<u8> {
    if hex.is_empty() {
        return Vec::new();
    }
    let padded = format!("{hex:0>width$}", width = len * 2);
    if padded.len() != len * 2 || !padded.bytes().all(|byte| byte.is_ascii_hexdigit()) {
        return Vec::new();
    }
    (0..len)
        .filter_map(|index| u8::from_str_radix(&padded[index * 2..index * 2 + 2], 16).ok())
        .collect()
}

/// A span that did not arrive over OTLP, as OTLP: tags as string attributes,
/// annotations and span-tracer logs as events, the local service as the
/// resource's `service.name`, the remote one as `peer.service`.
fn from_span(stored: &pb::Span) -> ResourceSpans {
    let base = stored.base.clone().unwrap_or_default();
    let start = u64::try_from(base.tso).unwrap_or(0);
    let mut attributes: BTreeMap<&str, &str> = stored.tags.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    if let Some(remote) = tracekeep_proto::span::remote_service_name(stored) {
        attributes.entry("peer.service").or_insert(remote);
    }
    let mut events: Vec<span::Event> = stored
        .annotations
        .iter()
        .map(|annotation| span::Event {
            time_unix_nano: u64::try_from(annotation.time).unwrap_or(0),
            name: annotation.value.clone(),
            ..Default::default()
        })
        .collect();
    events.extend(stored.logs.iter().map(|log| span::Event {
        time_unix_nano: u64::try_from(log.time).unwrap_or(0),
        name: tracekeep_proto::span::log_text(log),
        ..Default::default()
    }));
    let kind = match pb::SpanKind::try_from(stored.kind).unwrap_or(pb::SpanKind::Unspecified) {
        pb::SpanKind::Client => span::SpanKind::Client,
        pb::SpanKind::Server => span::SpanKind::Server,
        pb::SpanKind::Producer => span::SpanKind::Producer,
        pb::SpanKind::Consumer => span::SpanKind::Consumer,
        pb::SpanKind::Unspecified => span::SpanKind::Unspecified,
    };
    let otlp_span = Span {
        trace_id: id_bytes(&base.trace_id, 16),
        span_id: id_bytes(&stored.span_id, 8),
        parent_span_id: id_bytes(&stored.parent_span_id, 8),
        name: stored.operation.clone(),
        kind: kind as i32,
        start_time_unix_nano: start,
        end_time_unix_nano: start.saturating_add(u64::try_from(stored.duration).unwrap_or(0)),
        attributes: attributes.into_iter().map(|(key, value)| text(key, value)).collect(),
        events,
        ..Default::default()
    };
    ResourceSpans {
        resource: Some(Resource {
            attributes: vec![text("service.name", tracekeep_proto::span::service_name(stored))],
            ..Default::default()
        }),
        scope_spans: vec![ScopeSpans {
            spans: vec![otlp_span],
            ..Default::default()
        }],
        ..Default::default()
    }
}

#[cfg(test)]
#[path = "otlp_tests.rs"]
mod tests;
