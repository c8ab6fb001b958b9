//! The key layout: one RocksDB keyspace, partitioned by a leading tag byte.
//!
//! | tag | key | value |
//! |-----|-----|-------|
//! | `0x00` | `0x00 name` | store metadata (format, counters, TSO mark) |
//! | `0x00` | `0x00 clock/ minute` | a clock mark: the first arrival number of that minute |
//! | `0x01` | `0x01 trace seq` | formats 1-4 only: one event (moved under `0x0A` on upgrade) |
//! | `0x02` | `0x02 trace` | format 1 only: the trace's summary ([`crate::records::TraceMeta`]) |
//! | `0x03` | `0x03 first_seq` | first-seen order: the traces one commit saw first, from `first_seq` on |
//! | `0x05`-`0x08` | `tag component... second trace` | span index entries (see [`crate::span_index`]) |
//! | `0x09` | `0x09 key value` | a value an autocomplete tag key was seen with |
//! | `0x0A` | `0x0A first_seq trace seq` | one event (column family `events`) |
//! | `0x0B` | `0x0B trace` | where the trace's events are: its first-seen number ([`crate::records::TraceStart`]) |
//!
//! `trace` is the trace ID as a 4-byte big-endian length followed by its bytes.
//! The length makes the encoding prefix-free: no trace's encoding is a prefix of
//! another's, so a prefix seek over `0x0A first_seq trace` can only ever return that
//! trace's events, whatever bytes (`.`, `|`, `\0`, ...) the IDs hold. `seq` and
//! `first_seq` are 8-byte big-endian arrival numbers, so keys sort in arrival order.
//!
//! Events (format 5) are keyed by their trace's first-seen number first: a
//! trace's events stay together, and new traces' events land at the end of
//! the key space instead of all over it. They live in a column family of their
//! own (`events`, leveled compaction), where compaction then has little to
//! merge: files of older traces move down the levels untouched. Finding a
//! trace's events takes its first-seen number, hence the `0x0B` entry,
//! written once as the trace starts. Every other key is in the default family.
//! A `component` (a service, span name or search term) is its bytes with each
//! NUL escaped as `00 FF`, ended by `00 01`: order-preserving and prefix-free.

/// Tag of store metadata keys.
pub(crate) const TAG_META: u8 = 0x00;
/// Tag of event keys of formats 1-4 (`0x01 trace seq`), moved to
/// [`TAG_EVENT`] when such a store is opened read-write.
pub(crate) const TAG_LEGACY_EVENT: u8 = 0x01;
/// Tag of per-trace summary keys (format 1; dropped on upgrade).
pub(crate) const TAG_TRACE: u8 = 0x02;
/// Tag of first-seen order keys.
pub(crate) const TAG_ORDER: u8 = 0x03;
/// One past the first-seen order keys: walks of the order stop here.
pub(crate) const ORDER_END: u8 = 0x04;
/// Span index: every span, by time (`0x05 second trace`).
pub(crate) const TAG_SPAN_TIME: u8 = 0x05;
/// Span index: by service (`0x06 service second trace`).
pub(crate) const TAG_SPAN_SERVICE: u8 = 0x06;
/// Span index: by service and span name (`0x07 service name second trace`).
pub(crate) const TAG_SPAN_NAME: u8 = 0x07;
/// Span index: by service and remote service (`0x08 service remote second trace`).
pub(crate) const TAG_SPAN_REMOTE: u8 = 0x08;
/// The values stored spans carry for the autocomplete tag keys (`0x09 key value`).
pub(crate) const TAG_TAG_VALUE: u8 = 0x09;
/// Tag of event keys (`0x0A first_seq trace seq`), in the `events` family.
pub(crate) const TAG_EVENT: u8 = 0x0A;
/// Tag of a trace's start entry (`0x0B trace`): its first-seen number.
pub(crate) const TAG_TRACE_START: u8 = 0x0B;
/// One past the last data tag: truncate removes `[TAG_LEGACY_EVENT, TAG_END)`.
pub(crate) const TAG_END: u8 = 0x0C;

