//! A full consistency check of a store, for `tracekeep-dump verify`.
//!
//! One pass over the keyspace under a snapshot, in key order, checking:
//! - every record's header, CRC and payload;
//! - every event's `base.traceID` matches its key;
//! - every trace's first event has the first-seen entry just before it, and
//!   every first-seen entry names a trace whose first event is just after it;
//! - (format 5) every trace's start entry holds its first-seen number, and
//!   every start entry names a trace with events;
//! - the store-wide counters match what was found (traces, events by kind,
//!   every event TSO inside the recorded range), and every arrival number is
//!   below the next one to be handed out;
//! - the span index holds exactly the entries the stored spans call for,
//!   term sets included: each trace's expected entries are recomputed from
//!   its spans and summed as 64-bit hashes of key and value, and the sum (and
//!   count) must equal that of the entries found. Only on a mismatch does a second pass name the entries that are
//!   missing or have no span, keeping the expected entries while it runs.
//!
//! Memory stays constant: each first-seen entry is checked with one seek to
//! its trace's first event, and the traces with events are counted, not kept.
//! Only when more traces have events than valid first-seen entries does a
//! second pass name the orphans, keeping 8 bytes per trace while it runs.

use std::collections::{BTreeMap, HashSet};
use std::hash::{Hash as _, Hasher as _};

use tracekeep_proto::TraceEvent;

use crate::engine::{EngineIter, EngineRead, KeyRange};
use crate::error::{Result, StoreError};
use crate::keys::{self, Key};
use crate::order;
use crate::records::{self, Counters};
use crate::span_index;
use crate::store::Store;

/// One problem found by [`Store::verify`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// The key concerned, readable (see [`crate::describe_key`]).
    pub key: String,
    /// What is wrong.
    pub description: String,
}

/// What [`Store::verify`] checked.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VerifyReport {
    /// Records read.
    pub records: u64,
    /// Event records among them.
    pub events: u64,
    /// Traces in first-seen order.
    pub traces: u64,
    /// Problems found.
    pub problems: u64,
}

/// The trace and arrival number of an event key of either layout.
fn event_trace_and_seq(key: &[u8]) -> Option<(String, u64)> {
    match keys::decode_key(key) {
        Ok(Key::Event { trace_id, seq, .. } | Key::LegacyEvent { trace_id, seq }) => Some((trace_id, seq)),
        _ => None,
    }
}

/// Whether tallied counts agree with recorded ones. Damaged records cannot be
/// attributed to a kind (their header is not trusted), so with damage present
/// only the totals are compared: the damage itself is already reported.
fn counts_agree(recorded: &BTreeMap<u32, u64>, tallied: &BTreeMap<u32, u64>, damaged: u64) -> bool {
    let recorded: BTreeMap<_, _> = recorded.iter().filter(|(_, count)| **count > 0).collect();
    let tallied_nonzero: BTreeMap<_, _> = tallied.iter().filter(|(_, count)| **count > 0).collect();
    if damaged == 0 {
        recorded == tallied_nonzero
    } else {
        recorded.values().copied().sum::<u64>() == tallied.values().sum::<u64>() + damaged
    }
}

struct Pass<'s, 'p> {
    store: &'s Store,
    view: &'s dyn EngineRead,
    report: VerifyReport,
    on_problem: &'p mut dyn FnMut(&Problem),
    found: Counters,
    damaged_events: u64,
    max_seq: Option<u64>,
    /// The trace the pass is in.
    current_trace: Option<String>,
    /// Traces with events.
    traces_with_events: u64,
    /// First-seen entries whose trace's first event is just after them.
    linked_entries: u64,
    /// Start entries (format 5), and those a first-seen entry agrees with.
    starts: u64,
    linked_starts: u64,
    /// Reused for the first-event seeks.
    events: Option<Box<dyn EngineIter + 's>>,
    /// The span index entries the current trace's spans call for.
    trace_index: span_index::IndexEntries,
    /// Entries the spans call for, and entries found: count and hash sum.
    index_expected: IndexTally,
    index_found: IndexTally,
}

/// A multiset of span index keys in constant space: how many, and the sum
/// of their hashes (order does not matter, so two walks in different orders
/// compare).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct IndexTally {
    count: u64,
    sum: u64,
}

