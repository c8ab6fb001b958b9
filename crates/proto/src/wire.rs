//! A structural pass over an event's protobuf bytes: validate without decoding.
//!
//! Ingest keeps each event's wire bytes as they arrived instead of decoding
//! them into structs and encoding them again. [`scan_event`] walks the bytes
//! once, without allocating, and accepts exactly what prost's decoder for the
//! event's message accepts (same varint, tag, wire-type, length, UTF-8 and
//! nesting rules; a test compares the two on generated input), so a malformed
//! event is still refused whole and every stored event decodes on read. On the
//! way it picks out what the store needs: `base.traceID` and `base.tso`.
//!
//! The field tables below mirror `proto/tracer.proto`; the equivalence test
//! catches a table that drifts from the generated types.

use std::ops::Range;

use crate::EventKind;

/// How deep messages and groups may nest: prost's `RECURSION_LIMIT`.
const RECURSION_LIMIT: u32 = 100;

/// What a field of a known message holds, as far as validation cares.
#[derive(Clone, Copy)]
enum Field {
    /// int32/int64/uint32/bool/enum: a varint.
    Varint,
    /// A UTF-8 string (also each element of a repeated string).
    String,
    /// A `bytes` field: length-delimited, any content.
    Bytes,
    /// A nested message (also each element of a repeated message, and a map entry).
    Message(&'static [(u32, Field)]),
    /// A repeated varint field (uint32 and the like): packed, or one element
    /// per field.
    RepeatedVarint,
}

use Field::{Message, String as Str, Varint};

const MYSQL_POSITION: &[(u32, Field)] = &[(1, Str), (2, Varint)];
const BASE_EVENT: &[(u32, Field)] = &[(1, Str), (2, Varint), (3, Varint), (4, Str), (5, Str), (6, Varint)];
const SYNCER_STATE: &[(u32, Field)] = &[
    (1, Varint),
    (2, Varint),
    (3, Message(MYSQL_POSITION)),
    (4, Message(MYSQL_POSITION)),
];
const EXEC_DDL_INFO: &[(u32, Field)] = &[(1, Str), (2, Varint)];
const SYNCER_BINLOG_EVENT: &[(u32, Field)] = &[
    (1, Message(BASE_EVENT)),
    (2, Message(SYNCER_STATE)),
    (3, Varint),
    (4, Varint),
];
const SYNCER_JOB_EVENT: &[(u32, Field)] = &[
    (1, Message(BASE_EVENT)),
    (2, Varint),
    (3, Message(MYSQL_POSITION)),
    (4, Message(MYSQL_POSITION)),
    (5, Str),
    (6, Str),
    (7, Varint),
    (8, Message(EXEC_DDL_INFO)),
    (9, Str),
    (10, Varint),
];
/// `SpanLogField`, and the entries of a `map<string, string>`.
const STRING_PAIR: &[(u32, Field)] = &[(1, Str), (2, Str)];
const SPAN_LOG: &[(u32, Field)] = &[(1, Varint), (2, Message(STRING_PAIR))];
const ENDPOINT: &[(u32, Field)] = &[(1, Str), (2, Str), (3, Str), (4, Varint)];
const SPAN_ANNOTATION: &[(u32, Field)] = &[(1, Varint), (2, Str), (3, Varint)];
const SPAN: &[(u32, Field)] = &[
    (1, Message(BASE_EVENT)),
    (2, Str),
    (3, Str),
    (4, Str),
    (5, Varint),
    (6, Message(STRING_PAIR)),
    (7, Message(SPAN_LOG)),
    (8, Message(STRING_PAIR)),
    (9, Varint),
    (10, Message(ENDPOINT)),
    (11, Message(ENDPOINT)),
    (12, Message(SPAN_ANNOTATION)),
    (13, Varint),
    (14, Varint),
    (15, Field::Bytes),
    (16, Field::RepeatedVarint),
    (17, Varint),
    (18, Varint),
    (19, Varint),
];

fn schema(kind: EventKind) -> &'static [(u32, Field)] {
    match kind {
        EventKind::Binlog => SYNCER_BINLOG_EVENT,
        EventKind::Job => SYNCER_JOB_EVENT,
        EventKind::Span => SPAN,
    }
}

