//! [`ZipkinSpan`]: Zipkin's v2 span model, validated, and its mapping to the
//! store's `pb.Span` and back.
//!
//! Every decoder (v2 JSON, proto3, v1 Thrift, v1 JSON) produces this type;
//! every query answer is rendered from it. Storage keeps what the client sent
//! (names keep their case, endpoints their text); rendering applies Zipkin's
//! normalisation (lowercase service and span names), as a Zipkin server does.

use std::collections::BTreeMap;

use serde::Serialize;
use tracekeep_proto::{pb, span};

pub use tracekeep_proto::span::UNKNOWN_SERVICE;

/// Zipkin's span kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Kind {
    /// The client side of an RPC.
    Client,
    /// The server side of an RPC.
    Server,
    /// Sending a message to a broker.
    Producer,
    /// Receiving a message from a broker.
    Consumer,
}

impl Kind {
    /// The kind named by Zipkin's JSON text, if any.
    pub fn parse(text: &str) -> Option<Kind> {
        match text {
            "CLIENT" => Some(Kind::Client),
            "SERVER" => Some(Kind::Server),
            "PRODUCER" => Some(Kind::Producer),
            "CONSUMER" => Some(Kind::Consumer),
            _ => None,
        }
    }

    fn code(kind: Option<Kind>) -> i32 {
        match kind {
            None => pb::SpanKind::Unspecified as i32,
            Some(Kind::Client) => pb::SpanKind::Client as i32,
            Some(Kind::Server) => pb::SpanKind::Server as i32,
            Some(Kind::Producer) => pb::SpanKind::Producer as i32,
            Some(Kind::Consumer) => pb::SpanKind::Consumer as i32,
        }
    }

    fn from_code(code: i32) -> Option<Kind> {
        match pb::SpanKind::try_from(code).ok()? {
            pb::SpanKind::Unspecified => None,
            pb::SpanKind::Client => Some(Kind::Client),
            pb::SpanKind::Server => Some(Kind::Server),
            pb::SpanKind::Producer => Some(Kind::Producer),
            pb::SpanKind::Consumer => Some(Kind::Consumer),
        }
    }
}

/// A network endpoint; empty strings and port 0 mean absent.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Endpoint {
    /// The service's name.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub service_name: String,
    /// IPv4 address text.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub ipv4: String,
    /// IPv6 address text.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub ipv6: String,
    /// Port, 0 when absent.
    #[serde(skip_serializing_if = "is_zero_port")]
    pub port: i32,
}

fn is_zero_port(port: &i32) -> bool {
    *port == 0
}

impl Endpoint {
    /// True when nothing is set (Zipkin then omits the endpoint).
    pub fn is_empty(&self) -> bool {
        self.service_name.is_empty() && self.ipv4.is_empty() && self.ipv6.is_empty() && self.port == 0
    }

    /// `None` for an empty endpoint.
    pub fn non_empty(self) -> Option<Endpoint> {
        (!self.is_empty()).then_some(self)
    }

    /// Fills what `self` lacks from `other` (Zipkin's endpoint merge).
    fn merge(&mut self, other: &Endpoint) {
        if self.service_name.is_empty() {
            self.service_name.clone_from(&other.service_name);
        }
        if self.ipv4.is_empty() {
            self.ipv4.clone_from(&other.ipv4);
        }
        if self.ipv6.is_empty() {
            self.ipv6.clone_from(&other.ipv6);
        }
        if self.port == 0 {
            self.port = other.port;
        }
    }

    fn to_pb(&self) -> pb::Endpoint {
        pb::Endpoint {
            service_name: self.service_name.clone(),
            ipv4: self.ipv4.clone(),
            ipv6: self.ipv6.clone(),
            port: self.port,
        }
    }

    fn from_pb(endpoint: &pb::Endpoint) -> Endpoint {
        Endpoint {
            service_name: endpoint.service_name.clone(),
            ipv4: endpoint.ipv4.clone(),
            ipv6: endpoint.ipv6.clone(),
            port: endpoint.port,
        }
    }
}

/// A timestamped event of a span.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Annotation {
    /// Epoch microseconds, as sent: Zipkin keeps any int64 here, negative too.
    pub timestamp: i64,
    /// What happened.
    pub value: String,
}

