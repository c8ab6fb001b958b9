//! Carrying a [`SpanContext`] across processes.
//!
//! Keys, with a configurable prefix so that headers interoperate with KaiwuDB
//! (`kwdb`) and CockroachDB (`crdb`) nodes:
//! - `<prefix>-tracer-traceid`, `<prefix>-tracer-spanid`: the IDs as
//!   lowercase hex without padding;
//! - `<prefix>-baggage-<key>`: each baggage item.
//!
//! Carriers implement [`Injector`] (write) and [`Extractor`] (read): text maps
//! (`HashMap<String, String>`, `BTreeMap<String, String>`), HTTP headers
//! (`http::HeaderMap`) and gRPC metadata (`tonic::metadata::MetadataMap`). A
//! carrier of another type is a compile error.
//!
//! Extraction follows Go's tracer: keys match case-insensitively and unknown
//! keys are ignored; a carrier without a trace or span ID (baggage alone
//! included) gives the noop context, not an error; an ID that is present but
//! does not parse is [`SpanError::CorruptedContext`]; a value that is not text
//! (a non-ASCII header) matters only if it is one of the tracer's own keys.

use std::collections::{BTreeMap, HashMap};

use tonic::codegen::http::{HeaderMap, HeaderName, HeaderValue};
use tonic::metadata::{KeyAndValueRef, MetadataKey, MetadataMap, MetadataValue};

use super::{RecordingType, SNOWBALL_KEY, SpanContext, SpanError};

/// A carrier the tracer can write a context into.
pub trait Injector {
    /// Sets `key` (lowercase ASCII) to `value`.
    fn set(&mut self, key: &str, value: &str) -> Result<(), SpanError>;
}

/// A carrier the tracer can read a context from.
pub trait Extractor {
    /// Calls `visit` with every key and its value; `None` for a value that is
    /// not text.
    fn for_each(&self, visit: &mut dyn FnMut(&str, Option<&str>));
}

/// A string-to-string map as a carrier: every key and value is text.
macro_rules! string_map_carrier {
    ($($map:ident),*) => {$(
        impl Injector for $map<String, String> {
            fn set(&mut self, key: &str, value: &str) -> Result<(), SpanError> {
                self.insert(key.to_owned(), value.to_owned());
                Ok(())
            }
        }

        impl Extractor for $map<String, String> {
            fn for_each(&self, visit: &mut dyn FnMut(&str, Option<&str>)) {
                for (key, value) in self {
                    visit(key, Some(value));
                }
            }
        }
    )*};
}

string_map_carrier!(HashMap, BTreeMap);

impl Injector for HeaderMap {
    fn set(&mut self, key: &str, value: &str) -> Result<(), SpanError> {
        let name = HeaderName::from_bytes(key.as_bytes()).map_err(|_| SpanError::Unencodable(key.to_owned()))?;
        let value = HeaderValue::from_str(value).map_err(|_| SpanError::Unencodable(value.to_owned()))?;
        self.insert(name, value);
        Ok(())
    }
}

impl Extractor for HeaderMap {
    fn for_each(&self, visit: &mut dyn FnMut(&str, Option<&str>)) {
        for (name, value) in self {
            visit(name.as_str(), value.to_str().ok());
        }
    }
}

impl Injector for MetadataMap {
    fn set(&mut self, key: &str, value: &str) -> Result<(), SpanError> {
        let key = MetadataKey::from_bytes(key.as_bytes()).map_err(|_| SpanError::Unencodable(key.to_owned()))?;
        let value = MetadataValue::try_from(value).map_err(|_| SpanError::Unencodable(value.to_owned()))?;
        self.insert(key, value);
        Ok(())
    }
}

impl Extractor for MetadataMap {
    fn for_each(&self, visit: &mut dyn FnMut(&str, Option<&str>)) {
        for entry in self.iter() {
            match entry {
                KeyAndValueRef::Ascii(key, value) => visit(key.as_str(), value.to_str().ok()),
                // Binary metadata (`-bin` keys) never holds the tracer's keys.
                KeyAndValueRef::Binary(key, _) => visit(key.as_str(), None),
            }
        }
    }
}

