//! Zipkin v1 Thrift: a TBinaryProtocol `list<Span>` of `zipkinCore.thrift`, as
//! zipkin-go-opentracing's HTTP collector (KaiwuDB's shadow tracer) POSTs it
//! to `/api/v1/spans` with `Content-Type: application/x-thrift`.
//!
//! A hand-written reader: the format is small and fixed, and every length is
//! checked against the bytes left, so hostile input gives an error, never a
//! panic or a huge allocation.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::DecodeError;
use super::model::{Endpoint, lower_hex, normalize_span_id, normalize_trace_id};
use super::v1::{V1Annotation, V1BinaryAnnotation, V1Span, V1Value};

const STOP: u8 = 0;
const BOOL: u8 = 2;
const BYTE: u8 = 3;
const DOUBLE: u8 = 4;
const I16: u8 = 6;
const I32: u8 = 8;
const I64: u8 = 10;
const STRING: u8 = 11;
const STRUCT: u8 = 12;
const MAP: u8 = 13;
const SET: u8 = 14;
const LIST: u8 = 15;

/// How deep unknown nested values may go before the input is refused.
const MAX_DEPTH: u32 = 64;

/// `AnnotationType` of a binary annotation.
const ANNOTATION_BOOL: i32 = 0;
const ANNOTATION_BYTES: i32 = 1;
const ANNOTATION_I16: i32 = 2;
const ANNOTATION_I32: i32 = 3;
const ANNOTATION_I64: i32 = 4;
const ANNOTATION_DOUBLE: i32 = 5;
const ANNOTATION_STRING: i32 = 6;