/// One Zipkin v2 span, validated: IDs are lowercase hex of the right length.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ZipkinSpan {
    /// 16 or 32 lowercase hex digits.
    pub trace_id: String,
    /// 16 lowercase hex digits; `None` for a root span.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_id: Option<String>,
    /// 16 lowercase hex digits.
    pub id: String,
    /// The span's kind, if known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<Kind>,
    /// The operation's name; empty when absent.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Epoch microseconds of the start; 0 when absent. At most `i64::MAX`:
    /// Zipkin's times are int64, a negative one kept as 0 ([`span_time`]).
    #[serde(skip_serializing_if = "is_zero")]
    pub timestamp: u64,
    /// Microseconds; 0 when absent; at most `i64::MAX`, as `timestamp`.
    #[serde(skip_serializing_if = "is_zero")]
    pub duration: u64,
    /// The host that recorded the span.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub local_endpoint: Option<Endpoint>,
    /// The other side of an RPC or messaging span.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remote_endpoint: Option<Endpoint>,
    /// Timestamped events, in time order when rendered.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub annotations: Vec<Annotation>,
    /// Tags, sorted by key.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    /// Sampling override.
    #[serde(skip_serializing_if = "is_false")]
    pub debug: bool,
    /// Part of a span started by another tracer (a server sharing its client's ID).
    #[serde(skip_serializing_if = "is_false")]
    pub shared: bool,
}

fn is_zero(value: &u64) -> bool {
    *value == 0
}

fn is_false(value: &bool) -> bool {
    !*value
}

/// Why an ID is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// Empty, or only zeros.
    #[error("is zero or empty")]
    Zero,
    /// Longer than the ID allows.
    #[error("is longer than {0} hex digits")]
    TooLong(usize),
    /// Something other than hex digits.
    #[error("is not hex")]
    NotHex,
}

/// Zipkin's trace ID normalisation: 1 to 32 hex digits, lowercased, padded
/// with leading zeros to 16 (64-bit) or 32 (128-bit) digits; 32 digits whose
/// first 16 are zeros become the last 16.
pub fn normalize_trace_id(text: &str) -> Result<String, IdError> {
    normalize_hex(text, 32)
}

/// A span ID: 1 to 16 hex digits, lowercased, padded to 16.
pub fn normalize_span_id(text: &str) -> Result<String, IdError> {
    normalize_hex(text, 16)
}

fn normalize_hex(text: &str, max: usize) -> Result<String, IdError> {
    if text.len() > max {
        return Err(IdError::TooLong(max));
    }
    if !text.bytes().all(|byte| byte.is_ascii_hexdigit()) {
        return Err(IdError::NotHex);
    }
    if text.bytes().all(|byte| byte == b'0') {
        return Err(IdError::Zero);
    }
    // Zipkin keeps a 128-bit ID whose upper half is zero as its 64-bit
    // lower half (`Span.normalizeTraceId`), so both spellings find the trace.
    if max == 32 && text.len() == 32 && text.bytes().take(16).all(|byte| byte == b'0') {
        return Ok(text[16..].to_ascii_lowercase());
    }
    let width = if text.len() <= 16 { 16 } else { 32 };
    let mut id = String::with_capacity(width);
    id.extend(std::iter::repeat_n('0', width - text.len()));
    id.extend(text.chars().map(|c| c.to_ascii_lowercase()));
    Ok(id)
}

/// `bytes` as lowercase hex, two digits a byte (binary IDs and Thrift's
/// bytes-typed values).
pub fn lower_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(bytes.len() * 2);
    for &byte in bytes {
        text.push(char::from(DIGITS[usize::from(byte >> 4)]));
        text.push(char::from(DIGITS[usize::from(byte & 0xf)]));
    }
    text
}

