//! A stored OTLP span's form, with each string attribute kept once.
//!
//! A span that arrives over OTLP is stored as one `pb.Span` with two forms:
//! its Zipkin view (`tags` and the other ordinary fields) and its OTLP form
//! (`otlp`: a `ResourceSpans` holding its resource, its scope and the span).
//! A string attribute appears in both: as a tag, verbatim, and as an
//! attribute. [`elide_tag_attributes`] leaves such attributes out of the OTLP
//! form and notes where they were (`otlpFromTags`); [`restore`] puts them
//! back, byte for byte, from the tags. Only attributes whose bytes are
//! exactly what [`restore`] writes back are left out, so the round trip is
//! exact whatever encoder sent the span.
//!
//! This reads only the framing of `ResourceSpans`, `ScopeSpans`, `Span` and
//! `KeyValue` (field numbers and wire types), not OTLP's generated types.

use std::collections::BTreeMap;

use prost::encoding::{WireType, decode_varint, encode_key, encode_varint};

use crate::pb;

/// `ResourceSpans.scope_spans` and `ScopeSpans.spans`.
const SCOPE_SPANS: u32 = 2;
const SPANS: u32 = 2;
/// `Span.attributes`.
const SPAN_ATTRIBUTES: u32 = 9;
/// `KeyValue.key`, `KeyValue.value` and `AnyValue.string_value`.
const KEY: u32 = 1;
const VALUE: u32 = 2;
const STRING_VALUE: u32 = 1;

/// One field of an encoded protobuf message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Field<'a> {
    /// Its field number.
    pub number: u32,
    /// The whole field: key, length (if any) and value.
    pub bytes: &'a [u8],
    /// The contents of a length-delimited field; `None` for other wire types.
    pub value: Option<&'a [u8]>,
}

/// Takes the next field off the front of `message`; `None` when `message` is
/// empty or its next field is not well formed (a bad key or wire type, a
/// group, field number 0, or a value past the end).
pub fn next_field<'a>(message: &mut &'a [u8]) -> Option<Field<'a>> {
    let whole = *message;
    let mut rest = whole;
    let key = decode_varint(&mut rest).ok()?;
    let number = u32::try_from(key >> 3).ok().filter(|number| *number != 0)?;
    let value = match WireType::try_from(key & 7).ok()? {
        WireType::Varint => {
            decode_varint(&mut rest).ok()?;
            None
        }
        WireType::SixtyFourBit => {
            rest = rest.get(8..)?;
            None
        }
        WireType::ThirtyTwoBit => {
            rest = rest.get(4..)?;
            None
        }
        WireType::LengthDelimited => {
            let len = usize::try_from(decode_varint(&mut rest).ok()?).ok()?;
            let value = rest.get(..len)?;
            rest = rest.get(len..)?;
            Some(value)
        }
        // Groups are not in the messages read here.
        WireType::StartGroup | WireType::EndGroup => return None,
    };
    let used = whole.len() - rest.len();
    *message = rest;
    Some(Field {
        number,
        bytes: whole.get(..used)?,
        value,
    })
}

/// An encoded OTLP `Span` with its tag-held string attributes left out.
#[derive(Debug, PartialEq, Eq)]
pub struct Elided {
    /// The span's remaining fields, in their order.
    pub span: Vec<u8>,
    /// For `pb.Span.otlpFromTags`: a pair per attribute left out, the
    /// attribute's place among the span's fields and its key's rank among
    /// `tags`' keys.
    pub from_tags: Vec<u32>,
}