/// The longest trace ID the store accepts, in bytes.
pub const MAX_TRACE_ID_LEN: usize = 64 * 1024;

pub(crate) const META_FORMAT: &[u8] = b"\x00format";
pub(crate) const META_COUNTERS: &[u8] = b"\x00counters";
pub(crate) const META_TSO: &[u8] = b"\x00tso";
/// `meta truncated`: this node's last truncate, for the cluster
/// ([`crate::records::ClusterMark`]).
pub(crate) const META_TRUNCATED: &[u8] = b"\x00truncated";
/// `meta deleted/` + trace: this node's last delete of the trace, for the
/// cluster ([`crate::records::ClusterMark`]).
pub(crate) const META_DELETED_PREFIX: &[u8] = b"\x00deleted/";

/// The key of a node's delete mark of `trace_id`.
pub(crate) fn deleted_key(trace_id: &str) -> Vec<u8> {
    let mut key = META_DELETED_PREFIX.to_vec();
    key.extend_from_slice(trace_id.as_bytes());
    key
}

/// `meta delete-log/` + the mark's arrival number (8 bytes big-endian) +
/// trace: the delete marks again, in the order they were made, so that
/// another node follows them from where it left off instead of reading
/// them all every time ([`crate::Store::follow_cluster_deletes`]). Holds the
/// same record as the mark; a newer delete of a trace replaces its entry.
pub(crate) const META_DELETE_LOG_PREFIX: &[u8] = b"\x00delete-log/";

/// The delete log's key of a mark of `trace_id` at `before_seq`.
pub(crate) fn delete_log_key(before_seq: u64, trace_id: &str) -> Vec<u8> {
    let mut key = META_DELETE_LOG_PREFIX.to_vec();
    key.extend_from_slice(&before_seq.to_be_bytes());
    key.extend_from_slice(trace_id.as_bytes());
    key
}

/// The trace of a delete log key; `None` for a key too short to be one.
pub(crate) fn delete_log_trace(key: &[u8]) -> Option<&[u8]> {
    key.get(META_DELETE_LOG_PREFIX.len() + 8..)
}

/// `meta clock/` + the minute (8-byte big-endian minutes since the epoch):
/// the first arrival number of that minute ([`crate::records::ClockMark`]).
pub(crate) const META_CLOCK_PREFIX: &[u8] = b"\x00clock/";

/// The clock mark key of `minute` (minutes since the Unix epoch).
pub(crate) fn clock_key(minute: u64) -> Vec<u8> {
    let mut key = META_CLOCK_PREFIX.to_vec();
    key.extend_from_slice(&minute.to_be_bytes());
    key
}

/// The minute of a clock mark key.
pub(crate) fn clock_minute(key: &[u8]) -> Option<u64> {
    let bytes: [u8; 8] = key.strip_prefix(META_CLOCK_PREFIX)?.try_into().ok()?;
    Some(u64::from_be_bytes(bytes))
}

pub(crate) fn push_trace(key: &mut Vec<u8>, trace_id: &str) {
    push_trace_bytes(key, trace_id.as_bytes());
}

/// [`push_trace`] of an ID the caller holds as (UTF-8) bytes.
fn push_trace_bytes(key: &mut Vec<u8>, trace_id: &[u8]) {
    // Callers validate the length against MAX_TRACE_ID_LEN, far below u32::MAX.
    let len = u32::try_from(trace_id.len()).unwrap_or(u32::MAX);
    key.extend_from_slice(&len.to_be_bytes());
    key.extend_from_slice(trace_id);
}

/// `0x0A first_seq trace`: the prefix every event of the trace first seen
/// at `first_seq` shares.
pub(crate) fn event_prefix(first_seq: u64, trace_id: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(1 + 8 + 4 + trace_id.len() + 8);
    push_event_prefix(&mut key, first_seq, trace_id.as_bytes());
    key
}

fn push_event_prefix(key: &mut Vec<u8>, first_seq: u64, trace_id: &[u8]) {
    key.push(TAG_EVENT);
    key.extend_from_slice(&first_seq.to_be_bytes());
    push_trace_bytes(key, trace_id);
}