/// Zipkin's JSON ID fields, named for error messages: `traceId` and `id` are
/// required; an absent, empty or all-zero `parentId` means a root span.
pub fn json_ids(
    trace_id: Option<&str>,
    id: Option<&str>,
    parent_id: Option<&str>,
) -> Result<(String, String, Option<String>), String> {
    let trace_id = trace_id.ok_or("traceId is missing")?;
    let trace_id = normalize_trace_id(trace_id).map_err(|error| format!("traceId {trace_id:?} {error}"))?;
    let id = id.ok_or("id is missing")?;
    let id = normalize_span_id(id).map_err(|error| format!("id {id:?} {error}"))?;
    let parent_id = match parent_id {
        None | Some("") => None,
        Some(parent) if parent.bytes().all(|byte| byte == b'0') => None,
        Some(parent) => Some(normalize_span_id(parent).map_err(|error| format!("parentId {parent:?} {error}"))?),
    };
    Ok((trace_id, id, parent_id))
}

/// A span's timestamp or duration as Zipkin's `Span.Builder` keeps it: any
/// int64 of microseconds, a negative one as 0 (absent).
pub fn span_time(micros: i64) -> u64 {
    u64::try_from(micros).unwrap_or(0)
}

/// Microseconds in the store's nanoseconds: the nanoseconds and 0 when they
/// fit an int64 (1677 to 2262), else the nearest nanoseconds that do and the
/// microseconds as sent, which the span keeps beside them.
fn store_micros(micros: i64) -> (i64, i64) {
    match micros.checked_mul(1000) {
        Some(nanos) => (nanos, 0),
        None if micros < 0 => (i64::MIN, micros),
        None => (i64::MAX, micros),
    }
}

/// A span's timestamp or duration back in microseconds: the microseconds
/// kept beside saturated nanoseconds, else the nanoseconds converted by `convert`.
fn stored_micros(nanos: i64, kept: i64, convert: fn(i64) -> u64) -> u64 {
    if kept != 0 { span_time(kept) } else { convert(nanos) }
}

/// A duration in the store's nanoseconds as Zipkin's microseconds, rounded
/// up, so a positive duration under one microsecond stays positive (Zipkin
/// asks for at least 1).
fn duration_micros(nanos: i64) -> u64 {
    match u64::try_from(nanos) {
        Ok(0) | Err(_) => 0,
        Ok(nanos) => nanos.div_ceil(1000).max(1),
    }
}

/// A point in time in the store's nanoseconds as Zipkin's epoch
/// microseconds, truncated, as OpenTelemetry's Zipkin exporters convert.
fn timestamp_micros(nanos: i64) -> u64 {
    u64::try_from(nanos).map_or(0, |nanos| nanos / 1000)
}

impl ZipkinSpan {
    /// The service that recorded the span, as sent (case kept).
    pub fn local_service(&self) -> Option<&str> {
        self.local_endpoint
            .as_ref()
            .map(|endpoint| endpoint.service_name.as_str())
            .filter(|name| !name.is_empty())
    }

    /// The remote side's service, as sent.
    pub fn remote_service(&self) -> Option<&str> {
        self.remote_endpoint
            .as_ref()
            .map(|endpoint| endpoint.service_name.as_str())
            .filter(|name| !name.is_empty())
    }

    /// The span as the store keeps it (taken apart: ingest keeps no copy).
    ///
    /// Marked `fromZipkin`: readers show its endpoints as sent (none when it
    /// had none) and index no service for a span without a local one, as
    /// Zipkin does.
    pub fn into_pb(self) -> pb::Span {
        let micros = |value: u64| i64::try_from(value).unwrap_or(i64::MAX);
        let (tso, zipkin_timestamp) = store_micros(micros(self.timestamp));
        let (duration, zipkin_duration) = store_micros(micros(self.duration));
        let annotations = self
            .annotations
            .into_iter()
            .map(|annotation| {
                let (time, zipkin_time) = store_micros(annotation.timestamp);
                pb::SpanAnnotation {
                    time,
                    value: annotation.value,
                    zipkin_time,
                }
            })
            .collect();
        pb::Span {
            base: Some(pb::BaseEvent {
                trace_id: self.trace_id,
                tso,
                r#type: pb::TraceType::SpanEvent as i32,
                ..Default::default()
            }),
            span_id: self.id,
            parent_span_id: self.parent_id.unwrap_or_default(),
            operation: self.name,
            duration,
            tags: self.tags,
            kind: Kind::code(self.kind),
            local_endpoint: self.local_endpoint.as_ref().map(Endpoint::to_pb),
            remote_endpoint: self.remote_endpoint.as_ref().map(Endpoint::to_pb),
            annotations,
            debug: self.debug,
            shared: self.shared,
            zipkin_timestamp,
            zipkin_duration,
            from_zipkin: true,
            ..Default::default()
        }
    }

