//! A full consistency check of a store, for `tracekeep-dump verify`.
//!
//! One pass over the keyspace under a snapshot, in key order, checking:
//! - every record's header, CRC and payload;
//! - every event's `base.traceID` matches its key;
//! - every trace's first event has the first-seen entry just before it, and
//!   every first-seen entry names a trace whose first event is just after it;
//! - the store-wide counters match what was found (traces, events by kind,
//!   every event TSO inside the recorded range), and every arrival number is
//!   below the next one to be handed out.
//!
//! Memory stays constant: cross-references are point lookups, and the events
//! of one trace are tallied only while the pass is inside that trace.

use std::collections::BTreeMap;

use crate::error::{Result, StoreError};
use crate::keys::{self, Key};
use crate::order;
use crate::records::{self, Counters};
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

/// The trace the pass is in: its ID and first event.
struct TraceTally {
    trace_id: String,
    key: Vec<u8>,
    first_seq: u64,
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
    snapshot: &'s rocksdb::Snapshot<'s>,
    report: VerifyReport,
    on_problem: &'p mut dyn FnMut(&Problem),
    found: Counters,
    damaged_events: u64,
    max_seq: Option<u64>,
    tally: Option<TraceTally>,
}

impl Pass<'_, '_> {
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
        self.store
            .db()
            .get_opt(key, &Store::read_options(Some(self.snapshot)))
            .map_err(|error| StoreError::engine_at(key, "verifying", error))
    }

    fn see_seq(&mut self, seq: u64) {
        self.max_seq = Some(self.max_seq.map_or(seq, |max| max.max(seq)));
    }

    /// Checks that the trace just left has its first-seen entry.
    fn close_trace(&mut self) {
        let Some(tally) = self.tally.take() else { return };
        let first_seq = tally.first_seq.saturating_sub(1);
        match self.order_items_at(first_seq) {
            Err(error) => self.report_error(error),
            Ok(items)
                if items
                    .iter()
                    .any(|item| item.first_seq == first_seq && item.trace_id == tally.trace_id) => {}
            Ok(_) => self.problem(
                &tally.key,
                format!("events with no first-seen entry at first_seq={first_seq} (orphans)"),
            ),
        }
    }

    /// The items of the order record that would hold `first_seq`.
    fn order_items_at(&self, first_seq: u64) -> Result<Vec<order::OrderItem>> {
        let mut options = Store::read_options(Some(self.snapshot));
        options.set_iterate_lower_bound(vec![keys::TAG_ORDER]);
        options.set_iterate_upper_bound(vec![keys::TAG_END]);
        let mut iter = self.store.db().raw_iterator_opt(options);
        iter.seek_for_prev(keys::order_key(first_seq));
        iter.status()
            .map_err(|error| StoreError::engine_at(&keys::order_key(first_seq), "verifying", error))?;
        let Some((key, value)) = iter.item() else {
            return Ok(Vec::new());
        };
        match keys::decode_key(key) {
            Ok(Key::Order { first_seq: key_seq }) => order::decode(key, key_seq, value),
            _ => Ok(Vec::new()),
        }
    }

    /// The arrival number of the trace's first event, if it has one.
    fn first_event_seq(&self, trace_id: &str) -> Result<Option<u64>> {
        let prefix = keys::event_prefix(trace_id);
        let mut options = Store::read_options(Some(self.snapshot));
        options.set_iterate_upper_bound(keys::prefix_end(&prefix));
        let mut iter = self.store.db().raw_iterator_opt(options);
        iter.seek(&prefix);
        iter.status()
            .map_err(|error| StoreError::engine_at(&prefix, "verifying", error))?;
        Ok(match iter.key().map(keys::decode_key) {
            Some(Ok(Key::Event { seq, .. })) => Some(seq),
            _ => None,
        })
    }

    fn check_event(&mut self, key: &[u8], value: &[u8], trace_id: String, seq: u64) {
        self.report.events += 1;
        self.see_seq(seq);
        if self.tally.as_ref().is_none_or(|tally| tally.trace_id != trace_id) {
            self.close_trace();
            self.tally = Some(TraceTally {
                trace_id: trace_id.clone(),
                key: key.to_vec(),
                first_seq: seq,
            });
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
            }
        }
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
            match self.first_event_seq(&item.trace_id) {
                Err(error) => self.report_error(error),
                Ok(None) => self.problem(key, format!("dangling: trace {:?} has no events", item.trace_id)),
                Ok(Some(seq)) if Some(seq) != item.first_seq.checked_add(1) => self.problem(
                    key,
                    format!(
                        "trace {:?} was first seen at {}, but its first event is {seq}",
                        item.trace_id, item.first_seq
                    ),
                ),
                Ok(Some(_)) => {}
            }
        }
    }

    fn check_meta(&mut self, key: &[u8], value: &[u8]) {
        let kind = match key {
            keys::META_FORMAT => records::KIND_FORMAT,
            keys::META_COUNTERS => records::KIND_COUNTERS,
            keys::META_TSO => records::KIND_TSO_MARK,
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

    fn finish(&mut self, stored: Counters) {
        self.close_trace();
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
        let snapshot = self.db().snapshot();
        let stored = {
            let value = self
                .db()
                .get_opt(keys::META_COUNTERS, &Store::read_options(Some(&snapshot)))
                .map_err(|error| StoreError::engine_at(keys::META_COUNTERS, "verifying", error))?;
            value.and_then(|value| {
                records::decode_message::<Counters>(keys::META_COUNTERS, &value, records::KIND_COUNTERS).ok()
            })
        };
        let mut pass = Pass {
            store: self,
            snapshot: &snapshot,
            report: VerifyReport::default(),
            on_problem: &mut on_problem,
            found: Counters::default(),
            damaged_events: 0,
            max_seq: None,
            tally: None,
        };
        if pass.get(keys::META_FORMAT)?.is_none() {
            pass.problem(keys::META_FORMAT, "the format record is missing");
        }
        let mut iter = self.db().raw_iterator_opt(Store::read_options(Some(&snapshot)));
        iter.seek_to_first();
        while let Some((key, value)) = iter.item() {
            pass.report.records += 1;
            if pass.report.records.is_multiple_of(10_000) {
                on_progress(pass.report.records);
            }
            match keys::decode_key(key) {
                Err(error) => pass.problem(key, format!("undecodable key: {error}")),
                Ok(Key::Meta(_)) => pass.check_meta(key, value),
                Ok(Key::Event { trace_id, seq }) => pass.check_event(key, value, trace_id, seq),
                Ok(Key::Trace { .. }) => {
                    pass.close_trace();
                    pass.check_summary(key);
                }
                Ok(Key::Order { first_seq }) => pass.check_order(key, value, first_seq),
            }
            iter.next();
        }
        if let Err(error) = iter.status() {
            pass.problem_named(
                "(storage engine)".into(),
                format!("the pass stopped early: {}", error.into_string()),
            );
        }
        match stored {
            Some(stored) => pass.finish(stored),
            None => {
                pass.close_trace();
                pass.problem(keys::META_COUNTERS, "the counters record is missing or damaged");
            }
        }
        Ok(pass.report)
    }
}