/// Leaves out of `span` (an encoded OTLP `Span`) each string attribute that
/// `tags` holds with the same key and value, and whose encoding is the one
/// [`restore`] writes. `None` when there is none, or when `span` is not well
/// formed (the caller then stores it whole).
pub fn elide_tag_attributes(span: &[u8], tags: &BTreeMap<String, String>) -> Option<Elided> {
    // The string attributes encoded as restore writes them, in field order.
    let mut candidates: Vec<Candidate<'_>> = Vec::with_capacity(16);
    let mut rest = span;
    let mut place = 0u32;
    while !rest.is_empty() {
        let start = span.len() - rest.len();
        let field = next_field(&mut rest)?;
        if let Some((key, value)) = restorable_attribute(&field) {
            candidates.push(Candidate {
                key,
                value,
                place,
                bytes: start..start + field.bytes.len(),
                rank: None,
            });
        }
        place = place.checked_add(1)?;
    }
    // Which of them the tags hold, and at what rank: one walk over the tags
    // in key order beside the candidates sorted the same way (no lookups).
    // A tag stands in for one attribute at most (the first, if several
    // repeat it), so a note names each tag once and restoring a span can
    // never write more than its tags hold (`restore` checks it).
    let mut by_key: Vec<usize> = (0..candidates.len()).collect();
    by_key.sort_by_key(|index| candidates[*index].key);
    let mut tags_in_order = tags.iter().enumerate().peekable();
    for index in by_key {
        let candidate = &mut candidates[index];
        while tags_in_order
            .next_if(|(_, (tag, _))| tag.as_bytes() < candidate.key)
            .is_some()
        {}
        if let Some((rank, _)) = tags_in_order
            .next_if(|(_, (tag, value))| tag.as_bytes() == candidate.key && value.as_bytes() == candidate.value)
        {
            candidate.rank = Some(u32::try_from(rank).ok()?);
        }
    }
    let mut kept = Vec::with_capacity(span.len());
    let mut from_tags = Vec::with_capacity(2 * candidates.len());
    let mut copied = 0;
    for candidate in &candidates {
        let Some(rank) = candidate.rank else { continue };
        // Everything between the last attribute left out and this one.
        kept.extend_from_slice(span.get(copied..candidate.bytes.start)?);
        copied = candidate.bytes.end;
        from_tags.extend([candidate.place, rank]);
    }
    if from_tags.is_empty() {
        return None;
    }
    kept.extend_from_slice(span.get(copied..)?);
    Some(Elided { span: kept, from_tags })
}

/// A string attribute that might be left out.
struct Candidate<'a> {
    key: &'a [u8],
    value: &'a [u8],
    /// Its place among the span's fields.
    place: u32,
    /// Where the whole field lies in the span's bytes.
    bytes: std::ops::Range<usize>,
    /// Its key's rank among the tags' keys, once the tags are found to hold it.
    rank: Option<u32>,
}

/// The key and value of `field` if it is a string attribute with a
/// non-empty key, encoded exactly as [`push_attribute`] encodes it.
fn restorable_attribute<'a>(field: &Field<'a>) -> Option<(&'a [u8], &'a [u8])> {
    if field.number != SPAN_ATTRIBUTES {
        return None;
    }
    let (key, value) = string_attribute(field.value?)?;
    // The fields are the ones push_attribute writes, in its order; the same
    // length means every key and length is as short as it can be, as there.
    (!key.is_empty() && field.bytes.len() == attribute_len(key.len(), value.len())).then_some((key, value))
}

/// The key and string value of an encoded `KeyValue`, when it holds exactly
/// one key and one `AnyValue` with a string, in that order (the caller's
/// length check then rules out any other encoding of the same fields).
fn string_attribute(key_value: &[u8]) -> Option<(&[u8], &[u8])> {
    let mut rest = key_value;
    let key = length_delimited(&mut rest, KEY)?;
    let any_value = length_delimited(&mut rest, VALUE)?;
    if !rest.is_empty() {
        return None;
    }
    let mut rest = any_value;
    let text = length_delimited(&mut rest, STRING_VALUE)?;
    rest.is_empty().then_some((key, text))
}

/// The contents of the next field of `message`, if it is length-delimited
/// field `number`.
fn length_delimited<'a>(message: &mut &'a [u8], number: u32) -> Option<&'a [u8]> {
    next_field(message).filter(|field| field.number == number)?.value
}

/// Appends span field 9 holding `KeyValue { key, value: AnyValue {
/// string_value } }` for a non-empty key, as prost encodes it.
fn push_attribute(buffer: &mut Vec<u8>, key: &str, value: &str) {
    let any_value_len = delimited_len(STRING_VALUE, value.len());
    push_delimited_head(
        buffer,
        SPAN_ATTRIBUTES,
        delimited_len(KEY, key.len()) + delimited_len(VALUE, any_value_len),
    );
    push_delimited_head(buffer, KEY, key.len());
    buffer.extend_from_slice(key.as_bytes());
    push_delimited_head(buffer, VALUE, any_value_len);
    push_delimited_head(buffer, STRING_VALUE, value.len());
    buffer.extend_from_slice(value.as_bytes());
}

/// Appends the key and length of length-delimited field `number` (its
/// contents follow).
pub fn push_delimited_head(buffer: &mut Vec<u8>, number: u32, len: usize) {
    encode_key(number, WireType::LengthDelimited, buffer);
    encode_varint(len as u64, buffer);
}

/// The encoded size of what [`push_attribute`] appends.
fn attribute_len(key_len: usize, value_len: usize) -> usize {
    let any_value_len = delimited_len(STRING_VALUE, value_len);
    delimited_len(
        SPAN_ATTRIBUTES,
        delimited_len(KEY, key_len) + delimited_len(VALUE, any_value_len),
    )
}