/// Why an event's bytes are not a valid message of its kind.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{reason} at byte {offset}")]
pub struct WireError {
    /// What is wrong.
    pub reason: &'static str,
    /// Where in the event's bytes.
    pub offset: usize,
}

/// What the store needs from a valid event, found by [`scan_event`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventHead {
    /// Whether the event has a `base` at all.
    pub has_base: bool,
    /// Where `base.traceID` lies in the event's bytes (empty when unset).
    pub trace_id: Range<usize>,
    /// `base.tso` (0 when unset).
    pub tso: i64,
}

impl EventHead {
    /// `base.traceID`, given the bytes the head was scanned from.
    pub fn trace_id<'a>(&self, bytes: &'a [u8]) -> &'a str {
        // The range was checked to be UTF-8 when it was found.
        bytes
            .get(self.trace_id.clone())
            .and_then(|id| std::str::from_utf8(id).ok())
            .unwrap_or("")
    }
}

/// Validates `bytes` as an event message of `kind`, exactly as prost's decoder
/// would, and returns its [`EventHead`].
pub fn scan_event(kind: EventKind, bytes: &[u8]) -> Result<EventHead, WireError> {
    let mut scanner = Scanner {
        bytes,
        at: 0,
        head: EventHead {
            has_base: false,
            trace_id: 0..0,
            tso: 0,
        },
    };
    scanner.fields(schema(kind), bytes.len(), RECURSION_LIMIT, Role::Event)?;
    Ok(scanner.head)
}

/// Which message is being walked, for picking out the head's fields.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    Event,
    Base,
    Other,
}

struct Scanner<'a> {
    bytes: &'a [u8],
    at: usize,
    head: EventHead,
}

const VARINT: u8 = 0;
const FIXED64: u8 = 1;
const LENGTH_DELIMITED: u8 = 2;
const START_GROUP: u8 = 3;
const END_GROUP: u8 = 4;
const FIXED32: u8 = 5;

