//! The record format: every value the store writes is a record.
//!
//! ```text
//! 0      2        3       4          8
//! +------+--------+-------+----------+------------------------+
//! | "TK" | format | kind  | CRC32 LE | payload (protobuf) ... |
//! +------+--------+-------+----------+------------------------+
//! ```
//!
//! - `format`: the on-disk format version that wrote the record ([`FORMAT_VERSION`]).
//!   A reader refuses versions newer than its own instead of guessing.
//! - `kind`: what the payload is. Codes below 64 are event kinds
//!   ([`tracekeep_proto::EventKind`] codes); 64 and up are the store's own records.
//! - CRC32 (crc32fast, IEEE) over the format and kind bytes, the payload and
//!   the key (format 1: the key first). Covering the key catches a valid
//!   record found under the wrong key.
//! - `payload`: protobuf, so fields can be added without a format bump.

use std::collections::BTreeMap;
use std::ops::Range;

use prost::Message;
use tracekeep_proto::{EventKind, TraceEvent};

use crate::error::StoreError;

/// The on-disk format version this build writes, and the newest it reads.
///
/// - 1: per-trace summaries (`0x02`) and one first-seen entry per trace.
/// - 2: no summaries; first-seen entries in one record per commit
///   (`OrderBatch`). Opening a format-1 store read-write upgrades it in
///   place (its summaries are dropped); format-1 first-seen entries stay
///   readable as they are.
/// - 3: the span index (`0x05`-`0x09`). Opening an older store read-write
///   indexes the spans it holds.
/// - 4: a span may keep string attributes once (`pb.Span.otlpFromTags`), which
///   an older build would not put back into the OTLP form it exports. No
///   record is rewritten: opening an older store read-write only marks it 4.
/// - 5: events under `0x0A first_seq trace seq` in a column family of their
///   own, found through a start entry per trace (`0x0B trace`, `TraceStart`),
///   so new events land at the end of the key space. Opening an older store
///   read-write moves its events there.
pub const FORMAT_VERSION: u8 = 5;

const MAGIC: [u8; 2] = *b"TK";
const HEADER_LEN: usize = 8;

/// Record kind codes of the store's own records (event kinds use their own codes).
pub(crate) const KIND_TRACE_META: u8 = 64;
pub(crate) const KIND_ORDER: u8 = 65;
pub(crate) const KIND_COUNTERS: u8 = 66;
pub(crate) const KIND_TSO_MARK: u8 = 67;
pub(crate) const KIND_FORMAT: u8 = 68;
pub(crate) const KIND_ORDER_BATCH: u8 = 69;
pub(crate) const KIND_CLOCK_MARK: u8 = 70;
pub(crate) const KIND_TRACE_START: u8 = 71;
pub(crate) const KIND_CLUSTER_MARK: u8 = 72;

/// The CRC of a record: over the format and kind bytes, the payload and the
/// key, in that order since format 2 (so the writer finishes a prepared
/// record's CRC by feeding it the key alone); format 1 fed the key first.
fn checksum(key: &[u8], format_and_kind: &[u8], payload: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    if format_and_kind.first().is_some_and(|format| *format >= 2) {
        hasher.update(format_and_kind);
        hasher.update(payload);
        hasher.update(key);
    } else {
        hasher.update(key);
        hasher.update(format_and_kind);
        hasher.update(payload);
    }
    hasher.finalize()
}

/// Frames `payload` as a record of `kind` stored under `key`.
pub(crate) fn encode(key: &[u8], kind: u8, payload: &[u8]) -> Vec<u8> {
    encode_as(key, FORMAT_VERSION, kind, payload)
}