/// The encoded size of length-delimited field `number` holding `len` bytes.
pub fn delimited_len(number: u32, len: usize) -> usize {
    prost::encoding::key_len(number) + prost::encoding::encoded_len_varint(len as u64) + len
}

/// Why a stored OTLP form could not be restored.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("the stored OTLP form does not restore: {0}")]
pub struct RestoreError(String);

/// The OTLP form `resource_spans` (an encoded `ResourceSpans` holding one
/// span) with the attributes `from_tags` names put back from `tags`.
pub fn restore(
    resource_spans: &[u8],
    from_tags: &[u32],
    tags: &BTreeMap<String, String>,
) -> Result<Vec<u8>, RestoreError> {
    if !from_tags.len().is_multiple_of(2) {
        return Err(RestoreError(format!(
            "{} numbers where pairs are expected",
            from_tags.len()
        )));
    }
    let ranked: Vec<(&String, &String)> = tags.iter().collect();
    let mut spans = 0;
    let restored = rebuild(resource_spans, SCOPE_SPANS, &mut |scope_spans| {
        rebuild(scope_spans, SPANS, &mut |span| {
            spans += 1;
            restore_span(span, from_tags, &ranked)
        })
    })?;
    match spans {
        1 => Ok(restored),
        n => Err(RestoreError(format!("{n} spans where one is expected"))),
    }
}

/// What [`rebuild`] makes of a field's contents.
type Rebuilder<'a> = dyn FnMut(&[u8]) -> Result<Vec<u8>, RestoreError> + 'a;

/// `message` with every length-delimited field `number` replaced by what
/// `inner` makes of its contents; other fields are copied.
fn rebuild(message: &[u8], number: u32, inner: &mut Rebuilder<'_>) -> Result<Vec<u8>, RestoreError> {
    let mut out = Vec::with_capacity(message.len() + message.len() / 2);
    let mut rest = message;
    while !rest.is_empty() {
        let field = next_field(&mut rest).ok_or_else(|| RestoreError("a field is not well formed".into()))?;
        match field.value {
            Some(value) if field.number == number => {
                let rebuilt = inner(value)?;
                push_delimited_head(&mut out, number, rebuilt.len());
                out.extend_from_slice(&rebuilt);
            }
            _ => out.extend_from_slice(field.bytes),
        }
    }
    Ok(out)
}

/// The span's fields with the attributes left out put back in their places.
fn restore_span(span: &[u8], from_tags: &[u32], ranked: &[(&String, &String)]) -> Result<Vec<u8>, RestoreError> {
    let mut out = Vec::with_capacity(span.len() * 2);
    let mut pairs = from_tags.chunks_exact(2).peekable();
    // Each tag stands in for one attribute at most: a note from anywhere
    // else (a damaged record, a hand-made upload) cannot make a span restore
    // to more than its tags hold.
    let mut used = vec![false; ranked.len()];
    let mut rest = span;
    let mut place = 0u32;
    loop {
        if let Some(&[_, rank]) = pairs.next_if(|pair| pair[0] == place) {
            let index = usize::try_from(rank)
                .ok()
                .filter(|index| *index < ranked.len())
                .ok_or_else(|| RestoreError(format!("tag {rank} of {} does not exist", ranked.len())))?;
            if std::mem::replace(&mut used[index], true) {
                return Err(RestoreError(format!("tag {rank} is named twice")));
            }
            let (key, value) = ranked[index];
            push_attribute(&mut out, key, value);
        } else if rest.is_empty() {
            break;
        } else {
            let field = next_field(&mut rest).ok_or_else(|| RestoreError("a span field is not well formed".into()))?;
            out.extend_from_slice(field.bytes);
        }
        place = place
            .checked_add(1)
            .ok_or_else(|| RestoreError("too many fields".into()))?;
    }
    match pairs.next() {
        None => Ok(out),
        Some(pair) => Err(RestoreError(format!("place {} is past the span's fields", pair[0]))),
    }
}

impl pb::Span {
    /// The span's OTLP form as it arrived (`otlp` with the attributes kept in
    /// `tags` put back); empty for a span that did not arrive over OTLP.
    pub fn otlp_form(&self) -> Result<std::borrow::Cow<'_, [u8]>, RestoreError> {
        if self.otlp_from_tags.is_empty() {
            return Ok(std::borrow::Cow::Borrowed(&self.otlp));
        }
        restore(&self.otlp, &self.otlp_from_tags, &self.tags).map(std::borrow::Cow::Owned)
    }
}

#[cfg(test)]
#[path = "otlp_form_tests.rs"]
mod tests;