impl Scanner<'_> {
    fn error(&self, reason: &'static str) -> WireError {
        WireError {
            reason,
            offset: self.at,
        }
    }

    /// prost's varint: at most ten bytes, the tenth below 2.
    fn varint(&mut self) -> Result<u64, WireError> {
        let mut value = 0u64;
        for count in 0..10 {
            let Some(&byte) = self.bytes.get(self.at) else {
                return Err(self.error("truncated varint"));
            };
            self.at += 1;
            value |= u64::from(byte & 0x7F) << (count * 7);
            if byte < 0x80 {
                if count == 9 && byte >= 0x02 {
                    return Err(self.error("varint overflows 64 bits"));
                }
                return Ok(value);
            }
        }
        Err(self.error("varint longer than ten bytes"))
    }

    fn key(&mut self) -> Result<(u32, u8), WireError> {
        let key = self.varint()?;
        let key = u32::try_from(key).map_err(|_| self.error("field key over 32 bits"))?;
        let wire_type = (key & 0x07) as u8;
        if wire_type > FIXED32 {
            return Err(self.error("invalid wire type"));
        }
        let tag = key >> 3;
        if tag == 0 {
            return Err(self.error("field number 0"));
        }
        Ok((tag, wire_type))
    }

    /// A length prefix and the end of what it covers, within `end`.
    fn delimited(&mut self, end: usize) -> Result<usize, WireError> {
        let len = self.varint()?;
        let remaining = end.saturating_sub(self.at) as u64;
        if len > remaining {
            return Err(self.error("length runs past the end"));
        }
        Ok(self.at + len as usize)
    }

    /// The fields of one message up to `end`; `depth` is prost's recursion budget.
    fn fields(&mut self, fields: &[(u32, Field)], end: usize, depth: u32, role: Role) -> Result<(), WireError> {
        while self.at < end {
            let (tag, wire_type) = self.key()?;
            let known = fields
                .iter()
                .find(|(number, _)| *number == tag)
                .map(|(_, field)| *field);
            match known {
                None => self.skip(wire_type, tag, end, depth)?,
                Some(Field::Varint) => {
                    if wire_type != VARINT {
                        return Err(self.error("wrong wire type for a varint field"));
                    }
                    let value = self.varint()?;
                    if role == Role::Base && tag == 3 {
                        self.head.tso = value as i64;
                    }
                }
                Some(Field::String) => {
                    if wire_type != LENGTH_DELIMITED {
                        return Err(self.error("wrong wire type for a string field"));
                    }
                    let stop = self.delimited(end)?;
                    let text = &self.bytes[self.at..stop];
                    if std::str::from_utf8(text).is_err() {
                        return Err(self.error("string is not UTF-8"));
                    }
                    if role == Role::Base && tag == 4 {
                        self.head.trace_id = self.at..stop;
                    }
                    self.at = stop;
                }
                Some(Field::Bytes) => {
                    if wire_type != LENGTH_DELIMITED {
                        return Err(self.error("wrong wire type for a bytes field"));
                    }
                    self.at = self.delimited(end)?;
                }
                Some(Field::RepeatedVarint) => match wire_type {
                    VARINT => {
                        self.varint()?;
                    }
                    LENGTH_DELIMITED => {
                        let stop = self.delimited(end)?;
                        while self.at < stop {
                            self.varint()?;
                        }
                        if self.at > stop {
                            return Err(self.error("a packed varint runs past its field"));
                        }
                    }
                    _ => return Err(self.error("wrong wire type for a repeated varint field")),
                },
                Some(Field::Message(inner)) => {
                    if wire_type != LENGTH_DELIMITED {
                        return Err(self.error("wrong wire type for a message field"));
                    }
                    let inner_role = if role == Role::Event && tag == 1 {
                        self.head.has_base = true;
                        Role::Base
                    } else {
                        Role::Other
                    };
                    self.nested(inner, end, depth, inner_role)?;
                }
            }
        }
        if self.at != end {
            return Err(self.error("field runs past its message"));
        }
        Ok(())
    }

    /// A length-delimited nested message, walked with one level less of budget.
    fn nested(&mut self, fields: &[(u32, Field)], end: usize, depth: u32, role: Role) -> Result<(), WireError> {
        if depth == 0 {
            return Err(self.error("messages nested too deeply"));
        }
        let stop = self.delimited(end)?;
        self.fields(fields, stop, depth - 1, role)
    }

    /// An unknown field, skipped as prost skips it (groups included).
    fn skip(&mut self, wire_type: u8, tag: u32, end: usize, depth: u32) -> Result<(), WireError> {
        if depth == 0 {
            return Err(self.error("fields nested too deeply"));
        }
        let len = match wire_type {
            VARINT => {
                self.varint()?;
                0
            }
            FIXED32 => 4,
            FIXED64 => 8,
            LENGTH_DELIMITED => self.varint()?,
            START_GROUP => loop {
                if self.at >= end {
                    return Err(self.error("group never ends"));
                }
                let (inner_tag, inner_type) = self.key()?;
                if inner_type == END_GROUP {
                    if inner_tag != tag {
                        return Err(self.error("group ends with another field's tag"));
                    }
                    break 0;
                }
                self.skip(inner_type, inner_tag, end, depth - 1)?;
            },
            _ => return Err(self.error("unexpected end of group")),
        };
        if len > end.saturating_sub(self.at) as u64 {
            return Err(self.error("length runs past the end"));
        }
        self.at += len as usize;
        Ok(())
    }
}

#[cfg(test)]
#[path = "wire_tests.rs"]
mod tests;
