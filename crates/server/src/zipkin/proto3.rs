//! Zipkin v2 proto3: `zipkin.proto3.ListOfSpans`, as `POST /api/v2/spans`
//! receives it with `Content-Type: application/x-protobuf`.

use std::net::{Ipv4Addr, Ipv6Addr};

use prost::Message;
use tracekeep_proto::zipkin_proto3 as z;

use super::DecodeError;
use super::model::{Annotation, Endpoint, IdError, Kind, ZipkinSpan, lower_hex, span_time};
use super::v2_json::port;

/// Decodes a `ListOfSpans`; any bad span refuses the whole list.
pub fn decode(body: &[u8]) -> Result<Vec<ZipkinSpan>, DecodeError> {
    let list = z::ListOfSpans::decode(body).map_err(|error| DecodeError::new(format!("bad protobuf: {error}")))?;
    list.spans
        .into_iter()
        .enumerate()
        .map(|(index, span)| convert(span).map_err(|reason| DecodeError::span(index, reason)))
        .collect()
}

/// A binary ID as Zipkin's lowercase hex: `lengths` bytes, not all zero.
/// Whole bytes give 16 or 32 digits, already in Zipkin's normal form.
fn id(field: &str, bytes: &[u8], lengths: &[usize]) -> Result<String, String> {
    if !lengths.contains(&bytes.len()) {
        let expected: Vec<String> = lengths.iter().map(usize::to_string).collect();
        return Err(format!(
            "{field} has {} bytes, not {}",
            bytes.len(),
            expected.join(" or ")
        ));
    }
    if bytes.iter().all(|byte| *byte == 0) {
        return Err(format!("{field} {}", IdError::Zero));
    }
    // A 128-bit ID with a zero upper half is its lower half, as in
    // `normalize_trace_id`.
    let bytes = match bytes.split_at_checked(8) {
        Some((high, low)) if bytes.len() == 16 && high.iter().all(|byte| *byte == 0) => low,
        _ => bytes,
    };
    Ok(lower_hex(bytes))
}

fn endpoint(field: &str, endpoint: Option<z::Endpoint>) -> Result<Option<Endpoint>, String> {
    let Some(endpoint) = endpoint else { return Ok(None) };
    let ipv4 = match endpoint.ipv4.len() {
        0 => String::new(),
        4 => Ipv4Addr::new(endpoint.ipv4[0], endpoint.ipv4[1], endpoint.ipv4[2], endpoint.ipv4[3]).to_string(),
        n => return Err(format!("{field}.ipv4 has {n} bytes, not 4")),
    };
    let ipv6 = match <[u8; 16]>::try_from(endpoint.ipv6.as_slice()) {
        _ if endpoint.ipv6.is_empty() => String::new(),
        Ok(octets) => Ipv6Addr::from(octets).to_string(),
        Err(_) => return Err(format!("{field}.ipv6 has {} bytes, not 16", endpoint.ipv6.len())),
    };
    Ok(Endpoint {
        service_name: endpoint.service_name,
        ipv4,
        ipv6,
        port: port(field, endpoint.port)?,
    }
    .non_empty())
}

/// 64 bits as Java's `long` reads them.
fn as_signed(bits: u64) -> i64 {
    i64::from_be_bytes(bits.to_be_bytes())
}

fn convert(span: z::Span) -> Result<ZipkinSpan, String> {
    let trace_id = id("traceId", &span.trace_id, &[8, 16])?;
    let span_id = id("id", &span.id, &[8])?;
    let parent_id = if span.parent_id.is_empty() || span.parent_id.iter().all(|byte| *byte == 0) {
        None
    } else {
        Some(id("parentId", &span.parent_id, &[8])?)
    };
    let kind = match z::span::Kind::try_from(span.kind) {
        Ok(z::span::Kind::SpanKindUnspecified) => None,
        Ok(z::span::Kind::Client) => Some(Kind::Client),
        Ok(z::span::Kind::Server) => Some(Kind::Server),
        Ok(z::span::Kind::Producer) => Some(Kind::Producer),
        Ok(z::span::Kind::Consumer) => Some(Kind::Consumer),
        Err(_) => return Err(format!("kind {} is not a Zipkin span kind", span.kind)),
    };
    Ok(ZipkinSpan {
        trace_id,
        parent_id,
        id: span_id,
        kind,
        name: span.name,
        // Zipkin reads these 64 bits as a signed long (a value past int64's
        // maximum is negative, so absent); annotations keep theirs as sent.
        timestamp: span_time(as_signed(span.timestamp)),
        duration: span_time(as_signed(span.duration)),
        local_endpoint: endpoint("localEndpoint", span.local_endpoint)?,
        remote_endpoint: endpoint("remoteEndpoint", span.remote_endpoint)?,
        annotations: span
            .annotations
            .into_iter()
            .map(|annotation| Annotation {
                timestamp: as_signed(annotation.timestamp),
                value: annotation.value,
            })
            .collect(),
        tags: span.tags,
        debug: span.debug,
        shared: span.shared,
    })
}