/// `0x0A first_seq trace seq`, as a new buffer (tests; the writer reuses
/// one buffer with [`write_event_key`]).
#[cfg(test)]
pub(crate) fn event_key(first_seq: u64, trace_id: &str, seq: u64) -> Vec<u8> {
    let mut key = Vec::with_capacity(1 + 8 + 4 + trace_id.len() + 8);
    write_event_key(&mut key, first_seq, trace_id.as_bytes(), seq);
    key
}

/// Writes `0x0A first_seq trace seq` into `key`, replacing what it held (no
/// allocation once the buffer is large enough). The trace ID is UTF-8 bytes:
/// the writer holds IDs as ranges of events' payloads, checked once.
pub(crate) fn write_event_key(key: &mut Vec<u8>, first_seq: u64, trace_id: &[u8], seq: u64) {
    key.clear();
    push_event_prefix(key, first_seq, trace_id);
    key.extend_from_slice(&seq.to_be_bytes());
}

/// `0x0A first_seq`: the first event key of every trace first seen at or
/// after `first_seq` (a bound for walks over many traces' events).
pub(crate) fn events_from(first_seq: u64) -> Vec<u8> {
    let mut key = Vec::with_capacity(9);
    key.push(TAG_EVENT);
    key.extend_from_slice(&first_seq.to_be_bytes());
    key
}

/// An event key taken apart without copying: what a walk over many traces'
/// events needs to tell one trace's events from the next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct EventKeyParts<'k> {
    /// The trace's `0x0A first_seq trace` part, shared by all its events.
    pub prefix: &'k [u8],
    pub first_seq: u64,
    /// The trace ID's bytes (UTF-8 in every key the writer made).
    pub trace_id: &'k [u8],
    pub seq: u64,
}

/// Takes an event key (`0x0A first_seq trace seq`) apart; `None` for any
/// other byte string.
pub(crate) fn split_event_key(key: &[u8]) -> Option<EventKeyParts<'_>> {
    let end = event_prefix_len(key)?;
    let (prefix, seq) = key.split_at(end);
    let seq: [u8; 8] = seq.try_into().ok()?;
    let first_seq: [u8; 8] = prefix.get(1..9)?.try_into().ok()?;
    Some(EventKeyParts {
        prefix,
        first_seq: u64::from_be_bytes(first_seq),
        trace_id: prefix.get(13..)?,
        seq: u64::from_be_bytes(seq),
    })
}

/// `0x01 trace`: where formats 1-4 kept the trace's events.
pub(crate) fn legacy_event_prefix(trace_id: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(1 + 4 + trace_id.len());
    key.push(TAG_LEGACY_EVENT);
    push_trace(&mut key, trace_id);
    key
}

/// `0x01 trace seq`: a format 1-4 event key (tests of the upgrade).
#[cfg(any(test, feature = "fault-injection"))]
pub(crate) fn legacy_event_key(trace_id: &str, seq: u64) -> Vec<u8> {
    let mut key = legacy_event_prefix(trace_id);
    key.extend_from_slice(&seq.to_be_bytes());
    key
}

/// `0x0B trace`: the trace's start entry.
pub(crate) fn trace_start_key(trace_id: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(1 + 4 + trace_id.len());
    write_trace_start_key(&mut key, trace_id);
    key
}

/// Writes `0x0B trace` into `key`, replacing what it held.
pub(crate) fn write_trace_start_key(key: &mut Vec<u8>, trace_id: &str) {
    key.clear();
    key.push(TAG_TRACE_START);
    push_trace(key, trace_id);
}

/// `0x02 trace`: format 1's summary key, and how errors about a whole trace
/// name it (it describes as `trace "ID"`).
pub(crate) fn trace_key(trace_id: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(1 + 4 + trace_id.len());
    key.push(TAG_TRACE);
    push_trace(&mut key, trace_id);
    key
}

/// `0x03 first_seq`.
pub(crate) fn order_key(first_seq: u64) -> Vec<u8> {
    let mut key = Vec::with_capacity(9);
    key.push(TAG_ORDER);
    key.extend_from_slice(&first_seq.to_be_bytes());
    key
}