/// [`encode`] as format `format` would have written it.
pub(crate) fn encode_as(key: &[u8], format: u8, kind: u8, payload: &[u8]) -> Vec<u8> {
    let mut value = Vec::with_capacity(HEADER_LEN + payload.len());
    value.extend_from_slice(&MAGIC);
    value.push(format);
    value.push(kind);
    let crc = checksum(key, &[format, kind], payload);
    value.extend_from_slice(&crc.to_le_bytes());
    value.extend_from_slice(payload);
    value
}

/// The record stored under `old_key`, framed for `new_key` with the same
/// format and kind. A record that does not check out under its old key is
/// copied as it is: it stays damaged, where verify finds it.
pub(crate) fn rekey(old_key: &[u8], new_key: &[u8], value: &[u8]) -> Vec<u8> {
    match (decode(old_key, value), value.get(2)) {
        (Ok((kind, payload)), Some(&format)) => encode_as(new_key, format, kind, payload),
        _ => value.to_vec(),
    }
}

/// Records built before their keys are known, framed back to back in one
/// buffer per batch: each a header (with the CRC left zero) and a payload.
/// The payload is encoded and checksummed by the caller's thread, not by the
/// single writer thread, which finishes each record with
/// [`PreparedRecords::seal`] once its key is known. One buffer, not one per
/// event: a buffer per event was an allocation on the caller's thread and a
/// free on the writer's (about a twentieth of the writer's time at 2 events
/// per trace).
#[derive(Debug, Default)]
pub(crate) struct PreparedRecords {
    bytes: Vec<u8>,
}

/// One record of a [`PreparedRecords`]: where it is, and the CRC state of
/// everything the CRC covers before the key.
#[derive(Clone, Debug)]
pub(crate) struct PreparedRecord {
    at: Range<usize>,
    rest: crc32fast::Hasher,
}

impl PreparedRecords {
    /// Room for `payload_bytes` of payloads in `records` records.
    pub(crate) fn with_capacity(records: usize, payload_bytes: usize) -> PreparedRecords {
        PreparedRecords {
            bytes: Vec::with_capacity(records * HEADER_LEN + payload_bytes),
        }
    }

    /// Frames `payload` as a record of `kind`.
    pub(crate) fn push(&mut self, kind: u8, payload: &[u8]) -> PreparedRecord {
        self.push_written(kind, payload.len(), |bytes| {
            bytes.extend_from_slice(payload);
            Ok::<(), std::convert::Infallible>(())
        })
        .unwrap_or_else(|never| match never {})
    }

    /// Frames a payload that `write` appends (about `len` bytes, reserved
    /// first so the buffer grows at most once per record), so a message is
    /// encoded straight into its record, not copied there. On an error
    /// nothing is left of the record.
    pub(crate) fn push_written<E>(
        &mut self,
        kind: u8,
        len: usize,
        write: impl FnOnce(&mut Vec<u8>) -> Result<(), E>,
    ) -> Result<PreparedRecord, E> {
        self.bytes.reserve(HEADER_LEN + len);
        let start = self.bytes.len();
        self.bytes.extend_from_slice(&MAGIC);
        self.bytes.push(FORMAT_VERSION);
        self.bytes.push(kind);
        self.bytes.extend_from_slice(&[0; 4]);
        if let Err(error) = write(&mut self.bytes) {
            self.bytes.truncate(start);
            return Err(error);
        }
        let at = start..self.bytes.len();
        let mut rest = crc32fast::Hasher::new();
        rest.update(self.bytes.get(start + 2..start + 4).unwrap_or_default());
        rest.update(self.bytes.get(start + HEADER_LEN..at.end).unwrap_or_default());
        Ok(PreparedRecord { at, rest })
    }

    /// The payload of `record` (what follows its header).
    pub(crate) fn payload(&self, record: &PreparedRecord) -> &[u8] {
        self.bytes
            .get(record.at.start + HEADER_LEN..record.at.end)
            .unwrap_or_default()
    }