impl IndexTally {
    /// Adds an entry: its key and its value (a term set, or empty).
    fn add(&mut self, key: &[u8], value: &[u8]) {
        let mut hasher = std::hash::DefaultHasher::new();
        key.hash(&mut hasher);
        value.hash(&mut hasher);
        self.count += 1;
        self.sum = self.sum.wrapping_add(hasher.finish());
    }
}

impl<'s> Pass<'s, '_> {
    fn problem(&mut self, key: &[u8], description: impl Into<String>) {
        self.problem_named(keys::describe_key(key), description);
    }

    fn problem_named(&mut self, key: String, description: impl Into<String>) {
        self.report.problems += 1;
        (self.on_problem)(&Problem {
            key,
            description: description.into(),
        });
    }

    fn report_error(&mut self, error: StoreError) {
        match error {
            StoreError::Corrupted { key, reason } => self.problem_named(key, reason),
            other => self.problem_named("(store)".into(), other.to_string()),
        }
    }

    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.view
            .get(key)
            .map_err(|error| StoreError::engine_at(key, "verifying", error))
    }

    fn see_seq(&mut self, seq: u64) {
        self.max_seq = Some(self.max_seq.map_or(seq, |max| max.max(seq)));
    }

    /// The arrival number of the first event of the trace first seen at
    /// `first_seq`, if it has one.
    fn first_event_seq(&mut self, trace_id: &str, first_seq: u64) -> Result<Option<u64>> {
        let prefix = self.store.prefix_at(trace_id, first_seq);
        let (view, tag) = (self.view, self.event_tag());
        let iter = self
            .events
            .get_or_insert_with(|| view.iter(KeyRange::between([tag], [tag + 1])));
        iter.seek(&prefix);
        iter.status()
            .map_err(|error| StoreError::engine_at(&prefix, "verifying", error))?;
        Ok(iter.key().and_then(|key| keys::seq_after(&prefix, key)))
    }

    fn check_event(&mut self, key: &[u8], value: &[u8], trace_id: String, seq: u64) {
        self.report.events += 1;
        self.see_seq(seq);
        if self.current_trace.as_ref() != Some(&trace_id) {
            self.end_trace();
            self.traces_with_events += 1;
            self.current_trace = Some(trace_id.clone());
        }
        match records::decode_event(key, value) {
            Err(error) => {
                self.damaged_events += 1;
                self.report_error(error);
            }
            Ok(event) => {
                let code = u32::from(event.kind().code());
                *self.found.events_by_kind.entry(code).or_default() += 1;
                self.found.widen_tso_range(event.tso());
                if event.trace_id() != Some(trace_id.as_str()) {
                    self.problem(key, format!("the event's base.traceID is {:?}", event.trace_id()));
                }
                if let TraceEvent::Span(span) = &event {
                    self.trace_index.add_span(span, &trace_id);
                    // Attributes kept once, in the tags, must come back.
                    if let Err(error) = span.otlp_form() {
                        self.problem(key, error.to_string());
                    }
                }
            }
        }
    }

    /// Tallies the entries the finished trace's spans call for.
    fn end_trace(&mut self) {
        for (key, value) in std::mem::take(&mut self.trace_index).into_stored() {
            self.index_expected.add(&key, &value);
        }
    }

    fn check_span_index(&mut self, key: &[u8], value: &[u8]) {
        self.index_found.add(key, value);
    }

    fn check_tag_value(&mut self, key: &[u8], value: &[u8]) {
        if !value.is_empty() {
            self.problem(
                key,
                format!("a tag value entry holds {} bytes; it should hold none", value.len()),
            );
        }
    }

    /// Names the span index entries that differ from what the spans call
    /// for: one pass over the events for the expected entries, one over the index.
    fn name_index_differences(&mut self) -> Result<()> {
        let mut expected = span_index::IndexEntries::default();
        let (tag, mut iter) = self.all_events()?;
        while let Some((key, value)) = iter.item() {
            if let Some((trace_id, _)) = event_trace_and_seq(key)
                && let Ok(TraceEvent::Span(span)) = records::decode_event(key, value)
            {
                expected.add_span(&span, &trace_id);
            }
            iter.next();
        }
        iter.status()
            .map_err(|error| StoreError::engine_at(&[tag], "verifying", error))?;
        let mut expected: std::collections::HashMap<Vec<u8>, Vec<u8>> = expected.into_stored().collect();
        let view = self.view;
        let mut iter = view.iter(KeyRange::between([keys::TAG_SPAN_TIME], [keys::TAG_TAG_VALUE]));
        iter.seek_to_first();
        while let Some((key, value)) = iter.item() {
            match expected.remove(key) {
                None => {
                    let key = key.to_vec();
                    self.problem(&key, "a span index entry no stored span calls for");
                }
                Some(wanted) if wanted != value => {
                    let key = key.to_vec();
                    self.problem(&key, "a span index entry's term set differs from its spans' terms");
                }
                Some(_) => {}
            }
            iter.next();
        }
        iter.status()
            .map_err(|error| StoreError::engine_at(&[keys::TAG_SPAN_TIME], "verifying", error))?;
        let mut missing: Vec<_> = expected.into_keys().collect();
        missing.sort();
        for key in missing {
            self.problem(&key, "a stored span's index entry is missing");
        }
        Ok(())
    }

    fn check_summary(&mut self, key: &[u8]) {
        // Format 1 kept a summary per trace; opening the store read-write drops them.
        if self.store.format() >= 2 {
            self.problem(key, "a format-1 trace summary in a format-2 store");
        }
    }

    fn check_order(&mut self, key: &[u8], value: &[u8], key_seq: u64) {
        let items = match order::decode(key, key_seq, value) {
            Ok(items) => items,
            Err(error) => return self.report_error(error),
        };
        for item in items {
            self.report.traces += 1;
            self.found.traces += 1;
            self.see_seq(item.first_seq);
            self.check_start_of(key, &item.trace_id, item.first_seq);
            match self.first_event_seq(&item.trace_id, item.first_seq) {
                Err(error) => self.report_error(error),
                Ok(None) => self.problem(key, format!("dangling: trace {:?} has no events", item.trace_id)),
                Ok(Some(seq)) if Some(seq) != item.first_seq.checked_add(1) => self.problem(
                    key,
                    format!(
                        "trace {:?} was first seen at {}, but its first event is {seq}",
                        item.trace_id, item.first_seq
                    ),
                ),
                Ok(Some(_)) => self.linked_entries += 1,
            }
        }
    }

    /// Names the traces with events but no valid first-seen entry: one pass
    /// over first-seen order for its numbers, one over the events.
    fn name_orphans(&mut self) -> Result<()> {
        let mut first_seqs = HashSet::new();
        let view = self.view;
        let mut iter = view.iter(KeyRange::between([keys::TAG_ORDER], [keys::ORDER_END]));
        iter.seek_to_first();
        while let Some((key, value)) = iter.item() {
            if let Ok(Key::Order { first_seq }) = keys::decode_key(key)
                && let Ok(items) = order::decode(key, first_seq, value)
            {
                first_seqs.extend(items.into_iter().map(|item| item.first_seq));
            }
            iter.next();
        }
        iter.status()
            .map_err(|error| StoreError::engine_at(&[keys::TAG_ORDER], "verifying", error))?;
        let (tag, mut iter) = self.all_events()?;
        let mut current: Option<String> = None;
        while let Some(key) = iter.key() {
            if let Some((trace_id, seq)) = event_trace_and_seq(key)
                && current.as_ref() != Some(&trace_id)
            {
                let first_seq = seq.saturating_sub(1);
                if !first_seqs.contains(&first_seq) {
                    let key = key.to_vec();
                    self.problem(
                        &key,
                        format!("events with no first-seen entry at first_seq={first_seq} (orphans)"),
                    );
                }
                current = Some(trace_id);
            }
            iter.next();
        }
        iter.status()
            .map_err(|error| StoreError::engine_at(&[tag], "verifying", error))
    }

    /// An iterator over every event, in key order under the pass's snapshot,
    /// positioned at the first, and the tag of the store's event keys.
    fn all_events(&self) -> Result<(u8, Box<dyn EngineIter + 's>)> {
        let (view, tag) = (self.view, self.event_tag());
        let mut iter = view.iter(KeyRange::between([tag], [tag + 1]));
        iter.seek_to_first();
        Ok((tag, iter))
    }

    /// The tag of the store's event keys: `0x0A` since format 5, `0x01` before.
    fn event_tag(&self) -> u8 {
        if self.store.format() >= 5 {
            keys::TAG_EVENT
        } else {
            keys::TAG_LEGACY_EVENT
        }
    }

    /// Checks (format 5) that the trace named by a first-seen entry at `key`
    /// has a start entry holding `first_seq`.
    fn check_start_of(&mut self, key: &[u8], trace_id: &str, first_seq: u64) {
        if self.store.format() < 5 {
            return;
        }
        let start_key = keys::trace_start_key(trace_id);
        let start = match self.get(&start_key) {
            Err(error) => return self.report_error(error),
            Ok(None) => return self.problem(key, format!("trace {trace_id:?} has no start entry")),
            Ok(Some(value)) => records::decode_trace_start(&start_key, &value),
        };
        match start {
            // A damaged start entry is reported where the pass reads it.
            Err(_) => {}
            Ok(start) if start != first_seq => self.problem(
                &start_key,
                format!("says the trace was first seen at {start}, first-seen order says {first_seq}"),
            ),
            Ok(_) => self.linked_starts += 1,
        }
    }

    /// A start entry: a valid record. Whether a first-seen entry agrees with
    /// it is checked from the first-seen side, and counted: only when fewer
    /// agree than there are start entries does a second pass name the rest.
    fn check_start(&mut self, key: &[u8], value: &[u8]) {
        if self.store.format() < 5 {
            return self.problem(
                key,
                format!("a format-5 start entry in a format-{} store", self.store.format()),
            );
        }
        self.starts += 1;
        if let Err(error) = records::decode_trace_start(key, value) {
            self.report_error(error);
        }
    }

    /// Names the start entries of traces that have no events where they say.
    fn name_stray_starts(&mut self) -> Result<()> {
        let view = self.view;
        let mut iter = view.iter(KeyRange::between([keys::TAG_TRACE_START], [keys::TAG_TRACE_START + 1]));
        iter.seek_to_first();
        while let Some((key, value)) = iter.item() {
            if let Ok(Key::TraceStart { trace_id }) = keys::decode_key(key)
                && let Ok(first_seq) = records::decode_trace_start(key, value)
                && self.first_event_seq(&trace_id, first_seq)?.is_none()
            {
                self.problem(key, "the trace has no events under this start");
            }
            iter.next();
        }
        iter.status()
            .map_err(|error| StoreError::engine_at(&[keys::TAG_TRACE_START], "verifying", error))
    }

    fn check_meta(&mut self, key: &[u8], value: &[u8]) {
        let kind = match key {
            keys::META_FORMAT => records::KIND_FORMAT,
            keys::META_COUNTERS => records::KIND_COUNTERS,
            keys::META_TSO => records::KIND_TSO_MARK,
            keys::META_TRUNCATED => records::KIND_CLUSTER_MARK,
            _ if key.starts_with(keys::META_DELETED_PREFIX) => records::KIND_CLUSTER_MARK,
            _ if key.starts_with(keys::META_DELETE_LOG_PREFIX) => records::KIND_CLUSTER_MARK,
            _ if keys::clock_minute(key).is_some() => records::KIND_CLOCK_MARK,
            _ => return self.problem(key, "unknown metadata key"),
        };
        if let Err(error) = records::decode(key, value).and_then(|(found, _)| {
            if found == kind {
                Ok(())
            } else {
                Err(StoreError::corrupted(
                    key,
                    format!("record kind {found} where kind {kind} belongs"),
                ))
            }
        }) {
            self.report_error(error);
        }
    }

    /// Checks one record, by what its key says it is.
    fn check_record(&mut self, key: &[u8], value: &[u8]) {
        let format = self.store.format();
        match keys::decode_key(key) {
            Err(error) => self.problem(key, format!("undecodable key: {error}")),
            Ok(Key::Meta(_)) => self.check_meta(key, value),
            Ok(Key::Event { trace_id, seq, .. }) if self.event_tag() == keys::TAG_EVENT => {
                self.check_event(key, value, trace_id, seq)
            }
            Ok(Key::LegacyEvent { trace_id, seq }) if self.event_tag() == keys::TAG_LEGACY_EVENT => {
                self.check_event(key, value, trace_id, seq)
            }
            Ok(Key::Event { .. } | Key::LegacyEvent { .. }) => self.problem(
                key,
                format!("an event key of another format in a format-{format} store"),
            ),
            Ok(Key::TraceStart { .. }) => self.check_start(key, value),
            Ok(Key::Trace { .. }) => self.check_summary(key),
            Ok(Key::Order { first_seq }) => self.check_order(key, value, first_seq),
            Ok(Key::SpanIndex { .. }) => self.check_span_index(key, value),
            Ok(Key::TagValue { .. }) => self.check_tag_value(key, value),
        }
    }

    fn finish(&mut self, stored: Counters) {
        self.end_trace();
        // Format 2 kept no span index (opening it read-write builds one).
        if self.store.format() >= 3
            && self.index_expected != self.index_found
            && let Err(error) = self.name_index_differences()
        {
            self.report_error(error);
        }
        if self.traces_with_events > self.linked_entries
            && let Err(error) = self.name_orphans()
        {
            self.report_error(error);
        }
        if self.starts > self.linked_starts
            && let Err(error) = self.name_stray_starts()
        {
            self.report_error(error);
        }
        if stored.traces != self.found.traces {
            self.problem(
                keys::META_COUNTERS,
                format!("counts {} traces, the store holds {}", stored.traces, self.found.traces),
            );
        }
        if !counts_agree(&stored.events_by_kind, &self.found.events_by_kind, self.damaged_events) {
            self.problem(
                keys::META_COUNTERS,
                format!(
                    "counts {:?} events by kind, the store holds {:?}",
                    stored.events_by_kind, self.found.events_by_kind
                ),
            );
        }
        let (found, stored_range) = (&self.found, (stored.min_tso, stored.max_tso));
        // Format 1 kept the range in its summaries, not the counters.
        let outside = self.store.format() >= 2
            && found.min_tso != 0
            && (found.min_tso < stored.min_tso || found.max_tso > stored.max_tso);
        if outside {
            let found_range = (found.min_tso, found.max_tso);
            self.problem(
                keys::META_COUNTERS,
                format!("records TSO range {stored_range:?}, but events span {found_range:?}"),
            );
        }
        if let Some(max_seq) = self.max_seq
            && max_seq >= stored.next_seq
        {
            self.problem(
                keys::META_COUNTERS,
                format!(
                    "next_seq {} is not above arrival number {max_seq} in use",
                    stored.next_seq
                ),
            );
        }
    }
}

