//! Carrying a [`SpanContext`] across processes.
//!
//! Keys, with a configurable prefix so that headers interoperate with KaiwuDB
//! (`kwdb`) and CockroachDB (`crdb`) nodes:
//! - `<prefix>-tracer-traceid`, `<prefix>-tracer-spanid`: the IDs as
//!   lowercase hex without padding;
//! - `<prefix>-baggage-<key>`: each baggage item.
//!
//! Carriers: `http::HeaderMap` (HTTP headers), `HashMap<String, String>` and
//! `BTreeMap<String, String>` (text maps). Extraction matches keys
//! case-insensitively. A noop context injects nothing; a carrier without
//! tracer keys extracts to the noop context; IDs that do not parse are
//! [`SpanError::CorruptedContext`]; any other carrier type is
//! [`SpanError::UnsupportedCarrier`].

use std::any::Any;
use std::collections::{BTreeMap, HashMap};

use tonic::codegen::http::{HeaderMap, HeaderName, HeaderValue};

use super::{SNOWBALL_KEY, SpanContext, SpanError};

fn keys(prefix: &str) -> (String, String, String) {
    let prefix = prefix.to_ascii_lowercase();
    (
        format!("{prefix}-tracer-traceid"),
        format!("{prefix}-tracer-spanid"),
        format!("{prefix}-baggage-"),
    )
}

/// The (key, value) pairs to write for `context`.
fn pairs(prefix: &str, context: &SpanContext) -> Vec<(String, String)> {
    let (trace_key, span_key, baggage_prefix) = keys(prefix);
    let mut pairs = vec![
        (trace_key, format!("{:x}", context.trace_id)),
        (span_key, format!("{:x}", context.span_id)),
    ];
    pairs.extend(
        context
            .baggage
            .iter()
            .map(|(key, value)| (format!("{baggage_prefix}{key}"), value.clone())),
    );
    pairs
}

pub(super) fn inject(prefix: &str, context: &SpanContext, carrier: &mut dyn Any) -> Result<(), SpanError> {
    if let Some(headers) = carrier.downcast_mut::<HeaderMap>() {
        if context.is_noop() {
            return Ok(());
        }
        for (key, value) in pairs(prefix, context) {
            let name = HeaderName::from_bytes(key.as_bytes()).map_err(|_| SpanError::Unencodable(key.clone()))?;
            let value = HeaderValue::from_str(&value).map_err(|_| SpanError::Unencodable(value.clone()))?;
            headers.insert(name, value);
        }
        return Ok(());
    }
    if let Some(map) = carrier.downcast_mut::<HashMap<String, String>>() {
        if !context.is_noop() {
            map.extend(pairs(prefix, context));
        }
        return Ok(());
    }
    if let Some(map) = carrier.downcast_mut::<BTreeMap<String, String>>() {
        if !context.is_noop() {
            map.extend(pairs(prefix, context));
        }
        return Ok(());
    }
    Err(SpanError::UnsupportedCarrier)
}

fn parse_id(what: &str, value: &str) -> Result<u64, SpanError> {
    u64::from_str_radix(value.trim(), 16)
        .map_err(|_| SpanError::CorruptedContext(format!("{what} {value:?} is not a hexadecimal 64-bit ID")))
}

fn read<'a>(prefix: &str, entries: impl Iterator<Item = (&'a str, &'a str)>) -> Result<SpanContext, SpanError> {
    let (trace_key, span_key, baggage_prefix) = keys(prefix);
    let (mut trace_id, mut span_id) = (None, None);
    let mut baggage = BTreeMap::new();
    for (key, value) in entries {
        let key = key.to_ascii_lowercase();
        if key == trace_key {
            trace_id = Some(parse_id("trace ID", value)?);
        } else if key == span_key {
            span_id = Some(parse_id("span ID", value)?);
        } else if let Some(item) = key.strip_prefix(&baggage_prefix) {
            baggage.insert(item.to_owned(), value.to_owned());
        }
    }
    match (trace_id, span_id) {
        (None, None) if baggage.is_empty() => Ok(SpanContext::noop()),
        (Some(trace_id), Some(span_id)) if trace_id != 0 && span_id != 0 => {
            let recording = baggage
                .get(SNOWBALL_KEY)
                .filter(|value| *value == "1")
                .map(|_| super::RecordingType::Snowball);
            Ok(SpanContext {
                trace_id,
                span_id,
                baggage,
                recording,
            })
        }
        _ => Err(SpanError::CorruptedContext(
            "the carrier needs both a non-zero trace ID and span ID".into(),
        )),
    }
}

pub(super) fn extract(prefix: &str, carrier: &dyn Any) -> Result<SpanContext, SpanError> {
    if let Some(headers) = carrier.downcast_ref::<HeaderMap>() {
        let mut entries = Vec::new();
        for (name, value) in headers {
            let value = value
                .to_str()
                .map_err(|_| SpanError::CorruptedContext(format!("header {name} is not text")))?;
            entries.push((name.as_str(), value));
        }
        return read(prefix, entries.into_iter());
    }
    if let Some(map) = carrier.downcast_ref::<HashMap<String, String>>() {
        return read(prefix, map.iter().map(|(key, value)| (key.as_str(), value.as_str())));
    }
    if let Some(map) = carrier.downcast_ref::<BTreeMap<String, String>>() {
        return read(prefix, map.iter().map(|(key, value)| (key.as_str(), value.as_str())));
    }
    Err(SpanError::UnsupportedCarrier)
}
