//! Deliberate damage, for tests that prove damage is detected (feature `fault-injection`).

use crate::engine::EngineBatch;
use crate::error::{Result, StoreError};
use crate::keys;
use crate::store::Store;

impl Store {
    fn raw_put(&self, key: &[u8], value: &[u8]) -> Result<()> {
        let mut batch = self.raw_batch()?;
        batch.put(key, value);
        raw_write(batch)
    }

    fn raw_batch(&self) -> Result<Box<dyn EngineBatch + '_>> {
        crate::format::new_batch(self.engine(), "injecting a fault")
    }

    fn nth_event_key(&self, trace_id: &str, index: usize) -> Result<Vec<u8>> {
        let events = self.query(trace_id)?;
        let event = events.get(index).ok_or_else(|| StoreError::TraceNotFound {
            trace_id: format!("{trace_id} (event {index})"),
        })?;
        let mut key = self.prefix_at(trace_id, self.first_seq_of(trace_id)?);
        key.extend_from_slice(&event.seq.to_be_bytes());
        Ok(key)
    }

    /// The trace's first-seen number, from its start entry (format 5) or,
    /// before, from its first event.
    fn first_seq_of(&self, trace_id: &str) -> Result<u64> {
        if self.format() >= 5
            && let Some(first_seq) = crate::reads::read_start(self.engine(), trace_id)?
        {
            return Ok(first_seq);
        }
        let first = self.query(trace_id)?;
        Ok(first.first().map_or(0, |event| event.seq.saturating_sub(1)))
    }

    /// Flips every bit of byte `byte` of the stored value of the trace's
    /// `index`-th event, bypassing all checks.
    pub fn inject_flipped_byte(&self, trace_id: &str, index: usize, byte: usize) -> Result<()> {
        let key = self.nth_event_key(trace_id, index)?;
        let mut value = self
            .engine()
            .get(&key)
            .map_err(|error| StoreError::engine("injecting a fault", error))?
            .unwrap_or_default();
        if let Some(target) = value.get_mut(byte) {
            *target ^= 0xFF;
        }
        self.raw_put(&key, &value)
    }

    /// Removes a trace's first-seen entry but leaves its events: the
    /// orphan-event damage verify must report.
    pub fn inject_lost_first_seen(&self, trace_id: &str) -> Result<()> {
        let first_seq = self.first_seq_of(trace_id)?;
        let mut batch = self.raw_batch()?;
        crate::writer::remove_order_items(self.engine(), &mut *batch, &[(trace_id.to_owned(), first_seq)])?;
        raw_write(batch)
    }

    /// The events' table files, oldest first: the files tests damage to
    /// prove damage to events is caught.
    pub fn event_table_files(&self) -> Result<Vec<std::path::PathBuf>> {
        self.engine()
            .event_files()
            .map_err(|error| StoreError::engine("listing table files", error))
    }

    /// Writes a start entry for `trace_id` saying it was first seen at
    /// `first_seq`, whether or not that is so: a stray or wrong start entry
    /// verify must report.
    pub fn inject_start_entry(&self, trace_id: &str, first_seq: u64) -> Result<()> {
        let key = keys::trace_start_key(trace_id);
        self.raw_put(&key, &crate::records::encode_trace_start(&key, first_seq))
    }

    /// Adds a first-seen entry for a trace that has no events: the dangling
    /// entry verify must report.
    pub fn inject_dangling_first_seen(&self, trace_id: &str) -> Result<()> {
        let first_seq = self.stats()?.next_seq + 1_000_000;
        let batch = crate::records::OrderBatch {
            trace_ids: vec![trace_id.to_owned()],
            first_seqs: vec![first_seq],
        };
        let Some((key, value)) = crate::order::encode(&batch) else {
            return Ok(());
        };
        self.raw_put(&key, &value)
    }
}

impl Store {
    /// Rewrites the format record as if tracekeep format `version` had written it.
    pub fn inject_format_version(&self, version: u8) -> Result<()> {
        let info = crate::records::FormatInfo {
            version: u32::from(version),
            created_unix_nanos: 0,
        };
        let payload = prost::Message::encode_to_vec(&info);
        let value = crate::records::encode_as(keys::META_FORMAT, version, crate::records::KIND_FORMAT, &payload);
        self.raw_put(keys::META_FORMAT, &value)
    }
}