    /// A stored span as Zipkin shows it.
    ///
    /// Spans of the span tracer (`UploadSpans`) carry no endpoint: their service is
    /// their `service.name` tag, or [`UNKNOWN_SERVICE`]. Their logs become
    /// annotations (`key=value` pairs joined by spaces) and their baggage is not shown.
    /// A span that came through Zipkin's API shows its endpoints as sent.
    /// Names are lowercased, as Zipkin normalises them.
    pub fn from_pb(span: &pb::Span) -> ZipkinSpan {
        let base = span.base.clone().unwrap_or_default();
        let mut local_endpoint = span.local_endpoint.as_ref().map(Endpoint::from_pb);
        if !span.from_zipkin {
            local_endpoint.get_or_insert_with(Endpoint::default).service_name = span::service_name(span).to_owned();
        }
        let annotation_micros = |time: i64, kept: i64| if kept != 0 { kept } else { time / 1000 };
        let mut annotations: Vec<Annotation> = span
            .annotations
            .iter()
            .map(|annotation| Annotation {
                timestamp: annotation_micros(annotation.time, annotation.zipkin_time),
                value: annotation.value.clone(),
            })
            .collect();
        annotations.extend(span.logs.iter().map(|log| Annotation {
            timestamp: log.time / 1000,
            value: span::log_text(log),
        }));
        let mut zipkin = ZipkinSpan {
            trace_id: base.trace_id,
            parent_id: Some(span.parent_span_id.clone()).filter(|id| !id.is_empty()),
            id: span.span_id.clone(),
            kind: Kind::from_code(span.kind),
            name: span.operation.clone(),
            timestamp: stored_micros(base.tso, span.zipkin_timestamp, timestamp_micros),
            duration: stored_micros(span.duration, span.zipkin_duration, duration_micros),
            local_endpoint,
            remote_endpoint: span.remote_endpoint.as_ref().map(Endpoint::from_pb),
            annotations,
            tags: span.tags.clone(),
            debug: span.debug,
            shared: span.shared,
        };
        zipkin.normalize_for_display();
        zipkin
    }

    /// Zipkin's display normalisation: lowercase names, empty endpoints
    /// dropped, annotations in time order without duplicates.
    pub fn normalize_for_display(&mut self) {
        self.name = self.name.to_lowercase();
        for endpoint in [&mut self.local_endpoint, &mut self.remote_endpoint] {
            if let Some(inner) = endpoint {
                inner.service_name = inner.service_name.to_lowercase();
            }
            if endpoint.as_ref().is_some_and(Endpoint::is_empty) {
                *endpoint = None;
            }
        }
        self.annotations.sort();
        self.annotations.dedup();
    }

    /// Fills what `self` lacks from `other`, which has the same IDs (Zipkin's
    /// `Span.Builder.merge`): the first name, timestamp and duration win,
    /// endpoints fill each other's gaps, annotations and tags are combined.
    pub fn merge(&mut self, other: &ZipkinSpan) {
        if self.parent_id.is_none() {
            self.parent_id.clone_from(&other.parent_id);
        }
        if self.kind.is_none() {
            self.kind = other.kind;
        }
        if self.name.is_empty() {
            self.name.clone_from(&other.name);
        }
        if self.timestamp == 0 {
            self.timestamp = other.timestamp;
        }
        if self.duration == 0 {
            self.duration = other.duration;
        }
        for (mine, theirs) in [
            (&mut self.local_endpoint, &other.local_endpoint),
            (&mut self.remote_endpoint, &other.remote_endpoint),
        ] {
            match (mine.as_mut(), theirs) {
                (Some(mine), Some(theirs)) => mine.merge(theirs),
                (None, Some(theirs)) => *mine = Some(theirs.clone()),
                _ => {}
            }
        }
        self.annotations.extend(other.annotations.iter().cloned());
        self.annotations.sort();
        self.annotations.dedup();
        for (key, value) in &other.tags {
            self.tags.insert(key.clone(), value.clone());
        }
        self.debug |= other.debug;
        self.shared |= other.shared;
    }
}