/// Appends `bytes` as a key component: each NUL doubled as `00 FF`, then the
/// terminator `00 01`. Components sort as their bytes do and none is a prefix
/// of another's encoding, so `tag component` bounds exactly one component's keys.
pub(crate) fn push_component(key: &mut Vec<u8>, bytes: &[u8]) {
    for &byte in bytes {
        key.push(byte);
        if byte == 0 {
            key.push(0xFF);
        }
    }
    key.extend_from_slice(&[0, 1]);
}

/// The smallest key past every key whose component at the end of `prefix`
/// (ending in its terminator `00 01`) is that component: `00 01` becomes `00 02`.
pub(crate) fn past_component(prefix_with_component: &[u8]) -> Vec<u8> {
    let mut key = prefix_with_component.to_vec();
    if let Some(last) = key.last_mut() {
        *last = 2;
    }
    key
}

/// Takes one component off the front of `bytes`.
pub(crate) fn take_component(bytes: &[u8]) -> Result<(String, &[u8]), KeyError> {
    let mut raw = Vec::new();
    let mut index = 0;
    loop {
        match (bytes.get(index), bytes.get(index + 1)) {
            (Some(0), Some(1)) => break,
            (Some(0), Some(0xFF)) => {
                raw.push(0);
                index += 2;
            }
            (Some(0), _) => return Err(KeyError("malformed escape in a key component")),
            (Some(&byte), _) => {
                raw.push(byte);
                index += 1;
            }
            (None, _) => return Err(KeyError("unterminated key component")),
        }
    }
    let text = String::from_utf8(raw).map_err(|_| KeyError("key component is not UTF-8"))?;
    Ok((text, &bytes[index + 2..]))
}

/// How many components a span index tag's keys have before the time.
pub(crate) fn span_index_components(tag: u8) -> Option<usize> {
    match tag {
        TAG_SPAN_TIME => Some(0),
        TAG_SPAN_SERVICE => Some(1),
        TAG_SPAN_NAME | TAG_SPAN_REMOTE => Some(2),
        _ => None,
    }
}

/// `tag components...`: the part of span index keys before the time.
pub(crate) fn span_index_prefix(tag: u8, components: &[&str]) -> Vec<u8> {
    let mut key = Vec::with_capacity(1 + components.iter().map(|c| c.len() + 2).sum::<usize>() + 8 + 40);
    push_span_index_prefix(&mut key, tag, components);
    key
}

/// Appends `tag components...` to `key`.
pub(crate) fn push_span_index_prefix(key: &mut Vec<u8>, tag: u8, components: &[&str]) {
    key.push(tag);
    for component in components {
        push_component(key, component.as_bytes());
    }
}

/// Appends the time part of a span index key: the second, inverted so that
/// the newest sorts first.
pub(crate) fn push_span_second(key: &mut Vec<u8>, second: u64) {
    key.extend_from_slice(&(u64::MAX - second).to_be_bytes());
}

/// `prefix second trace`: a whole span index key.
pub(crate) fn span_index_key(prefix: &[u8], second: u64, trace_id: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(prefix.len() + 8 + 4 + trace_id.len());
    key.extend_from_slice(prefix);
    push_span_second(&mut key, second);
    push_trace(&mut key, trace_id);
    key
}

/// The second and trace ID at the end of a span index key, after its components.
pub(crate) fn take_span_second_and_trace(bytes: &[u8]) -> Result<(u64, String), KeyError> {
    let (inverted, rest) = bytes
        .split_first_chunk::<8>()
        .ok_or(KeyError("truncated span index time"))?;
    let (trace_id, rest) = take_trace(rest)?;
    if !rest.is_empty() {
        return Err(KeyError("trailing bytes after the trace ID"));
    }
    Ok((u64::MAX - u64::from_be_bytes(*inverted), trace_id))
}

