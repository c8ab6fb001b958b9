//! The key layout: one RocksDB keyspace, partitioned by a leading tag byte.
//!
//! | tag | key | value |
//! |-----|-----|-------|
//! | `0x00` | `0x00 name` | store metadata (format, counters, TSO mark) |
//! | `0x01` | `0x01 trace seq` | one event |
//! | `0x02` | `0x02 trace` | format 1 only: the trace's summary ([`crate::records::TraceMeta`]) |
//! | `0x03` | `0x03 first_seq` | first-seen order: the traces one commit saw first, from `first_seq` on |
//!
//! `trace` is the trace ID as a 4-byte big-endian length followed by its bytes.
//! The length makes the encoding prefix-free: no trace's encoding is a prefix of
//! another's, so a prefix seek over `0x01 trace` can only ever return that
//! trace's events, whatever bytes (`.`, `|`, `\0`, ...) the IDs hold. `seq` and
//! `first_seq` are 8-byte big-endian arrival numbers, so keys sort in arrival order.

/// Tag of store metadata keys.
pub(crate) const TAG_META: u8 = 0x00;
/// Tag of event keys.
pub(crate) const TAG_EVENT: u8 = 0x01;
/// Tag of per-trace summary keys (format 1; dropped on upgrade).
pub(crate) const TAG_TRACE: u8 = 0x02;
/// Tag of first-seen order keys.
pub(crate) const TAG_ORDER: u8 = 0x03;
/// One past the last data tag: truncate removes `[TAG_EVENT, TAG_END)`.
pub(crate) const TAG_END: u8 = 0x04;

/// The longest trace ID the store accepts, in bytes.
pub const MAX_TRACE_ID_LEN: usize = 64 * 1024;

pub(crate) const META_FORMAT: &[u8] = b"\x00format";
pub(crate) const META_COUNTERS: &[u8] = b"\x00counters";
pub(crate) const META_TSO: &[u8] = b"\x00tso";

fn push_trace(key: &mut Vec<u8>, trace_id: &str) {
    // Callers validate the length against MAX_TRACE_ID_LEN, far below u32::MAX.
    let len = u32::try_from(trace_id.len()).unwrap_or(u32::MAX);
    key.extend_from_slice(&len.to_be_bytes());
    key.extend_from_slice(trace_id.as_bytes());
}

/// `0x01 trace`: the prefix every event of the trace shares.
pub(crate) fn event_prefix(trace_id: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(1 + 4 + trace_id.len() + 8);
    key.push(TAG_EVENT);
    push_trace(&mut key, trace_id);
    key
}

/// `0x01 trace seq`, as a new buffer (tests and fault injection; the writer
/// reuses one buffer with [`write_event_key`]).
#[cfg(any(test, feature = "fault-injection"))]
pub(crate) fn event_key(trace_id: &str, seq: u64) -> Vec<u8> {
    let mut key = Vec::with_capacity(1 + 4 + trace_id.len() + 8);
    write_event_key(&mut key, trace_id, seq);
    key
}

/// Writes `0x01 trace seq` into `key`, replacing what it held (no allocation
/// once the buffer is large enough).
pub(crate) fn write_event_key(key: &mut Vec<u8>, trace_id: &str, seq: u64) {
    key.clear();
    key.push(TAG_EVENT);
    push_trace(key, trace_id);
    key.extend_from_slice(&seq.to_be_bytes());
}

/// `0x02 trace`.
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

/// Length of an event key's `0x01 trace` part, if `key` is a well-formed one.
fn event_prefix_len(key: &[u8]) -> Option<usize> {
    if key.first() != Some(&TAG_EVENT) {
        return None;
    }
    let len: [u8; 4] = key.get(1..5)?.try_into().ok()?;
    let end = 5usize.checked_add(u32::from_be_bytes(len) as usize)?;
    (end <= key.len()).then_some(end)
}

/// RocksDB's prefix extractor: an event key's `0x01 trace` part, so that the
/// bloom filters can skip table files without the trace on a query's seek.
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
    Event { trace_id: String, seq: u64 },
    /// A trace summary key.
    Trace { trace_id: String },
    /// A first-seen order key.
    Order { first_seq: u64 },
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
            let (trace_id, rest) = take_trace(rest)?;
            Ok(Key::Event {
                trace_id,
                seq: take_seq(rest)?,
            })
        }
        TAG_TRACE => {
            let (trace_id, rest) = take_trace(rest)?;
            if rest.is_empty() {
                Ok(Key::Trace { trace_id })
            } else {
                Err(KeyError("trailing bytes after the trace ID"))
            }
        }
        TAG_ORDER => Ok(Key::Order {
            first_seq: take_seq(rest)?,
        }),
        _ => Err(KeyError("unknown key tag")),
    }
}