/// Decodes a `list<Span>`; any bad span refuses the whole list.
pub fn decode(body: &[u8]) -> Result<Vec<V1Span>, DecodeError> {
    let mut reader = Reader { bytes: body, at: 0 };
    let (element, count) = reader
        .list_header()
        .map_err(|reason| DecodeError::new(format!("bad Thrift: {reason}")))?;
    if count > 0 && element != STRUCT {
        return Err(DecodeError::new(format!(
            "bad Thrift: a list of type {element}, not of spans (struct, 12)"
        )));
    }
    let mut spans = Vec::with_capacity(count);
    for index in 0..count {
        let span = reader
            .span()
            .map_err(|reason| DecodeError::span(index, format!("bad Thrift: {reason}")))?;
        spans.push(span);
    }
    if reader.at != body.len() {
        return Err(DecodeError::new(format!(
            "bad Thrift: {} bytes after the span list",
            body.len() - reader.at
        )));
    }
    Ok(spans)
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

/// The fields of a Thrift span as read, before validation.
#[derive(Default)]
struct RawSpan {
    trace_id: Option<i64>,
    trace_id_high: i64,
    name: String,
    id: Option<i64>,
    parent_id: Option<i64>,
    annotations: Vec<V1Annotation>,
    binary_annotations: Vec<V1BinaryAnnotation>,
    debug: bool,
    timestamp: i64,
    duration: i64,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self
            .at
            .checked_add(n)
            .filter(|end| *end <= self.bytes.len())
            .ok_or_else(|| format!("truncated at byte {} (needs {n} more)", self.at))?;
        let slice = &self.bytes[self.at..end];
        self.at = end;
        Ok(slice)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], String> {
        let slice = self.take(N)?;
        <[u8; N]>::try_from(slice).map_err(|_| "internal: short read".to_owned())
    }

    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.array::<1>()?[0])
    }

    fn i16(&mut self) -> Result<i16, String> {
        Ok(i16::from_be_bytes(self.array()?))
    }

    fn i32(&mut self) -> Result<i32, String> {
        Ok(i32::from_be_bytes(self.array()?))
    }

    fn i64(&mut self) -> Result<i64, String> {
        Ok(i64::from_be_bytes(self.array()?))
    }

    fn bool(&mut self) -> Result<bool, String> {
        Ok(self.u8()? != 0)
    }

    /// A length-prefixed value, its length checked against what is left.
    fn binary(&mut self) -> Result<&'a [u8], String> {
        let at = self.at;
        let length = self.i32()?;
        let length = usize::try_from(length).map_err(|_| format!("negative length {length} at byte {at}"))?;
        self.take(length)
    }

    fn string(&mut self) -> Result<String, String> {
        let at = self.at;
        let bytes = self.binary()?;
        String::from_utf8(bytes.to_vec()).map_err(|_| format!("a string at byte {at} is not UTF-8"))
    }

    /// A count of elements, each at least `min_size` bytes, checked against what is left.
    fn count(&mut self, min_size: usize) -> Result<usize, String> {
        let at = self.at;
        let count = self.i32()?;
        let count = usize::try_from(count).map_err(|_| format!("negative size {count} at byte {at}"))?;
        if count.saturating_mul(min_size) > self.bytes.len() - self.at {
            return Err(format!("size {count} at byte {at} is larger than the bytes left"));
        }
        Ok(count)
    }

    fn list_header(&mut self) -> Result<(u8, usize), String> {
        let element = self.u8()?;
        let count = self.count(min_size(element))?;
        Ok((element, count))
    }

    /// The next field's type and ID, or `None` at the struct's end.
    fn field(&mut self) -> Result<Option<(u8, i16)>, String> {
        let kind = self.u8()?;
        if kind == STOP {
            return Ok(None);
        }
        Ok(Some((kind, self.i16()?)))
    }

    /// Checks that a field has the expected type, or fails naming it.
    fn field_type(&self, kind: u8, expected: u8, name: &str) -> Result<(), String> {
        if kind == expected {
            Ok(())
        } else {
            Err(format!(
                "field {name} has type {kind}, not {expected} (before byte {})",
                self.at
            ))
        }
    }

    fn skip(&mut self, kind: u8, depth: u32) -> Result<(), String> {
        if depth > MAX_DEPTH {
            return Err(format!("nested deeper than {MAX_DEPTH} at byte {}", self.at));
        }
        match kind {
            BOOL | BYTE => drop(self.take(1)?),
            I16 => drop(self.take(2)?),
            I32 => drop(self.take(4)?),
            DOUBLE | I64 => drop(self.take(8)?),
            STRING => drop(self.binary()?),
            STRUCT => {
                while let Some((kind, _)) = self.field()? {
                    self.skip(kind, depth + 1)?;
                }
            }
            MAP => {
                let key = self.u8()?;
                let value = self.u8()?;
                let count = self.count(min_size(key) + min_size(value))?;
                for _ in 0..count {
                    self.skip(key, depth + 1)?;
                    self.skip(value, depth + 1)?;
                }
            }
            SET | LIST => {
                let (element, count) = self.list_header()?;
                for _ in 0..count {
                    self.skip(element, depth + 1)?;
                }
            }
            other => return Err(format!("unknown type {other} before byte {}", self.at)),
        }
        Ok(())
    }

    fn endpoint(&mut self) -> Result<Endpoint, String> {
        let mut ipv4 = 0i32;
        let mut port = 0i16;
        let mut service_name = String::new();
        let mut ipv6 = String::new();
        while let Some((kind, id)) = self.field()? {
            match id {
                1 => {
                    self.field_type(kind, I32, "endpoint.ipv4")?;
                    ipv4 = self.i32()?;
                }
                2 => {
                    self.field_type(kind, I16, "endpoint.port")?;
                    port = self.i16()?;
                }
                3 => {
                    self.field_type(kind, STRING, "endpoint.service_name")?;
                    service_name = self.string()?;
                }
                4 => {
                    self.field_type(kind, STRING, "endpoint.ipv6")?;
                    let bytes = self.binary()?;
                    ipv6 = match <[u8; 16]>::try_from(bytes) {
                        Ok(octets) => Ipv6Addr::from(octets).to_string(),
                        Err(_) if bytes.is_empty() => String::new(),
                        Err(_) => return Err(format!("endpoint.ipv6 has {} bytes, not 16", bytes.len())),
                    };
                }
                _ => self.skip(kind, 1)?,
            }
        }
        Ok(Endpoint {
            service_name,
            // 0 is Thrift's "no address"; the i32 holds the address's four bytes.
            ipv4: if ipv4 == 0 {
                String::new()
            } else {
                Ipv4Addr::from(ipv4.to_be_bytes()).to_string()
            },
            ipv6,
            // Thrift has no unsigned types: ports above 32767 arrive negative.
            port: i32::from(u16::from_be_bytes(port.to_be_bytes())),
        })
    }

    fn annotation(&mut self) -> Result<V1Annotation, String> {
        let mut annotation = V1Annotation {
            timestamp: 0,
            value: String::new(),
            endpoint: None,
        };
        while let Some((kind, id)) = self.field()? {
            match id {
                1 => {
                    self.field_type(kind, I64, "annotation.timestamp")?;
                    annotation.timestamp = self.i64()?;
                }
                2 => {
                    self.field_type(kind, STRING, "annotation.value")?;
                    annotation.value = self.string()?;
                }
                3 => {
                    self.field_type(kind, STRUCT, "annotation.host")?;
                    annotation.endpoint = self.endpoint()?.non_empty();
                }
                _ => self.skip(kind, 1)?,
            }
        }
        Ok(annotation)
    }

    fn binary_annotation(&mut self) -> Result<V1BinaryAnnotation, String> {
        let mut key = String::new();
        let mut value: &[u8] = &[];
        let mut annotation_type = ANNOTATION_BOOL;
        let mut endpoint = None;
        while let Some((kind, id)) = self.field()? {
            match id {
                1 => {
                    self.field_type(kind, STRING, "binary_annotation.key")?;
                    key = self.string()?;
                }
                2 => {
                    self.field_type(kind, STRING, "binary_annotation.value")?;
                    value = self.binary()?;
                }
                3 => {
                    self.field_type(kind, I32, "binary_annotation.annotation_type")?;
                    annotation_type = self.i32()?;
                }
                4 => {
                    self.field_type(kind, STRUCT, "binary_annotation.host")?;
                    endpoint = self.endpoint()?.non_empty();
                }
                _ => self.skip(kind, 1)?,
            }
        }
        let value = binary_value(&key, annotation_type, value)?;
        Ok(V1BinaryAnnotation { key, value, endpoint })
    }

    fn list<T>(
        &mut self,
        name: &str,
        mut element: impl FnMut(&mut Self) -> Result<T, String>,
    ) -> Result<Vec<T>, String> {
        let (kind, count) = self.list_header()?;
        if count > 0 && kind != STRUCT {
            return Err(format!("{name} holds type {kind}, not structs"));
        }
        (0..count).map(|_| element(self)).collect()
    }

    fn span(&mut self) -> Result<V1Span, String> {
        let mut raw = RawSpan::default();
        while let Some((kind, id)) = self.field()? {
            match id {
                1 => {
                    self.field_type(kind, I64, "trace_id")?;
                    raw.trace_id = Some(self.i64()?);
                }
                3 => {
                    self.field_type(kind, STRING, "name")?;
                    raw.name = self.string()?;
                }
                4 => {
                    self.field_type(kind, I64, "id")?;
                    raw.id = Some(self.i64()?);
                }
                5 => {
                    self.field_type(kind, I64, "parent_id")?;
                    raw.parent_id = Some(self.i64()?);
                }
                6 => {
                    self.field_type(kind, LIST, "annotations")?;
                    raw.annotations = self.list("annotations", Self::annotation)?;
                }
                8 => {
                    self.field_type(kind, LIST, "binary_annotations")?;
                    raw.binary_annotations = self.list("binary_annotations", Self::binary_annotation)?;
                }
                9 => {
                    self.field_type(kind, BOOL, "debug")?;
                    raw.debug = self.bool()?;
                }
                10 => {
                    self.field_type(kind, I64, "timestamp")?;
                    raw.timestamp = self.i64()?;
                }
                11 => {
                    self.field_type(kind, I64, "duration")?;
                    raw.duration = self.i64()?;
                }
                12 => {
                    self.field_type(kind, I64, "trace_id_high")?;
                    raw.trace_id_high = self.i64()?;
                }
                _ => self.skip(kind, 1)?,
            }
        }
        raw.validate()
    }
}