/// Length of an event key's `0x0A first_seq trace` part, if `key` is a well-formed one.
fn event_prefix_len(key: &[u8]) -> Option<usize> {
    if key.first() != Some(&TAG_EVENT) {
        return None;
    }
    let len: [u8; 4] = key.get(9..13)?.try_into().ok()?;
    let end = 13usize.checked_add(u32::from_be_bytes(len) as usize)?;
    (end <= key.len()).then_some(end)
}

/// RocksDB's prefix extractor: an event key's `0x0A first_seq trace` part, so
/// that the bloom filters can skip table files without the trace on a
/// query's seek.
pub(crate) fn event_key_prefix(key: &[u8]) -> &[u8] {
    match event_prefix_len(key) {
        Some(end) => &key[..end],
        None => key,
    }
}

/// The extractor's domain: event keys (and their prefixes).
pub(crate) fn has_event_key_prefix(key: &[u8]) -> bool {
    event_prefix_len(key).is_some()
}

/// The arrival number of an event key under `prefix` (its trace's event
/// prefix, of either layout): the 8 bytes after it, nothing more.
pub(crate) fn seq_after(prefix: &[u8], key: &[u8]) -> Option<u64> {
    let seq: [u8; 8] = key.strip_prefix(prefix)?.try_into().ok()?;
    Some(u64::from_be_bytes(seq))
}

/// The smallest key greater than every key starting with `prefix`
/// (an exclusive upper bound for a prefix scan).
pub(crate) fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return end;
        }
    }
    // All 0xFF (never the case for our tagged keys): no upper bound short of the end.
    vec![u8::MAX; prefix.len() + 1]
}

/// A key taken apart.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Key {
    /// A store metadata key, by name.
    Meta(Vec<u8>),
    /// An event key.
    Event { first_seq: u64, trace_id: String, seq: u64 },
    /// An event key of formats 1-4.
    LegacyEvent { trace_id: String, seq: u64 },
    /// A trace's start entry.
    TraceStart { trace_id: String },
    /// A trace summary key.
    Trace { trace_id: String },
    /// A first-seen order key.
    Order { first_seq: u64 },
    /// A span index entry: its tag, the names before the time, the second
    /// and the trace.
    SpanIndex {
        tag: u8,
        components: Vec<String>,
        second: u64,
        trace_id: String,
    },
    /// A value an autocomplete tag key was seen with.
    TagValue { key: String, value: String },
}

/// Why a key could not be taken apart.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub(crate) struct KeyError(&'static str);

fn take_trace(bytes: &[u8]) -> Result<(String, &[u8]), KeyError> {
    let (len, rest) = bytes
        .split_first_chunk::<4>()
        .ok_or(KeyError("truncated trace ID length"))?;
    let len = u32::from_be_bytes(*len) as usize;
    if len > rest.len() {
        return Err(KeyError("trace ID length runs past the key"));
    }
    let (id, rest) = rest.split_at(len);
    let id = std::str::from_utf8(id).map_err(|_| KeyError("trace ID is not UTF-8"))?;
    Ok((id.to_owned(), rest))
}

/// A trace ID that must end the key.
fn take_whole_trace(bytes: &[u8]) -> Result<String, KeyError> {
    let (trace_id, rest) = take_trace(bytes)?;
    if rest.is_empty() {
        Ok(trace_id)
    } else {
        Err(KeyError("trailing bytes after the trace ID"))
    }
}

fn take_seq(bytes: &[u8]) -> Result<u64, KeyError> {
    let seq: [u8; 8] = bytes
        .try_into()
        .map_err(|_| KeyError("sequence number is not 8 bytes"))?;
    Ok(u64::from_be_bytes(seq))
}