fn keys(prefix: &str) -> (String, String, String) {
    let prefix = prefix.to_ascii_lowercase();
    (
        format!("{prefix}-tracer-traceid"),
        format!("{prefix}-tracer-spanid"),
        format!("{prefix}-baggage-"),
    )
}

/// Writes `context` into `carrier`; a noop context writes nothing.
pub(super) fn inject(prefix: &str, context: &SpanContext, carrier: &mut impl Injector) -> Result<(), SpanError> {
    if context.is_noop() {
        return Ok(());
    }
    let (trace_key, span_key, baggage_prefix) = keys(prefix);
    carrier.set(&trace_key, &format!("{:x}", context.trace_id))?;
    carrier.set(&span_key, &format!("{:x}", context.span_id))?;
    for (key, value) in &context.baggage {
        carrier.set(&format!("{baggage_prefix}{}", key.to_ascii_lowercase()), value)?;
    }
    Ok(())
}

/// The shadow's part of an injected context, as CockroachDB's tracer writes
/// it: `<prefix>-tracer-shadowtype: zipkin`, then the Zipkin span's context in
/// B3 headers (`x-b3-traceid`, `x-b3-spanid`, `x-b3-sampled`). The shadow
/// spans carry the tracer's own IDs, so B3 and `<prefix>-tracer-*` name the
/// same trace and span.
pub(super) fn inject_zipkin(prefix: &str, context: &SpanContext, carrier: &mut impl Injector) -> Result<(), SpanError> {
    if context.is_noop() {
        return Ok(());
    }
    carrier.set(&format!("{}-tracer-shadowtype", prefix.to_ascii_lowercase()), "zipkin")?;
    carrier.set("x-b3-traceid", &format!("{:016x}", context.trace_id))?;
    carrier.set("x-b3-spanid", &format!("{:016x}", context.span_id))?;
    carrier.set("x-b3-sampled", "1")
}

fn parse_id(what: &str, value: Option<&str>) -> Result<u64, SpanError> {
    let value = value.ok_or_else(|| SpanError::CorruptedContext(format!("the {what} is not text")))?;
    u64::from_str_radix(value.trim(), 16)
        .map_err(|_| SpanError::CorruptedContext(format!("{what} {value:?} is not a hexadecimal 64-bit ID")))
}

/// Reads a context from `carrier` (the rules are in the module's comment).
pub(super) fn extract(prefix: &str, carrier: &impl Extractor) -> Result<SpanContext, SpanError> {
    let (trace_key, span_key, baggage_prefix) = keys(prefix);
    let (mut trace_id, mut span_id) = (None, None);
    let mut baggage = BTreeMap::new();
    let mut failure = None;
    carrier.for_each(&mut |key, value| {
        if failure.is_some() {
            return;
        }
        let key = key.to_ascii_lowercase();
        let parsed = if key == trace_key {
            parse_id("trace ID", value).map(|id| trace_id = Some(id))
        } else if key == span_key {
            parse_id("span ID", value).map(|id| span_id = Some(id))
        } else if let Some(item) = key.strip_prefix(&baggage_prefix) {
            match value {
                Some(value) => {
                    baggage.insert(item.to_owned(), value.to_owned());
                    Ok(())
                }
                None => Err(SpanError::CorruptedContext(format!(
                    "baggage item {item:?} is not text"
                ))),
            }
        } else {
            Ok(())
        };
        if let Err(error) = parsed {
            failure = Some(error);
        }
    });
    if let Some(error) = failure {
        return Err(error);
    }
    match (trace_id, span_id) {
        // No IDs: nothing to continue, whatever baggage came along (Go's
        // tracer answers a noop context too).
        (None | Some(0), None | Some(0)) => Ok(SpanContext::noop()),
        (Some(trace_id), Some(span_id)) if trace_id != 0 && span_id != 0 => {
            let recording = baggage
                .get(SNOWBALL_KEY)
                .filter(|value| *value == "1")
                .map(|_| RecordingType::Snowball);
            Ok(SpanContext {
                trace_id,
                span_id,
                baggage,
                recording,
            })
        }
        _ => Err(SpanError::CorruptedContext(
            "the carrier has one of the trace and span IDs but not the other".into(),
        )),
    }
}