    /// The finished `record` for `key`: identical to [`encode`]'s.
    pub(crate) fn seal(&mut self, record: PreparedRecord, key: &[u8]) -> &[u8] {
        let PreparedRecord { at, mut rest } = record;
        rest.update(key);
        let crc = rest.finalize().to_le_bytes();
        if let Some(slot) = self.bytes.get_mut(at.start + 4..at.start + HEADER_LEN) {
            slot.copy_from_slice(&crc);
        }
        self.bytes.get(at).unwrap_or_default()
    }

    /// Bytes of every record, headers and payloads (for group sizing).
    pub(crate) fn len(&self) -> usize {
        self.bytes.len()
    }
}

/// Frames a protobuf message as a record.
pub(crate) fn encode_message(key: &[u8], kind: u8, message: &impl Message) -> Vec<u8> {
    encode(key, kind, &message.encode_to_vec())
}

/// The format version a record claims, checked only for magic and length.
/// Used on the format record before anything else is trusted.
pub(crate) fn peek_format(value: &[u8]) -> Option<u8> {
    (value.len() >= HEADER_LEN && value[..2] == MAGIC).then(|| value[2])
}

/// The kind a record's header claims, checked only for magic and length
/// (not the CRC): for accounting when a damaged record is deleted.
pub(crate) fn peek_kind(value: &[u8]) -> Option<u8> {
    (value.len() >= HEADER_LEN && value[..2] == MAGIC).then(|| value[3])
}

/// Checks a record's header and CRC; returns its kind and payload.
pub(crate) fn decode<'v>(key: &[u8], value: &'v [u8]) -> Result<(u8, &'v [u8]), StoreError> {
    if value.len() < HEADER_LEN {
        return Err(StoreError::corrupted(
            key,
            format!("record is {} bytes, shorter than its header", value.len()),
        ));
    }
    let (header, payload) = value.split_at(HEADER_LEN);
    if header[..2] != MAGIC {
        return Err(StoreError::corrupted(key, "bad record magic"));
    }
    let (format, kind) = (header[2], header[3]);
    if format == 0 || format > FORMAT_VERSION {
        return Err(StoreError::corrupted(
            key,
            format!("record format version {format} is not one this build reads (1..={FORMAT_VERSION})"),
        ));
    }
    let stored = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
    let computed = checksum(key, &header[2..4], payload);
    if stored != computed {
        return Err(StoreError::corrupted(
            key,
            format!("CRC mismatch: stored {stored:08x}, computed {computed:08x}"),
        ));
    }
    Ok((kind, payload))
}

/// Decodes a record that must hold a store message of `kind`.
pub(crate) fn decode_message<M: Message + Default>(key: &[u8], value: &[u8], kind: u8) -> Result<M, StoreError> {
    let (found, payload) = decode(key, value)?;
    if found != kind {
        return Err(StoreError::corrupted(
            key,
            format!("record kind {found} where kind {kind} belongs"),
        ));
    }
    M::decode(payload).map_err(|error| StoreError::corrupted(key, format!("payload does not decode: {error}")))
}

/// Decodes a record that must hold an event.
pub(crate) fn decode_event(key: &[u8], value: &[u8]) -> Result<TraceEvent, StoreError> {
    let (code, payload) = decode(key, value)?;
    let kind = EventKind::from_code(code).ok_or_else(|| {
        StoreError::corrupted(key, format!("record kind {code} is not an event kind this build knows"))
    })?;
    TraceEvent::decode(kind, payload)
        .map_err(|error| StoreError::corrupted(key, format!("{kind} event does not decode: {error}")))
}