/// Takes a key apart; any byte string is accepted and answered, never a panic.
pub(crate) fn decode_key(key: &[u8]) -> Result<Key, KeyError> {
    let (&tag, rest) = key.split_first().ok_or(KeyError("empty key"))?;
    match tag {
        TAG_META => Ok(Key::Meta(rest.to_vec())),
        TAG_EVENT => {
            let (first_seq, rest) = rest
                .split_first_chunk::<8>()
                .ok_or(KeyError("truncated first-seen number"))?;
            let (trace_id, rest) = take_trace(rest)?;
            Ok(Key::Event {
                first_seq: u64::from_be_bytes(*first_seq),
                trace_id,
                seq: take_seq(rest)?,
            })
        }
        TAG_LEGACY_EVENT => {
            let (trace_id, rest) = take_trace(rest)?;
            Ok(Key::LegacyEvent {
                trace_id,
                seq: take_seq(rest)?,
            })
        }
        TAG_TRACE => Ok(Key::Trace {
            trace_id: take_whole_trace(rest)?,
        }),
        TAG_TRACE_START => Ok(Key::TraceStart {
            trace_id: take_whole_trace(rest)?,
        }),
        TAG_ORDER => Ok(Key::Order {
            first_seq: take_seq(rest)?,
        }),
        TAG_TAG_VALUE => {
            let (key, rest) = take_component(rest)?;
            let (value, rest) = take_component(rest)?;
            if rest.is_empty() {
                Ok(Key::TagValue { key, value })
            } else {
                Err(KeyError("trailing bytes after a tag value"))
            }
        }
        tag => {
            let count = span_index_components(tag).ok_or(KeyError("unknown key tag"))?;
            let mut components = Vec::with_capacity(count);
            let mut rest = rest;
            for _ in 0..count {
                let (component, after) = take_component(rest)?;
                components.push(component);
                rest = after;
            }
            let (second, trace_id) = take_span_second_and_trace(rest)?;
            Ok(Key::SpanIndex {
                tag,
                components,
                second,
                trace_id,
            })
        }
    }
}