impl Store {
    /// Checks every record and index entry, calling `on_problem` for each
    /// problem and `on_progress` with the number of records read so far
    /// (every 10 000 records). Never changes the store.
    ///
    /// Errors only if the pass cannot run at all; damage is reported through
    /// `on_problem` and counted in the report.
    pub fn verify(
        &self,
        mut on_problem: impl FnMut(&Problem),
        mut on_progress: impl FnMut(u64),
    ) -> Result<VerifyReport> {
        let snapshot = self.engine().snapshot();
        let stored = {
            let value = snapshot
                .get(keys::META_COUNTERS)
                .map_err(|error| StoreError::engine_at(keys::META_COUNTERS, "verifying", error))?;
            value.and_then(|value| {
                records::decode_message::<Counters>(keys::META_COUNTERS, &value, records::KIND_COUNTERS).ok()
            })
        };
        let mut pass = Pass {
            store: self,
            view: &*snapshot,
            report: VerifyReport::default(),
            on_problem: &mut on_problem,
            found: Counters::default(),
            damaged_events: 0,
            max_seq: None,
            current_trace: None,
            traces_with_events: 0,
            linked_entries: 0,
            starts: 0,
            linked_starts: 0,
            events: None,
            trace_index: span_index::IndexEntries::default(),
            index_expected: IndexTally::default(),
            index_found: IndexTally::default(),
        };
        if pass.get(keys::META_FORMAT)?.is_none() {
            pass.problem(keys::META_FORMAT, "the format record is missing");
        }
        // Every key, in three ranges: below the events, above them, then the
        // events (format 5). One trace's events are together wherever they
        // are, so each trace is checked as it ends.
        let ranges = [
            KeyRange::between([], [keys::TAG_EVENT]),
            KeyRange::from([keys::TAG_EVENT + 1]),
            KeyRange::between([keys::TAG_EVENT], [keys::TAG_EVENT + 1]),
        ];
        for range in ranges {
            let mut iter = snapshot.iter(KeyRange { once: true, ..range });
            iter.seek_to_first();
            while let Some((key, value)) = iter.item() {
                pass.report.records += 1;
                if pass.report.records.is_multiple_of(10_000) {
                    on_progress(pass.report.records);
                }
                pass.check_record(key, value);
                iter.next();
            }
            if let Err(error) = iter.status() {
                pass.problem_named(
                    "(storage engine)".into(),
                    format!("the pass stopped early: {}", error.message),
                );
            }
        }
        match stored {
            Some(stored) => pass.finish(stored),
            None => pass.problem(keys::META_COUNTERS, "the counters record is missing or damaged"),
        }
        Ok(pass.report)
    }
}