/// Per-trace summary, under `0x02 trace` (format 1 only; read when a
/// format-1 store is upgraded or opened read-only).
#[derive(Clone, PartialEq, Message)]
pub(crate) struct TraceMeta {
    /// The arrival number of the trace's first event; also its order key.
    #[prost(uint64, tag = "1")]
    pub first_seq: u64,
    /// The arrival number of the trace's latest event.
    #[prost(uint64, tag = "2")]
    pub last_seq: u64,
    /// Events stored, by event kind code.
    #[prost(btree_map = "uint32, uint64", tag = "3")]
    pub events_by_kind: BTreeMap<u32, u64>,
    /// The smallest and largest event TSO (`base.tso`) seen; 0 while no
    /// event had one (an unset TSO is 0 on the wire).
    #[prost(int64, tag = "4")]
    pub min_tso: i64,
    #[prost(int64, tag = "5")]
    pub max_tso: i64,
}

impl TraceMeta {
    /// Takes an event's TSO into the range; 0 (unset) is ignored.
    pub(crate) fn widen_tso_range(&mut self, tso: i64) {
        widen(&mut self.min_tso, &mut self.max_tso, tso);
    }
}

/// First-seen order entry of format 1, under `0x03 first_seq`: one trace.
#[derive(Clone, PartialEq, Message)]
pub(crate) struct OrderEntry {
    #[prost(string, tag = "1")]
    pub trace_id: String,
}

/// First-seen order entries of one commit (format 2), under `0x03 s` where
/// `s` is the first of `first_seqs`: the traces the commit saw first, in
/// order. A trace's first-seen number is the arrival number just before its
/// first event's, as in format 1.
#[derive(Clone, PartialEq, Message)]
pub(crate) struct OrderBatch {
    #[prost(string, repeated, tag = "1")]
    pub trace_ids: Vec<String>,
    /// Ascending, one per trace ID.
    #[prost(uint64, repeated, tag = "2")]
    pub first_seqs: Vec<u64>,
}

/// Where a trace's events are, under `0x0B trace` (format 5): its first-seen
/// number, which begins every event key of the trace. Written once, in
/// the commit that starts the trace.
#[derive(Clone, PartialEq, Message)]
pub(crate) struct TraceStart {
    #[prost(uint64, tag = "1")]
    pub first_seq: u64,
}

/// The start entry stored under `key` (`0x0B trace`) for a trace first seen
/// at `first_seq`.
pub(crate) fn encode_trace_start(key: &[u8], first_seq: u64) -> Vec<u8> {
    // One per new trace on the writer thread: the payload (a tag and a
    // varint, at most 11 bytes) is encoded on the stack, not in a second
    // allocation.
    let mut payload = [0u8; 16];
    let start = TraceStart { first_seq };
    let len = start.encoded_len();
    let mut room = &mut payload[..];
    if start.encode(&mut room).is_err() {
        return encode_message(key, KIND_TRACE_START, &start);
    }
    encode(key, KIND_TRACE_START, payload.get(..len).unwrap_or_default())
}

/// The first-seen number a start entry holds.
pub(crate) fn decode_trace_start(key: &[u8], value: &[u8]) -> Result<u64, StoreError> {
    decode_message::<TraceStart>(key, value, KIND_TRACE_START).map(|start| start.first_seq)
}

/// Store-wide counters, under `meta counters`, rewritten with every commit so
/// that opening needs no scan.
#[derive(Clone, PartialEq, Message)]
pub(crate) struct Counters {
    /// The next arrival number to hand out.
    #[prost(uint64, tag = "1")]
    pub next_seq: u64,
    /// Traces stored.
    #[prost(uint64, tag = "2")]
    pub traces: u64,
    /// Events stored, by event kind code.
    #[prost(btree_map = "uint32, uint64", tag = "3")]
    pub events_by_kind: BTreeMap<u32, u64>,
    /// The smallest and largest event TSO (`base.tso`) appended since the
    /// store was created or last truncated; 0 while none had one. Deletes do
    /// not narrow the range.
    #[prost(int64, tag = "4")]
    pub min_tso: i64,
    #[prost(int64, tag = "5")]
    pub max_tso: i64,
}

