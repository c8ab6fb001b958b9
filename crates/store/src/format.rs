//! The format record, the store-wide records read at open, and the
//! in-place upgrades from older on-disk formats (`docs/operations.md`,
//! "Upgrading"). Keyspace logic over any engine.

use std::path::Path;

use tracekeep_proto::{EventKind, TraceEvent};

use crate::engine::{Engine, EngineBatch, KeyRange, Written};
use crate::error::{Result, StoreError};
use crate::keys::{self, TAG_ORDER};
use crate::progress_log::LogProgress;
use crate::reads::read_start;
use crate::records::{self, Counters, FORMAT_VERSION, FormatInfo, TraceMeta, TsoMark};
use crate::span_index;
use crate::tso::Clock;

/// Checks (or, for a new store, writes) the format record; returns the
/// store's format version.
pub(crate) fn check_format(db: &dyn Engine, path: &Path, create: bool, clock: &dyn Clock) -> Result<u8> {
    let value = db
        .get(keys::META_FORMAT)
        .map_err(|error| StoreError::engine_at(keys::META_FORMAT, "reading the format record", error))?;
    match value {
        Some(value) => {
            let found = records::peek_format(&value).ok_or_else(|| StoreError::NotAStore {
                path: path.to_path_buf(),
                reason: "its format record is not a tracekeep record".into(),
            })?;
            if found > FORMAT_VERSION {
                return Err(StoreError::NewerFormat {
                    path: path.to_path_buf(),
                    found,
                    supported: FORMAT_VERSION,
                });
            }
            let info: FormatInfo = records::decode_message(keys::META_FORMAT, &value, records::KIND_FORMAT)?;
            if info.version > u32::from(FORMAT_VERSION) {
                return Err(StoreError::NewerFormat {
                    path: path.to_path_buf(),
                    found: u8::try_from(info.version).unwrap_or(u8::MAX),
                    supported: FORMAT_VERSION,
                });
            }
            Ok(found)
        }
        None => {
            let mut iter = db.iter(KeyRange::between([], [keys::TAG_EVENT]));
            iter.seek_to_first();
            if iter.item().is_some() || !create {
                return Err(StoreError::NotAStore {
                    path: path.to_path_buf(),
                    reason: "the RocksDB database in it has no tracekeep format record".into(),
                });
            }
            let info = FormatInfo {
                version: u32::from(FORMAT_VERSION),
                created_unix_nanos: clock.now_nanos(),
            };
            let mut batch = new_batch(db, "initialising the store")?;
            batch.put(
                keys::META_FORMAT,
                &records::encode_message(keys::META_FORMAT, records::KIND_FORMAT, &info),
            );
            batch.put(
                keys::META_COUNTERS,
                &records::encode_message(keys::META_COUNTERS, records::KIND_COUNTERS, &Counters::default()),
            );
            write_synced(batch, "initialising the store")?;
            Ok(FORMAT_VERSION)
        }
    }
}

/// The smallest and largest TSO over format 1's per-trace summaries.
pub(crate) fn tso_range_of_summaries(db: &dyn Engine) -> Result<(i64, i64)> {
    let mut iter = db.iter(KeyRange::between([keys::TAG_TRACE], [TAG_ORDER]));
    iter.seek_to_first();
    let mut range = TraceMeta::default();
    while let Some((key, value)) = iter.item() {
        let meta: TraceMeta = records::decode_message(key, value, records::KIND_TRACE_META)?;
        range.widen_tso_range(meta.min_tso);
        range.widen_tso_range(meta.max_tso);
        iter.next();
    }
    iter.status()
        .map_err(|error| StoreError::engine_at(&[keys::TAG_TRACE], "reading trace summaries", error))?;
    Ok((range.min_tso, range.max_tso))
}