/// The smallest encoding of one value of a type, to bound element counts.
fn min_size(kind: u8) -> usize {
    match kind {
        I16 => 2,
        I32 | STRING | LIST | SET => 4,
        DOUBLE | I64 => 8,
        MAP => 6,
        _ => 1,
    }
}

/// A binary annotation's value. Strings become tags; a `true` on `ca`, `sa`
/// or `ma` marks an address. Zipkin drops the other types; tracekeep keeps
/// them as tags with their value as text, so nothing sent is lost.
fn binary_value(key: &str, annotation_type: i32, value: &[u8]) -> Result<V1Value, String> {
    let fixed = |n: usize| -> Result<[u8; 8], String> {
        if value.len() != n {
            return Err(format!(
                "binary annotation {key:?} has {} bytes for a {n}-byte value",
                value.len()
            ));
        }
        let mut padded = [0u8; 8];
        padded[8 - n..].copy_from_slice(value);
        Ok(padded)
    };
    Ok(match annotation_type {
        ANNOTATION_STRING => V1Value::Text(
            String::from_utf8(value.to_vec()).map_err(|_| format!("binary annotation {key:?} is not UTF-8"))?,
        ),
        ANNOTATION_BOOL => {
            let flag = value.first().is_some_and(|byte| *byte != 0);
            if flag && matches!(key, "ca" | "sa" | "ma") {
                V1Value::Address
            } else {
                V1Value::Text(flag.to_string())
            }
        }
        ANNOTATION_I16 => {
            let bytes = fixed(2)?;
            V1Value::Text(i16::from_be_bytes([bytes[6], bytes[7]]).to_string())
        }
        ANNOTATION_I32 => {
            let bytes = fixed(4)?;
            V1Value::Text(i32::from_be_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]).to_string())
        }
        ANNOTATION_I64 => V1Value::Text(i64::from_be_bytes(fixed(8)?).to_string()),
        ANNOTATION_DOUBLE => V1Value::Text(f64::from_be_bytes(fixed(8)?).to_string()),
        ANNOTATION_BYTES => V1Value::Text(lower_hex(value)),
        other => return Err(format!("binary annotation {key:?} has unknown type {other}")),
    })
}

impl RawSpan {
    fn validate(self) -> Result<V1Span, String> {
        let low = self.trace_id.ok_or("trace_id is missing")?;
        let trace_id = if self.trace_id_high == 0 {
            format!("{low:016x}")
        } else {
            format!("{:016x}{low:016x}", self.trace_id_high)
        };
        let trace_id = normalize_trace_id(&trace_id).map_err(|error| format!("trace_id {error}"))?;
        let id = self.id.ok_or("id is missing")?;
        let id = normalize_span_id(&format!("{id:016x}")).map_err(|error| format!("id {error}"))?;
        let parent_id = self
            .parent_id
            .filter(|parent| *parent != 0)
            .map(|parent| format!("{parent:016x}"));
        Ok(V1Span {
            trace_id,
            name: self.name,
            id,
            parent_id,
            annotations: self.annotations,
            binary_annotations: self.binary_annotations,
            debug: self.debug,
            timestamp: u64::try_from(self.timestamp).unwrap_or(0),
            duration: u64::try_from(self.duration).unwrap_or(0),
        })
    }
}