impl Counters {
    /// Takes an event's TSO into the store-wide range; 0 (unset) is ignored.
    pub(crate) fn widen_tso_range(&mut self, tso: i64) {
        widen(&mut self.min_tso, &mut self.max_tso, tso);
    }
}

fn widen(min: &mut i64, max: &mut i64, tso: i64) {
    if tso == 0 {
        return;
    }
    if *min == 0 || tso < *min {
        *min = tso;
    }
    if *max == 0 || tso > *max {
        *max = tso;
    }
}

/// A node's delete or truncate, for the whole cluster on its bucket, under
/// `meta deleted/<trace>` or `meta truncated`: every node's events of the
/// trace (of every trace) that arrived before `before_seq` are gone. Reads
/// that merge the nodes leave them out ([`crate::Store::query`]).
#[derive(Clone, PartialEq, Message)]
pub(crate) struct ClusterMark {
    #[prost(uint64, tag = "1")]
    pub before_seq: u64,
}

/// The TSO high-water mark, under `meta tso`: every TSO issued is below it.
#[derive(Clone, PartialEq, Message)]
pub(crate) struct TsoMark {
    #[prost(int64, tag = "1")]
    pub mark: i64,
}

/// The first arrival number of a minute with writes, under `meta clock/<minute>`:
/// events numbered below it arrived before that minute began (retention's clock).
#[derive(Clone, PartialEq, Message)]
pub(crate) struct ClockMark {
    #[prost(uint64, tag = "1")]
    pub seq: u64,
}

/// What created the store, under `meta format`.
#[derive(Clone, PartialEq, Message)]
pub(crate) struct FormatInfo {
    #[prost(uint32, tag = "1")]
    pub version: u32,
    #[prost(int64, tag = "2")]
    pub created_unix_nanos: i64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys;

    #[test]
    fn records_round_trip() {
        let key = keys::order_key(3);
        let entry = OrderEntry { trace_id: "t.1".into() };
        let value = encode_message(&key, KIND_ORDER, &entry);
        assert_eq!(decode_message::<OrderEntry>(&key, &value, KIND_ORDER).ok(), Some(entry));
        assert_eq!(peek_format(&value), Some(FORMAT_VERSION));
    }

    #[test]
    fn a_prepared_record_seals_to_exactly_the_encoded_one() {
        for payload in [&b""[..], b"x", &[7u8; 1000]] {
            let key = keys::event_key(1, "t.1\0x", 77);
            let mut records = PreparedRecords::default();
            let before = records.push(5, b"an earlier record");
            let prepared = records.push(2, payload);
            assert_eq!(records.payload(&prepared), payload);
            assert_eq!(records.seal(prepared, &key), encode(&key, 2, payload));
            assert_eq!(records.seal(before, &key), encode(&key, 5, b"an earlier record"));
        }
    }

    #[test]
    fn a_record_whose_payload_fails_to_write_leaves_nothing() {
        let mut records = PreparedRecords::default();
        let kept = records.push(2, b"kept");
        let failed = records.push_written(2, 4, |bytes| {
            bytes.extend_from_slice(b"half");
            Err("no")
        });
        assert!(failed.is_err());
        let key = keys::event_key(1, "t", 1);
        assert_eq!(records.len(), 8 + 4);
        assert_eq!(records.seal(kept, &key), encode(&key, 2, b"kept"));
    }