impl Store {
    /// Moves every event back under format 4's keys (`0x01 trace seq`),
    /// drops the start entries and marks the store format 4, as a tracekeep
    /// before format 5 left it. For tests of the upgrade.
    pub fn rewrite_as_format_4(&self) -> Result<()> {
        let mut traces = Vec::new();
        self.walk_order_for_tests(|trace_id, first_seq| traces.push((trace_id, first_seq)))?;
        let mut batch = self.raw_batch()?;
        for (trace_id, first_seq) in traces {
            let prefix = keys::event_prefix(first_seq, &trace_id);
            let mut iter = crate::reads::trace_events(self.engine(), &prefix);
            while let Some((key, value)) = iter.item() {
                let seq = crate::reads::event_seq(&prefix, key)?;
                let old = keys::legacy_event_key(&trace_id, seq);
                batch.put(&old, &crate::records::rekey(key, &old, value));
                iter.next();
            }
            iter.status()
                .map_err(|error| StoreError::engine("injecting a fault", error))?;
        }
        batch.delete_range(&[keys::TAG_EVENT], &[keys::TAG_EVENT + 1]);
        batch.delete_range(&[keys::TAG_TRACE_START], &[keys::TAG_END]);
        raw_write(batch)?;
        self.inject_format_version(4)
    }

    /// Rewrites the store in format 1's layout, as tracekeep 0.1 wrote it: a
    /// summary per trace, one first-seen entry per trace, no time range in
    /// the counters, format record 1. For tests of the upgrade.
    pub fn rewrite_as_format_1(&self) -> Result<()> {
        use crate::records::{self, Counters, KIND_COUNTERS, KIND_ORDER, KIND_TRACE_META, OrderEntry, TraceMeta};
        let mut batch = self.raw_batch()?;
        batch.delete_range(&[keys::TAG_ORDER], &[keys::ORDER_END]);
        let mut traces = Vec::new();
        self.walk_order_for_tests(|trace_id, first_seq| traces.push((trace_id, first_seq)))?;
        for (trace_id, first_seq) in traces {
            let mut meta = TraceMeta {
                first_seq,
                ..TraceMeta::default()
            };
            for stored in self.query(&trace_id)? {
                meta.last_seq = stored.seq;
                meta.widen_tso_range(stored.event.tso());
                *meta
                    .events_by_kind
                    .entry(u32::from(stored.event.kind().code()))
                    .or_default() += 1;
            }
            let key = keys::trace_key(&trace_id);
            batch.put(&key, &records::encode_message(&key, KIND_TRACE_META, &meta));
            let key = keys::order_key(first_seq);
            batch.put(
                &key,
                &records::encode_message(&key, KIND_ORDER, &OrderEntry { trace_id }),
            );
        }
        let stats = self.stats()?;
        let counters = Counters {
            next_seq: stats.next_seq,
            traces: stats.traces,
            events_by_kind: stats
                .events_by_kind
                .iter()
                .filter(|(_, count)| *count > 0)
                .map(|(kind, count)| (u32::from(kind.code()), *count))
                .collect(),
            min_tso: 0,
            max_tso: 0,
        };
        batch.put(
            keys::META_COUNTERS,
            &records::encode_message(keys::META_COUNTERS, KIND_COUNTERS, &counters),
        );
        raw_write(batch)?;
        self.rewrite_as_format_4()?;
        self.inject_format_version(1)
    }
}

impl Store {
    /// Drops the span index and marks the store format 2, as a tracekeep
    /// before the span index left it. For tests of the upgrade.
    pub fn rewrite_as_format_2(&self) -> Result<()> {
        let mut batch = self.raw_batch()?;
        batch.delete_range(&[keys::TAG_SPAN_TIME], &[keys::TAG_EVENT]);
        raw_write(batch)?;
        self.rewrite_as_format_4()?;
        self.inject_format_version(2)
    }

    /// Removes the span index entries of a trace's spans, leaving the spans:
    /// the damage verify must report (and a search would miss the trace).
    pub fn inject_lost_span_index(&self, trace_id: &str) -> Result<()> {
        let mut entries = crate::span_index::IndexEntries::default();
        for stored in self.query(trace_id)? {
            if let tracekeep_proto::TraceEvent::Span(span) = &stored.event {
                entries.add_span(span, trace_id);
            }
        }
        let mut batch = self.raw_batch()?;
        for key in entries.span_keys() {
            batch.delete(key);
        }
        raw_write(batch)
    }
}

/// Writes a fault's batch, synced.
fn raw_write(batch: Box<dyn EngineBatch + '_>) -> Result<()> {
    crate::format::write_synced(batch, "injecting a fault")
}
