//! Zipkin v1 JSON: the list of v1 spans older clients POST to `/api/v1/spans`.

use std::borrow::Cow;

use serde::Deserialize;

use super::DecodeError;
use super::model::{json_ids, span_time};
use super::v1::{V1Annotation, V1BinaryAnnotation, V1Span, V1Value};
use super::v2_json::{IndexedList, Micros, RawEndpoint, endpoint};

/// Decodes a v1 JSON list of spans; any bad span refuses the whole list.
pub fn decode(body: &[u8]) -> Result<Vec<V1Span>, DecodeError> {
    let raw: IndexedList<RawSpan<'_>> =
        serde_json::from_slice(body).map_err(|error| DecodeError::new(format!("bad JSON: {error}")))?;
    raw.0
        .into_iter()
        .enumerate()
        .map(|(index, span)| span.validate().map_err(|reason| DecodeError::span(index, reason)))
        .collect()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawSpan<'a> {
    #[serde(borrow)]
    trace_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    trace_id_high: Option<Cow<'a, str>>,
    name: Option<String>,
    #[serde(borrow)]
    id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    parent_id: Option<Cow<'a, str>>,
    timestamp: Option<Micros>,
    duration: Option<Micros>,
    debug: Option<bool>,
    annotations: Option<Vec<RawAnnotation>>,
    binary_annotations: Option<Vec<RawBinaryAnnotation>>,
}

#[derive(Deserialize)]
struct RawAnnotation {
    timestamp: Option<Micros>,
    value: Option<String>,
    endpoint: Option<RawEndpoint>,
}

#[derive(Deserialize)]
struct RawBinaryAnnotation {
    key: Option<String>,
    value: Option<serde_json::Value>,
    endpoint: Option<RawEndpoint>,
}

impl RawSpan<'_> {
    fn validate(self) -> Result<V1Span, String> {
        // Old clients sent a 128-bit ID's high half separately.
        let trace_id = match (self.trace_id.as_deref(), self.trace_id_high.as_deref()) {
            (Some(low), Some(high)) if !high.is_empty() && low.len() <= 16 => Some(format!("{high:0>16}{low:0>16}")),
            (low, _) => low.map(str::to_owned),
        };
        let (trace_id, id, parent_id) = json_ids(trace_id.as_deref(), self.id.as_deref(), self.parent_id.as_deref())?;
        let annotations = self
            .annotations
            .unwrap_or_default()
            .into_iter()
            .enumerate()
            .map(|(index, annotation)| {
                Ok(V1Annotation {
                    timestamp: annotation
                        .timestamp
                        .ok_or_else(|| format!("annotation {index} has no timestamp"))?
                        .0,
                    value: annotation
                        .value
                        .ok_or_else(|| format!("annotation {index} has no value"))?,
                    endpoint: endpoint(&format!("annotation {index}.endpoint"), annotation.endpoint)?,
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        let binary_annotations = self
            .binary_annotations
            .unwrap_or_default()
            .into_iter()
            .enumerate()
            .map(|(index, binary)| {
                let key = binary
                    .key
                    .ok_or_else(|| format!("binaryAnnotation {index} has no key"))?;
                let value = match binary.value {
                    Some(serde_json::Value::String(text)) => V1Value::Text(text),
                    Some(serde_json::Value::Bool(true)) if matches!(key.as_str(), "ca" | "sa" | "ma") => {
                        V1Value::Address
                    }
                    Some(serde_json::Value::Bool(flag)) => V1Value::Text(flag.to_string()),
                    Some(serde_json::Value::Number(number)) => V1Value::Text(number.to_string()),
                    _ => {
                        return Err(format!(
                            "binaryAnnotation {index} ({key:?}) has no string, number or bool value"
                        ));
                    }
                };
                Ok(V1BinaryAnnotation {
                    key,
                    value,
                    endpoint: endpoint(&format!("binaryAnnotation {index}.endpoint"), binary.endpoint)?,
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        Ok(V1Span {
            trace_id,
            name: self.name.unwrap_or_default(),
            id,
            parent_id,
            annotations,
            binary_annotations,
            debug: self.debug.unwrap_or_default(),
            timestamp: self.timestamp.map_or(0, |micros| span_time(micros.0)),
            duration: self.duration.map_or(0, |micros| span_time(micros.0)),
        })
    }
}
