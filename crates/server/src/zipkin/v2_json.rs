//! Zipkin v2 JSON: a list of spans, as `POST /api/v2/spans` receives them.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, SeqAccess, Visitor};

use super::DecodeError;
use super::model::{Annotation, Endpoint, Kind, ZipkinSpan, json_ids, span_time};

/// Decodes a v2 JSON list of spans; any bad span refuses the whole list.
pub fn decode(body: &[u8]) -> Result<Vec<ZipkinSpan>, DecodeError> {
    let raw: IndexedList<RawSpan<'_>> =
        serde_json::from_slice(body).map_err(|error| DecodeError::new(format!("bad JSON: {error}")))?;
    raw.0
        .into_iter()
        .enumerate()
        .map(|(index, span)| span.validate().map_err(|reason| DecodeError::span(index, reason)))
        .collect()
}

/// A JSON list of spans whose decode error names the span it happened in.
pub(super) struct IndexedList<T>(pub(super) Vec<T>);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for IndexedList<T> {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ListVisitor<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for ListVisitor<T> {
            type Value = IndexedList<T>;
            fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                formatter.write_str("a list of spans")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<IndexedList<T>, A::Error> {
                let mut spans = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
                loop {
                    let index = spans.len();
                    match seq.next_element::<T>() {
                        Ok(Some(span)) => spans.push(span),
                        Ok(None) => return Ok(IndexedList(spans)),
                        Err(error) => return Err(de::Error::custom(format_args!("span {index}: {error}"))),
                    }
                }
            }
        }
        deserializer.deserialize_seq(ListVisitor(std::marker::PhantomData))
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawSpan<'a> {
    #[serde(borrow)]
    trace_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    parent_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    kind: Option<Cow<'a, str>>,
    name: Option<String>,
    timestamp: Option<Micros>,
    duration: Option<Micros>,
    local_endpoint: Option<RawEndpoint>,
    remote_endpoint: Option<RawEndpoint>,
    annotations: Option<Vec<RawAnnotation>>,
    tags: Option<BTreeMap<String, TagValue>>,
    debug: Option<bool>,
    shared: Option<bool>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct RawEndpoint {
    service_name: Option<String>,
    ipv4: Option<String>,
    ipv6: Option<String>,
    port: Option<i32>,
}

impl RawEndpoint {
    /// The endpoint, `None` when empty; a port past 65535 is refused and a
    /// negative one means absent, as Zipkin's `Endpoint.Builder.port` has it.
    pub(super) fn into_endpoint(self, field: &str) -> Result<Option<Endpoint>, String> {
        Ok(Endpoint {
            service_name: self.service_name.unwrap_or_default(),
            ipv4: self.ipv4.unwrap_or_default(),
            ipv6: self.ipv6.unwrap_or_default(),
            port: port(field, self.port.unwrap_or_default())?,
        }
        .non_empty())
    }
}

/// A port as Zipkin takes it: past 65535 refused, negative kept as 0 (absent).
pub(super) fn port(field: &str, port: i32) -> Result<i32, String> {
    if port > 0xffff {
        return Err(format!("{field}.port {port} is not a port (0 to 65535)"));
    }
    Ok(port.max(0))
}

/// A JSON time in microseconds, read as Zipkin's reader reads an int64 (any
/// sign: what a negative means is the field's business), and also as a
/// fraction, truncated: OpenTelemetry JS's Zipkin exporter sends
/// sub-microsecond times such as `1733500000123456.789`, which Zipkin refuses.
pub(super) struct Micros(pub(super) i64);

impl<'de> Deserialize<'de> for Micros {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MicrosVisitor;
        impl Visitor<'_> for MicrosVisitor {
            type Value = Micros;
            fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                formatter.write_str("microseconds as a number in int64's range")
            }
            fn visit_i64<E: de::Error>(self, value: i64) -> Result<Micros, E> {
                Ok(Micros(value))
            }
            fn visit_u64<E: de::Error>(self, value: u64) -> Result<Micros, E> {
                i64::try_from(value)
                    .map(Micros)
                    .map_err(|_| E::custom(format_args!("{value} is past int64, the range of Zipkin's times")))
            }
            fn visit_f64<E: de::Error>(self, value: f64) -> Result<Micros, E> {
                // 2^63 as a float: the first value past int64.
                const LIMIT: f64 = 9_223_372_036_854_775_808.0;
                if value.is_finite() && (-LIMIT..LIMIT).contains(&value) {
                    #[allow(clippy::cast_possible_truncation)] // truncation is the point
                    Ok(Micros(value.trunc() as i64))
                } else {
                    Err(E::custom(format_args!(
                        "{value} is past int64, the range of Zipkin's times"
                    )))
                }
            }
        }
        deserializer.deserialize_any(MicrosVisitor)
    }
}

#[derive(Deserialize)]
struct RawAnnotation {
    timestamp: Option<Micros>,
    value: Option<String>,
}

/// A tag value: Zipkin's are strings; numbers and booleans are kept as their text.
pub(super) struct TagValue(pub(super) String);

impl<'de> Deserialize<'de> for TagValue {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match serde_json::Value::deserialize(deserializer)? {
            serde_json::Value::String(text) => Ok(TagValue(text)),
            serde_json::Value::Number(number) => Ok(TagValue(number.to_string())),
            serde_json::Value::Bool(flag) => Ok(TagValue(flag.to_string())),
            other => Err(de::Error::custom(format_args!(
                "a tag value must be a string, not {other}"
            ))),
        }
    }
}

/// An optional endpoint field, validated.
pub(super) fn endpoint(field: &str, raw: Option<RawEndpoint>) -> Result<Option<Endpoint>, String> {
    raw.map_or(Ok(None), |raw| raw.into_endpoint(field))
}

impl RawSpan<'_> {
    fn validate(self) -> Result<ZipkinSpan, String> {
        let (trace_id, id, parent_id) =
            json_ids(self.trace_id.as_deref(), self.id.as_deref(), self.parent_id.as_deref())?;
        let kind = match self.kind.as_deref() {
            None | Some("") => None,
            Some(text) => Some(Kind::parse(text).ok_or_else(|| format!("kind {text:?} is not a Zipkin span kind"))?),
        };
        let annotations = self
            .annotations
            .unwrap_or_default()
            .into_iter()
            .enumerate()
            .map(|(index, annotation)| {
                Ok(Annotation {
                    timestamp: annotation
                        .timestamp
                        .ok_or_else(|| format!("annotation {index} has no timestamp"))?
                        .0,
                    value: annotation
                        .value
                        .ok_or_else(|| format!("annotation {index} has no value"))?,
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        Ok(ZipkinSpan {
            trace_id,
            parent_id,
            id,
            kind,
            name: self.name.unwrap_or_default(),
            timestamp: self.timestamp.map_or(0, |micros| span_time(micros.0)),
            duration: self.duration.map_or(0, |micros| span_time(micros.0)),
            local_endpoint: endpoint("localEndpoint", self.local_endpoint)?,
            remote_endpoint: endpoint("remoteEndpoint", self.remote_endpoint)?,
            annotations,
            tags: self
                .tags
                .unwrap_or_default()
                .into_iter()
                .map(|(key, value)| (key, value.0))
                .collect(),
            debug: self.debug.unwrap_or_default(),
            shared: self.shared.unwrap_or_default(),
        })
    }
}