/// Upgrades a format-1 store in place, in one atomic batch: the store-wide
/// time range moves from the per-trace summaries into the counters, and the
/// summaries go (format 2 keeps none). Format-1 first-seen entries are read
/// as they are.
pub(crate) fn upgrade_from_format_1(db: &dyn Engine) -> Result<()> {
    let started = std::time::Instant::now();
    let mut counters = load_counters(db)?;
    (counters.min_tso, counters.max_tso) = tso_range_of_summaries(db)?;
    let mut batch = new_batch(db, "upgrading the store from format 1")?;
    batch.delete_range(&[keys::TAG_TRACE], &[TAG_ORDER]);
    batch.put(
        keys::META_COUNTERS,
        &records::encode_message(keys::META_COUNTERS, records::KIND_COUNTERS, &counters),
    );
    put_format(db, &mut *batch, 2)?;
    write_synced(batch, "upgrading the store from format 1")?;
    tracing::info!(
        millis = started.elapsed().as_millis() as u64,
        "upgraded the store from format 1 to 2"
    );
    Ok(())
}

/// Writes `batch` with an fsync of the WAL, whatever the store's mode: format
/// changes must not be lost to a power cut.
pub(crate) fn write_synced(batch: Box<dyn EngineBatch + '_>, action: &'static str) -> Result<()> {
    batch
        .write(true)
        .and_then(Written::wait)
        .map_err(|error| StoreError::engine(action, error))
}

/// An empty batch of `db`.
pub(crate) fn new_batch<'e>(db: &'e dyn Engine, action: &'static str) -> Result<Box<dyn EngineBatch + 'e>> {
    db.batch(0).map_err(|error| StoreError::engine(action, error))
}

/// Puts the format record, saying `version`, into `batch`.
pub(crate) fn put_format(db: &dyn Engine, batch: &mut dyn EngineBatch, version: u8) -> Result<()> {
    let value = db
        .get(keys::META_FORMAT)
        .map_err(|error| StoreError::engine_at(keys::META_FORMAT, "reading the format record", error))?
        .ok_or_else(|| StoreError::corrupted(keys::META_FORMAT, "the format record is missing"))?;
    let mut info: FormatInfo = records::decode_message(keys::META_FORMAT, &value, records::KIND_FORMAT)?;
    info.version = u32::from(version);
    batch.put(
        keys::META_FORMAT,
        &records::encode_message(keys::META_FORMAT, records::KIND_FORMAT, &info),
    );
    Ok(())
}

/// Upgrades a format-2 store in place: its spans get their index entries
/// (written in batches; a crash part way leaves format 2, and the next open
/// writes the same entries again), then the format record says 3. One pass
/// over the events, reading only the span records' payloads.
pub(crate) fn upgrade_to_format_3(db: &dyn Engine) -> Result<()> {
    let started = std::time::Instant::now();
    let mut iter = db.iter(KeyRange {
        once: true,
        ..KeyRange::between([keys::TAG_LEGACY_EVENT], [keys::TAG_TRACE])
    });
    iter.seek_to_first();
    let mut index = span_index::IndexEntries::default();
    let mut spans = 0u64;
    let mut progress = LogProgress::new("upgrading the store to format 3", "records", db.estimated_keys());
    let write = |index: span_index::IndexEntries| {
        let mut batch = new_batch(db, "indexing stored spans")?;
        span_index::write_entries(&mut *batch, &index);
        batch
            .write(false)
            .and_then(Written::wait)
            .map_err(|error| StoreError::engine("indexing stored spans", error))
    };
    while let Some((key, value)) = iter.item() {
        if records::peek_kind(value) == Some(EventKind::Span.code())
            && let TraceEvent::Span(span) = records::decode_event(key, value)?
        {
            spans += 1;
            index.add_span(&span, span_index::trace_id_of(&span));
            if index.len() >= 100_000 {
                write(std::mem::take(&mut index))?;
            }
        }
        progress.add(1);
        iter.next();
    }
    iter.status()
        .map_err(|error| StoreError::engine_at(&[keys::TAG_LEGACY_EVENT], "indexing stored spans", error))?;
    let mut batch = new_batch(db, "upgrading the store to format 3")?;
    span_index::write_entries(&mut *batch, &index);
    put_format(db, &mut *batch, 3)?;
    write_synced(batch, "upgrading the store to format 3")?;
    tracing::info!(
        spans,
        millis = started.elapsed().as_millis() as u64,
        "upgraded the store to format 3 (span index)"
    );
    Ok(())
}

