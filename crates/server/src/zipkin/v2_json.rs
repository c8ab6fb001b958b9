//! Zipkin v2 JSON: a list of spans, as `POST /api/v2/spans` receives them.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, SeqAccess, Visitor};

use super::DecodeError;
use super::model::{Annotation, Endpoint, Kind, ZipkinSpan, json_ids};

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
    timestamp: Option<u64>,
    duration: Option<u64>,
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
    pub(super) fn into_endpoint(self) -> Option<Endpoint> {
        Endpoint {
            service_name: self.service_name.unwrap_or_default(),
            ipv4: self.ipv4.unwrap_or_default(),
            ipv6: self.ipv6.unwrap_or_default(),
            port: self.port.unwrap_or_default(),
        }
        .non_empty()
    }
}

#[derive(Deserialize)]
struct RawAnnotation {
    timestamp: Option<u64>,
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
                        .ok_or_else(|| format!("annotation {index} has no timestamp"))?,
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
            timestamp: self.timestamp.unwrap_or_default(),
            duration: self.duration.unwrap_or_default(),
            local_endpoint: self.local_endpoint.and_then(RawEndpoint::into_endpoint),
            remote_endpoint: self.remote_endpoint.and_then(RawEndpoint::into_endpoint),
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