/// A readable rendering of a stored key, for error messages and the dump tool:
/// `event trace="t.1" seq=42`, `trace "t.1"`, `order first_seq=7`, `meta counters`;
/// a key that does not decode shows as hex with the reason.
pub fn describe_key(key: &[u8]) -> String {
    match decode_key(key) {
        Ok(Key::Meta(name)) => format!("meta {}", String::from_utf8_lossy(&name)),
        Ok(Key::Event { trace_id, seq }) => format!("event trace={trace_id:?} seq={seq}"),
        Ok(Key::Trace { trace_id }) => format!("trace {trace_id:?}"),
        Ok(Key::Order { first_seq }) => format!("order first_seq={first_seq}"),
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
                decode_key(&event_key(id, 7)),
                Ok(Key::Event {
                    trace_id: id.to_owned(),
                    seq: 7
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
        assert_eq!(decode_key(META_TSO), Ok(Key::Meta(b"tso".to_vec())));
    }

    #[test]
    fn no_trace_prefix_covers_another_traces_events() {
        let ids = ["t.1", "t.10", "t.1\0x", "t.1\0", "t", "t.1|2", "t.2"];
        for a in ids {
            for b in ids {
                if a != b {
                    assert!(
                        !event_key(b, 0).starts_with(&event_prefix(a)),
                        "{a:?} prefix covers {b:?}"
                    );
                    assert!(!event_key(b, u64::MAX).starts_with(&event_prefix(a)));
                }
            }
        }
    }

    #[test]
    fn writing_an_event_key_into_a_buffer_matches_building_one() {
        let mut buffer = b"leftover bytes from before".to_vec();
        write_event_key(&mut buffer, "t.1", 9);
        assert_eq!(buffer, event_key("t.1", 9));
    }

    #[test]
    fn events_of_a_trace_sort_in_arrival_order() {
        let mut keys: Vec<_> = [300u64, 2, 1 << 40, 17].map(|seq| event_key("t", seq)).into();
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
    fn prefix_end_bounds_exactly_the_prefix() {
        let prefix = event_prefix("t.1");
        let end = prefix_end(&prefix);
        assert!(event_key("t.1", u64::MAX) < end);
        assert!(prefix < end);
        assert_eq!(prefix_end(&[1, 0xFF, 0xFF]), vec![2]);
    }

    #[test]
    fn the_prefix_extractor_takes_the_trace_part_of_event_keys_only() {
        let key = event_key("t.1", 42);
        assert_eq!(event_key_prefix(&key), event_prefix("t.1").as_slice());
        assert_eq!(event_key_prefix(&event_prefix("t.1")), event_prefix("t.1").as_slice());
        assert!(has_event_key_prefix(&key) && has_event_key_prefix(&event_prefix("")));
        for other in [
            trace_key("t.1"),
            order_key(3),
            META_TSO.to_vec(),
            vec![TAG_EVENT, 0, 0, 0, 9],
        ] {
            assert!(!has_event_key_prefix(&other), "{other:?}");
        }
    }

    #[test]
    fn malformed_keys_are_errors() {
        for key in [
            &[][..],
            &[0x09],
            &[TAG_EVENT, 0, 0],
            &[TAG_EVENT, 0, 0, 0, 9, b'a'],
            &[TAG_EVENT, 0, 0, 0, 1, b'a', 1, 2],
            &[TAG_TRACE, 0, 0, 0, 1, 0xFF],
            &[TAG_TRACE, 0, 0, 0, 0, 1],
            &[TAG_ORDER, 1],
        ] {
            assert!(decode_key(key).is_err(), "{key:?}");
            assert!(describe_key(key).starts_with("key 0x"));
        }
        assert_eq!(describe_key(&event_key("t.1", 3)), r#"event trace="t.1" seq=3"#);
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
        fn any_trace_id_and_seq_round_trip(trace_id in ".{0,40}", seq in any::<u64>()) {
            prop_assert_eq!(
                decode_key(&event_key(&trace_id, seq)),
                Ok(Key::Event { trace_id: trace_id.clone(), seq })
            );
            prop_assert!(event_key(&trace_id, seq).starts_with(&event_prefix(&trace_id)));
        }

        #[test]
        fn distinct_trace_ids_never_share_an_event_prefix(a in ".{0,12}", b in ".{0,12}", seq in any::<u64>()) {
            prop_assume!(a != b);
            prop_assert!(!event_key(&b, seq).starts_with(&event_prefix(&a)));
        }
    }
}