/// Upgrades a format-4 store in place: every event moves from `0x01 trace
/// seq` to `0x0A first_seq trace seq` in the `events` family, and each trace
/// gets its start entry, in one pass over the old events. A trace's first-seen number is the arrival
/// number just before its first event's (as first-seen order has it since
/// format 1). Batches are written as they fill and the old events stay
/// until the last one, which deletes them and says format 5: a crash part
/// way leaves format 4, and the next open moves the same events to the
/// same keys again (a trace whose start entry was written keeps its number).
pub(crate) fn upgrade_to_format_5(db: &dyn Engine) -> Result<()> {
    const BATCH_BYTES: usize = 8 << 20;
    let started = std::time::Instant::now();
    let mut iter = db.iter(KeyRange {
        once: true,
        ..KeyRange::between([keys::TAG_LEGACY_EVENT], [keys::TAG_LEGACY_EVENT + 1])
    });
    iter.seek_to_first();
    let mut progress = LogProgress::new("upgrading the store to format 5", "records", db.estimated_keys());
    let action = "moving events to format 5's keys";
    let mut batch = new_batch(db, action)?;
    let mut batch_bytes = 0;
    let mut current: Option<(String, u64)> = None;
    let (mut events, mut traces) = (0u64, 0u64);
    let mut new_key = Vec::new();
    while let Some((key, value)) = iter.item() {
        let Ok(keys::Key::LegacyEvent { trace_id, seq }) = keys::decode_key(key) else {
            tracing::warn!(key = %keys::describe_key(key), "a malformed event key is left behind by the upgrade");
            iter.next();
            continue;
        };
        let first_seq = match &current {
            Some((current_id, first_seq)) if *current_id == trace_id => *first_seq,
            _ => {
                let first_seq = match read_start(db, &trace_id)? {
                    Some(first_seq) => first_seq,
                    None => {
                        let first_seq = seq.saturating_sub(1);
                        keys::write_trace_start_key(&mut new_key, &trace_id);
                        batch.put(&new_key, &records::encode_trace_start(&new_key, first_seq));
                        first_seq
                    }
                };
                traces += 1;
                current = Some((trace_id.clone(), first_seq));
                first_seq
            }
        };
        keys::write_event_key(&mut new_key, first_seq, trace_id.as_bytes(), seq);
        let value = records::rekey(key, &new_key, value);
        batch.put(&new_key, &value);
        batch_bytes += new_key.len() + value.len();
        events += 1;
        progress.add(1);
        if batch_bytes >= BATCH_BYTES {
            std::mem::replace(&mut batch, new_batch(db, action)?)
                .write(false)
                .and_then(Written::wait)
                .map_err(|error| StoreError::engine(action, error))?;
            batch_bytes = 0;
        }
        iter.next();
    }
    iter.status()
        .map_err(|error| StoreError::engine_at(&[keys::TAG_LEGACY_EVENT], action, error))?;
    batch.delete_range(&[keys::TAG_LEGACY_EVENT], &[keys::TAG_LEGACY_EVENT + 1]);
    put_format(db, &mut *batch, 5)?;
    write_synced(batch, "upgrading the store to format 5")?;
    tracing::info!(
        traces,
        events,
        millis = started.elapsed().as_millis() as u64,
        "upgraded the store to format 5 (events keyed by first-seen number)"
    );
    Ok(())
}

pub(crate) fn load_counters(db: &dyn Engine) -> Result<Counters> {
    let value = db
        .get(keys::META_COUNTERS)
        .map_err(|error| StoreError::engine_at(keys::META_COUNTERS, "reading the counters", error))?
        .ok_or_else(|| StoreError::corrupted(keys::META_COUNTERS, "the counters record is missing"))?;
    records::decode_message(keys::META_COUNTERS, &value, records::KIND_COUNTERS)
}

pub(crate) fn load_tso_mark(db: &dyn Engine) -> Result<i64> {
    let value = db
        .get(keys::META_TSO)
        .map_err(|error| StoreError::engine_at(keys::META_TSO, "reading the TSO mark", error))?;
    match value {
        None => Ok(0),
        Some(value) => {
            let mark: TsoMark = records::decode_message(keys::META_TSO, &value, records::KIND_TSO_MARK)?;
            Ok(mark.mark)
        }
    }
}
