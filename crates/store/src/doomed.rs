//! What deleting traces reads first: every event of each doomed trace, for
//! the span index entries and counters its deletion takes out.
//!
//! One trace is found by its start entry (a client's delete). Retention and
//! the disk bound delete many traces in first-seen order, which is the order
//! of the event keys (`0x0A first_seq trace seq`), so they read them with one
//! forward walk over the traces' events instead of one scan per trace: on a
//! bucket each new scan costs about a millisecond of reads, and per-trace
//! scans made a retention sweep cost several per trace
//! (`docs/benchmarks.md`, "Retention on a bucket").

use std::collections::HashMap;

use tracekeep_proto::{EventKind, TraceEvent};

use crate::engine::{EngineIter, EngineRead, KeyRange};
use crate::error::{Result, StoreError};
use crate::keys::{self, EventKeyParts};
use crate::reads::read_start;
use crate::records;
use crate::span_index;

/// A walk over many traces' events reads a trace's events one by one up to
/// this many, then jumps to its newest with a seek: a long-lived trace costs
/// two seeks, not a walk over all of it.
const WALK_BEFORE_JUMP: usize = 64;

/// What a delete needs to know of the trace: read from its events, since
/// deletes are rare and appends keep no per-trace summary.
pub(crate) struct Doomed {
    /// The trace's first-seen number.
    pub first_seq: u64,
    pub last_event_seq: u64,
    pub events_by_kind: Vec<(u32, u64)>,
    /// The span index entries of its spans.
    pub index: span_index::IndexEntries,
}

impl Doomed {
    fn new(first_seq: u64) -> Doomed {
        Doomed {
            first_seq,
            last_event_seq: 0,
            events_by_kind: Vec::new(),
            index: span_index::IndexEntries::default(),
        }
    }

    /// Counts one event of the trace (numbered `seq`, stored as `key`, `value`).
    fn add(&mut self, trace_id: &str, seq: u64, key: &[u8], value: &[u8]) {
        self.last_event_seq = seq;
        // The kind from the header even if the record is damaged: deleting a
        // damaged trace is how an operator gets rid of it.
        let Some(kind) = records::peek_kind(value) else { return };
        let kind = u32::from(kind);
        match self.events_by_kind.iter_mut().find(|(code, _)| *code == kind) {
            Some((_, count)) => *count += 1,
            None => self.events_by_kind.push((kind, 1)),
        }
        // A damaged span's entries cannot be recomputed; searches skip them
        // once the trace is gone, and verify names them.
        if kind == u32::from(EventKind::Span.code())
            && let Ok(TraceEvent::Span(span)) = records::decode_event(key, value)
        {
            self.index.add_span(&span, trace_id);
        }
    }
}

/// The trace `trace_id` as its deletion needs it, `None` when it has no events.
pub(crate) fn doomed_trace(db: &dyn EngineRead, trace_id: &str) -> Result<Option<Doomed>> {
    let Some(first_seq) = read_start(db, trace_id)? else {
        return Ok(None);
    };
    let prefix = keys::event_prefix(first_seq, trace_id);
    let mut iter = crate::reads::trace_events(db, &prefix);
    let mut doomed: Option<Doomed> = None;
    while let Some((key, value)) = iter.item() {
        let seq = crate::reads::event_seq(&prefix, key)?;
        doomed
            .get_or_insert_with(|| Doomed::new(first_seq))
            .add(trace_id, seq, key, value);
        iter.next();
    }
    iter.status()
        .map_err(|error| StoreError::engine_at(&keys::trace_key(trace_id), "reading a trace to delete", error))?;
    Ok(doomed)
}

/// Traces one walk found doomed, and event key ranges `[from, to)` that
/// together hold exactly their events (adjacent doomed traces share one).
#[derive(Default)]
pub(crate) struct DoomedTraces {
    pub traces: Vec<(String, Doomed)>,
    pub event_ranges: Vec<(Vec<u8>, Vec<u8>)>,
}

/// Those of `wanted` (trace, first-seen number) whose events are all
/// numbered below `before_seq`, read with one forward walk over their events
/// (plus a seek past each trace that is not wanted or not doomed). A wanted
/// trace without events under that first-seen number (deleted since, or
/// never there) is left out.
pub(crate) fn doomed_in_order(db: &dyn EngineRead, wanted: &[(String, u64)], before_seq: u64) -> Result<DoomedTraces> {
    let mut found = DoomedTraces::default();
    let mut by_first_seq: HashMap<u64, &str> = HashMap::with_capacity(wanted.len());
    for (trace_id, first_seq) in wanted {
        by_first_seq.insert(*first_seq, trace_id);
    }
    let mut first_seqs: Vec<u64> = by_first_seq.keys().copied().collect();
    first_seqs.sort_unstable();
    let (Some(&lowest), Some(&highest)) = (first_seqs.first(), first_seqs.last()) else {
        return Ok(found);
    };
    let upper = match highest.checked_add(1) {
        Some(past) => keys::events_from(past),
        None => vec![keys::TAG_EVENT + 1],
    };
    let mut iter = db.iter(KeyRange {
        once: true,
        ..KeyRange::between(keys::events_from(lowest), upper)
    });
    iter.seek(&keys::events_from(lowest));
    // The trace whose events the walk is in, while it may be doomed.
    let mut current: Option<(Vec<u8>, &str, Doomed)> = None;
    let mut range = DoomedRange::default();
    while let Some((key, value)) = iter.item() {
        let parts = event_parts(key)?;
        if current
            .as_ref()
            .is_none_or(|(prefix, _, _)| prefix.as_slice() != parts.prefix)
        {
            // A new trace: the one before it ended doomed.
            if let Some((prefix, trace_id, doomed)) = current.take() {
                range.extend(&prefix);
                found.traces.push((trace_id.to_owned(), doomed));
            }
            current = match by_first_seq.get(&parts.first_seq) {
                Some(&trace_id) if trace_id.as_bytes() == parts.trace_id => {
                    Some((parts.prefix.to_vec(), trace_id, Doomed::new(parts.first_seq)))
                }
                _ => None,
            };
        }
        let Some((_, trace_id, doomed)) = current.as_mut().filter(|_| parts.seq < before_seq) else {
            // Not asked for, or an event after the horizon: the trace stays,
            // and ends the range of doomed events before it.
            current = None;
            range.close(&mut found);
            match seek_past(&parts, &first_seqs) {
                Some(next) => iter.seek(&next),
                None => break,
            }
            continue;
        };
        doomed.add(trace_id, parts.seq, key, value);
        iter.next();
    }
    iter.status()
        .map_err(|error| StoreError::engine_at(&keys::events_from(lowest), "reading traces to delete", error))?;
    if let Some((prefix, trace_id, doomed)) = current.take() {
        range.extend(&prefix);
        found.traces.push((trace_id.to_owned(), doomed));
    }
    range.close(&mut found);
    Ok(found)
}