/// A readable rendering of a stored key, for error messages and the dump tool:
/// `event trace="t.1" seq=42`, `trace-start "t.1"`, `order first_seq=7`, `meta counters`;
/// a key that does not decode shows as hex with the reason.
pub fn describe_key(key: &[u8]) -> String {
    match decode_key(key) {
        Ok(Key::Meta(name)) => format!("meta {}", String::from_utf8_lossy(&name)),
        // The first-seen number is the store's business: a key reads as the
        // trace and the event's arrival number, in every format.
        Ok(Key::Event { trace_id, seq, .. }) => format!("event trace={trace_id:?} seq={seq}"),
        Ok(Key::LegacyEvent { trace_id, seq }) => format!("format-4 event trace={trace_id:?} seq={seq}"),
        Ok(Key::Trace { trace_id }) => format!("trace {trace_id:?}"),
        Ok(Key::TraceStart { trace_id }) => format!("trace-start {trace_id:?}"),
        Ok(Key::Order { first_seq }) => format!("order first_seq={first_seq}"),
        Ok(Key::SpanIndex {
            tag,
            components,
            second,
            trace_id,
        }) => {
            let index = match tag {
                TAG_SPAN_TIME => "span-time",
                TAG_SPAN_SERVICE => "span-service",
                TAG_SPAN_NAME => "span-name",
                _ => "span-remote",
            };
            format!("{index} {components:?} second={second} trace={trace_id:?}")
        }
        Ok(Key::TagValue { key, value }) => format!("tag-value {key:?}={value:?}"),
        Err(error) => format!("key 0x{} ({error})", hex(key)),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip() {
        for id in ["", "t.1", "t.1\0x", "a|b", &"x".repeat(5000), "多字节"] {
            assert_eq!(
                decode_key(&event_key(3, id, 7)),
                Ok(Key::Event {
                    first_seq: 3,
                    trace_id: id.to_owned(),
                    seq: 7
                })
            );
            assert_eq!(
                decode_key(&legacy_event_key(id, 7)),
                Ok(Key::LegacyEvent {
                    trace_id: id.to_owned(),
                    seq: 7
                })
            );
            assert_eq!(
                decode_key(&trace_start_key(id)),
                Ok(Key::TraceStart {
                    trace_id: id.to_owned()
                })
            );
            assert_eq!(
                decode_key(&trace_key(id)),
                Ok(Key::Trace {
                    trace_id: id.to_owned()
                })
            );
        }
        assert_eq!(decode_key(&order_key(9)), Ok(Key::Order { first_seq: 9 }));
        let prefix = span_index_prefix(TAG_SPAN_NAME, &["svc\0x", ""]);
        assert_eq!(
            decode_key(&span_index_key(&prefix, 1_700_000_000, "abc")),
            Ok(Key::SpanIndex {
                tag: TAG_SPAN_NAME,
                components: vec!["svc\0x".into(), "".into()],
                second: 1_700_000_000,
                trace_id: "abc".into()
            })
        );
        assert_eq!(decode_key(META_TSO), Ok(Key::Meta(b"tso".to_vec())));
    }

    #[test]
    fn no_trace_prefix_covers_another_traces_events() {
        let ids = ["t.1", "t.10", "t.1\0x", "t.1\0", "t", "t.1|2", "t.2"];
        for a in ids {
            for b in ids {
                if a != b {
                    assert!(
                        !event_key(0, b, 0).starts_with(&event_prefix(0, a)),
                        "{a:?} prefix covers {b:?}"
                    );
                    assert!(!event_key(0, b, u64::MAX).starts_with(&event_prefix(0, a)));
                }
            }
        }
    }

    #[test]
    fn writing_an_event_key_into_a_buffer_matches_building_one() {
        let mut buffer = b"leftover bytes from before".to_vec();
        write_event_key(&mut buffer, 5, b"t.1", 9);
        assert_eq!(buffer, event_key(5, "t.1", 9));
    }

    #[test]
    fn events_of_a_trace_sort_in_arrival_order() {
        let mut keys: Vec<_> = [300u64, 2, 1 << 40, 17].map(|seq| event_key(1, "t", seq)).into();
        keys.sort();
        let seqs: Vec<_> = keys
            .iter()
            .map(|key| match decode_key(key) {
                Ok(Key::Event { seq, .. }) => seq,
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(seqs, [2, 17, 300, 1 << 40]);
    }

    #[test]
    fn a_later_trace_sorts_after_every_event_of_an_earlier_one() {
        assert!(event_key(5, "zzz", u64::MAX) < event_key(6, "a", 0));
        assert!(event_key(5, "zzz", 7) < event_key(5, "zzz", 8));
    }

    #[test]
    fn span_index_keys_sort_by_component_then_newest_first() {
        let key = |service: &str, second| span_index_key(&span_index_prefix(TAG_SPAN_SERVICE, &[service]), second, "t");
        // A component that extends another ("a\0") sorts after all of "a"'s keys.
        let mut keys = [key("a\0", 5), key("b", 1), key("a", 1), key("a", 9), key("ab", 3)];
        keys.sort();
        let order: Vec<_> = keys
            .iter()
            .map(|key| match decode_key(key) {
                Ok(Key::SpanIndex { components, second, .. }) => (components[0].clone(), second),
                other => panic!("{other:?}"),
            })
            .collect();
        let expected = [("a", 9), ("a", 1), ("a\0", 5), ("ab", 3), ("b", 1)];
        assert_eq!(order, expected.map(|(name, second)| (name.to_owned(), second)));
        let a = span_index_prefix(TAG_SPAN_SERVICE, &["a"]);
        assert!(past_component(&a) > key("a", 0) && past_component(&a) < key("a\0", u64::MAX));
    }

    #[test]
    fn prefix_end_bounds_exactly_the_prefix() {
        let prefix = event_prefix(9, "t.1");
        let end = prefix_end(&prefix);
        assert!(event_key(9, "t.1", u64::MAX) < end);
        assert!(prefix < end);
        assert_eq!(prefix_end(&[1, 0xFF, 0xFF]), vec![2]);
    }

    #[test]
    fn the_prefix_extractor_takes_the_trace_part_of_event_keys_only() {
        let key = event_key(7, "t.1", 42);
        assert_eq!(event_key_prefix(&key), event_prefix(7, "t.1").as_slice());
        assert_eq!(
            event_key_prefix(&event_prefix(7, "t.1")),
            event_prefix(7, "t.1").as_slice()
        );
        assert!(has_event_key_prefix(&key) && has_event_key_prefix(&event_prefix(0, "")));
        assert_eq!(seq_after(&event_prefix(7, "t.1"), &key), Some(42));
        assert_eq!(seq_after(&event_prefix(7, "t.1"), &event_key(7, "t.10", 42)), None);
        for other in [
            legacy_event_key("t.1", 42),
            trace_start_key("t.1"),
            trace_key("t.1"),
            order_key(3),
            META_TSO.to_vec(),
            vec![TAG_EVENT, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9],
        ] {
            assert!(!has_event_key_prefix(&other), "{other:?}");
        }
    }

    #[test]
    fn malformed_keys_are_errors() {
        for key in [
            &[][..],
            &[0x09],
            &[TAG_LEGACY_EVENT, 0, 0],
            &[TAG_LEGACY_EVENT, 0, 0, 0, 9, b'a'],
            &[TAG_LEGACY_EVENT, 0, 0, 0, 1, b'a', 1, 2],
            &[TAG_EVENT, 0, 0, 0],
            &[TAG_EVENT, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, b'a', 1, 2],
            &[TAG_TRACE_START, 0, 0, 0, 1, b'a', 0],
            &[TAG_TRACE, 0, 0, 0, 1, 0xFF],
            &[TAG_TRACE, 0, 0, 0, 0, 1],
            &[TAG_ORDER, 1],
            &[TAG_SPAN_SERVICE, b'a', 0, 1, 0, 0],
            &[TAG_SPAN_SERVICE, b'a', 0, 7],
            &[TAG_TAG_VALUE, b'a'],
            &[TAG_TAG_VALUE, b'a', 0, 1, b'b', 0, 1, 7],
            &[TAG_END],
        ] {
            assert!(decode_key(key).is_err(), "{key:?}");
            assert!(describe_key(key).starts_with("key 0x"));
        }
        assert_eq!(describe_key(&event_key(2, "t.1", 3)), r#"event trace="t.1" seq=3"#);
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn any_bytes_decode_to_a_key_or_an_error(key in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = decode_key(&key);
            let _ = describe_key(&key);
        }

        #[test]
        fn any_trace_id_and_seq_round_trip(first_seq in any::<u64>(), trace_id in ".{0,40}", seq in any::<u64>()) {
            prop_assert_eq!(
                decode_key(&event_key(first_seq, &trace_id, seq)),
                Ok(Key::Event { first_seq, trace_id: trace_id.clone(), seq })
            );
            prop_assert!(event_key(first_seq, &trace_id, seq).starts_with(&event_prefix(first_seq, &trace_id)));
            let key = event_key(first_seq, &trace_id, seq);
            prop_assert_eq!(
                split_event_key(&key),
                Some(EventKeyParts {
                    prefix: &event_prefix(first_seq, &trace_id),
                    first_seq,
                    trace_id: trace_id.as_bytes(),
                    seq,
                })
            );
            prop_assert!(events_from(first_seq) <= key);
            prop_assert!(first_seq == u64::MAX || key < events_from(first_seq + 1));
        }

        #[test]
        fn only_whole_event_keys_split(key in proptest::collection::vec(any::<u8>(), 0..40)) {
            let decoded = decode_key(&key);
            match split_event_key(&key) {
                // decode_key also wants the ID to be UTF-8.
                Some(parts) if std::str::from_utf8(parts.trace_id).is_ok() => {
                    let agrees = matches!(decoded, Ok(Key::Event { first_seq, seq, .. }) if first_seq == parts.first_seq && seq == parts.seq);
                    prop_assert!(agrees, "{:?}", decoded);
                }
                Some(_) => prop_assert!(decoded.is_err()),
                None => {
                    let event = matches!(decoded, Ok(Key::Event { .. }));
                    prop_assert!(!event, "{:?}", decoded);
                }
            }
        }

        #[test]
        fn distinct_trace_ids_never_share_an_event_prefix(a in ".{0,12}", b in ".{0,12}", seq in any::<u64>()) {
            prop_assume!(a != b);
            prop_assert!(!event_key(0, &b, seq).starts_with(&event_prefix(0, &a)));
        }
    }
}