    #[test]
    fn every_single_byte_flip_is_detected() {
        let key = keys::event_key(1, "t.1", 9);
        let value = encode(&key, 2, b"some payload bytes");
        for index in 0..value.len() {
            for bit in 0..8 {
                let mut damaged = value.clone();
                damaged[index] ^= 1 << bit;
                match decode(&key, &damaged) {
                    Err(StoreError::Corrupted { key: shown, .. }) => {
                        assert_eq!(shown, r#"event trace="t.1" seq=9"#)
                    }
                    other => panic!("flip at {index}:{bit} gave {other:?}"),
                }
            }
        }
    }

    #[test]
    fn a_format_1_record_checks_with_the_key_first() {
        let key = keys::event_key(1, "t", 3);
        let value = encode_as(&key, 1, 2, b"payload");
        assert_eq!(decode(&key, &value).ok(), Some((2, &b"payload"[..])));
        let mut stored = value.clone();
        stored[2] = 2;
        assert!(decode(&key, &stored).is_err(), "the order is part of the format");
    }

    #[test]
    fn a_record_under_another_key_is_detected() {
        let value = encode(&keys::event_key(0, "a", 1), 1, b"x");
        assert!(decode(&keys::event_key(0, "b", 1), &value).is_err());
    }

    #[test]
    fn a_start_entry_holds_its_number_under_its_own_key_only() {
        let key = keys::trace_start_key("t.1");
        let value = encode_trace_start(&key, 41);
        assert_eq!(decode_trace_start(&key, &value).ok(), Some(41));
        assert!(decode_trace_start(&keys::trace_start_key("t.2"), &value).is_err());
        let counters = encode_message(&key, KIND_COUNTERS, &Counters::default());
        assert!(decode_trace_start(&key, &counters).is_err(), "another kind");
        // Encoded on the stack, byte for byte the framed message, at every width.
        for first_seq in [0, 1, 127, 128, u64::from(u32::MAX), u64::MAX] {
            let value = encode_trace_start(&key, first_seq);
            assert_eq!(value, encode_message(&key, KIND_TRACE_START, &TraceStart { first_seq }));
            assert_eq!(decode_trace_start(&key, &value).ok(), Some(first_seq));
        }
    }

    #[test]
    fn a_rekeyed_record_checks_out_under_its_new_key_and_keeps_its_format() {
        let (old, new) = (keys::legacy_event_key("t", 5), keys::event_key(4, "t", 5));
        for format in [1, 4] {
            let value = encode_as(&old, format, 1, b"payload");
            let moved = rekey(&old, &new, &value);
            assert_eq!(decode(&new, &moved).ok(), Some((1, &b"payload"[..])));
            assert_eq!(moved[2], format);
        }
        // A damaged record stays damaged: copied as it was.
        let mut damaged = encode(&old, 1, b"payload");
        damaged[9] ^= 0xFF;
        assert_eq!(rekey(&old, &new, &damaged), damaged);
    }

    #[test]
    fn short_newer_and_mistyped_records_are_errors() {
        let key = keys::order_key(1);
        assert!(decode(&key, b"TK\x01").is_err());
        let mut newer = encode(&key, KIND_ORDER, b"");
        newer[2] = FORMAT_VERSION + 1;
        let message = decode(&key, &newer).map(|_| ()).unwrap_err().to_string();
        let expected = format!("format version {}", FORMAT_VERSION + 1);
        assert!(message.contains(&expected), "{message}");
        let order = encode_message(&key, KIND_ORDER, &OrderEntry::default());
        assert!(decode_message::<TsoMark>(&key, &order, KIND_TSO_MARK).is_err());
        assert!(decode_event(&key, &order).is_err());
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn any_bytes_decode_to_a_record_or_an_error(
            key in proptest::collection::vec(any::<u8>(), 0..32),
            value in proptest::collection::vec(any::<u8>(), 0..128),
        ) {
            let _ = decode(&key, &value);
            let _ = decode_event(&key, &value);
            let _ = decode_message::<TraceMeta>(&key, &value, KIND_TRACE_META);
            let _ = peek_format(&value);
        }

        #[test]
        fn a_valid_header_over_garbage_payload_is_an_error_not_a_panic(
            kind in any::<u8>(),
            payload in proptest::collection::vec(any::<u8>(), 0..128),
        ) {
            let key = b"k";
            let value = encode(key, kind, &payload);
            let _ = decode_event(key, &value);
            let _ = decode_message::<Counters>(key, &value, kind);
        }
    }
}