/// Event keys from `start` up to `end` that a walk found all doomed.
#[derive(Default)]
struct DoomedRange {
    start: Option<Vec<u8>>,
    end: Vec<u8>,
}

impl DoomedRange {
    /// Takes in the events of the doomed trace under `prefix`, the next the
    /// walk found after the range's last.
    fn extend(&mut self, prefix: &[u8]) {
        self.start.get_or_insert_with(|| prefix.to_vec());
        self.end = keys::prefix_end(prefix);
    }

    /// Ends the range, if it holds any trace, at a trace that stays.
    fn close(&mut self, found: &mut DoomedTraces) {
        if let Some(start) = self.start.take() {
            found.event_ranges.push((start, std::mem::take(&mut self.end)));
        }
    }
}

/// Where a walk over `first_seqs`' traces goes on after the trace of
/// `parts`: the next wanted trace's first event, `None` past the last.
fn seek_past(parts: &EventKeyParts<'_>, first_seqs: &[u64]) -> Option<Vec<u8>> {
    let next = first_seqs.get(first_seqs.partition_point(|&first_seq| first_seq <= parts.first_seq))?;
    Some(keys::events_from(*next))
}

/// Up to `limit` traces, oldest first-seen first, whose events all arrived
/// before `before_seq` (with their first-seen numbers), and whether more may
/// follow. One forward walk over the events of the traces first seen from
/// `oldest` (the oldest trace's first-seen number) to `before_seq`; a trace
/// with an event after it (still in use) is passed over, so traces kept
/// alive cannot fill a pass. Starting at the oldest trace rather than at the
/// first event key matters: the keys of the traces deleted before it stay
/// behind as deletion markers until compaction, and a walk over them grew
/// with every pass of a sweep.
pub(crate) fn expired_traces(
    db: &dyn EngineRead,
    oldest: u64,
    before_seq: u64,
    limit: usize,
) -> Result<(Vec<(String, u64)>, bool)> {
    let mut expired = Vec::new();
    let mut iter = db.iter(KeyRange {
        once: true,
        ..KeyRange::between(keys::events_from(oldest), keys::events_from(before_seq))
    });
    iter.seek_to_first();
    // The trace the walk is in: its prefix, ID, first-seen number, events read.
    let mut current: Option<(Vec<u8>, String, u64, usize)> = None;
    let mut more = false;
    while let Some((key, _)) = iter.item() {
        let parts = event_parts(key)?;
        if current
            .as_ref()
            .is_none_or(|(prefix, ..)| prefix.as_slice() != parts.prefix)
        {
            if let Some((_, trace_id, first_seq, _)) = current.take() {
                expired.push((trace_id, first_seq));
            }
            if expired.len() >= limit {
                more = true;
                break;
            }
            let trace_id = std::str::from_utf8(parts.trace_id)
                .map_err(|_| StoreError::corrupted(key, "event key's trace ID is not UTF-8"))?;
            current = Some((parts.prefix.to_vec(), trace_id.to_owned(), parts.first_seq, 0));
        }
        let Some((prefix, _, _, read)) = current.as_mut() else {
            break;
        };
        *read += 1;
        if parts.seq >= before_seq {
            // Still in use: kept, and the walk goes on after it.
            let past = keys::prefix_end(prefix);
            current = None;
            iter.seek(&past);
        } else if *read == WALK_BEFORE_JUMP {
            let past = keys::prefix_end(prefix);
            iter.seek_for_prev(&past);
            status(&*iter)?;
            let newest = iter.key().and_then(keys::split_event_key);
            if newest.is_none_or(|newest| newest.prefix != prefix.as_slice() || newest.seq >= before_seq) {
                current = None;
            }
            iter.seek(&past);
        } else {
            iter.next();
        }
    }
    status(&*iter)?;
    if let Some((_, trace_id, first_seq, _)) = current.take() {
        expired.push((trace_id, first_seq));
    }
    Ok((expired, more))
}

/// An event key taken apart; anything else under the event tag is corruption.
fn event_parts(key: &[u8]) -> Result<EventKeyParts<'_>> {
    keys::split_event_key(key).ok_or_else(|| StoreError::corrupted(key, "malformed event key"))
}

fn status(iter: &dyn EngineIter) -> Result<()> {
    iter.status()
        .map_err(|error| StoreError::engine_at(&[keys::TAG_EVENT], "reading traces to expire", error))
}

#[cfg(test)]
#[path = "doomed_tests.rs"]
mod tests;
