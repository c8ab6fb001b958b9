//! The single writer: every mutation goes through one thread that group-commits.
//!
//! Callers hand a request (append, delete, truncate) to the writer thread and
//! get its outcome back. The thread drains whatever requests are waiting,
//! turns them into one RocksDB `WriteBatch` and writes it once, so N
//! concurrent appenders cost one WAL write instead of N, and throughput grows
//! with concurrency. Because one thread applies every mutation in order, the
//! indexes it maintains (trace summaries, first-seen order, counters) need no
//! locks and a delete can never interleave with an append to the same trace.
//!
//! Each request is applied in two phases: first everything that can fail
//! (loading the trace summaries it touches), then the changes, which cannot.
//! A request that fails (say, on a damaged summary record) therefore leaves
//! nothing behind in the group and does not fail its neighbours. Records
//! arrive already encoded and checksummed by the callers' threads; the writer
//! only adds the key.

use std::collections::HashMap;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::mpsc::{Receiver, SyncSender};
use std::sync::{Arc, Mutex};

use rocksdb::{WriteBatch, WriteOptions};
use tracekeep_proto::EventKind;

use crate::error::{Result, StoreError};
use crate::keys::{self, TAG_END, TAG_EVENT};
use crate::records::{self, Counters, OrderEntry, PreparedRecord, TraceMeta};

/// Most requests folded into one commit.
const MAX_GROUP_REQUESTS: usize = 256;
/// Most record bytes folded into one commit (a single larger request still goes alone).
const MAX_GROUP_BYTES: usize = 16 << 20;

/// One event, validated and framed by the caller's thread.
pub(crate) struct PreparedEvent {
    kind: EventKind,
    tso: i64,
    record: PreparedRecord,
    /// Where `base.traceID` lies in the record's payload (the event's bytes).
    trace_id: Range<usize>,
}

impl PreparedEvent {
    /// `trace_id` is the range of `base.traceID` in the record's payload,
    /// checked to be UTF-8 by the caller.
    pub(crate) fn new(kind: EventKind, tso: i64, record: PreparedRecord, trace_id: Range<usize>) -> PreparedEvent {
        PreparedEvent {
            kind,
            tso,
            record,
            trace_id,
        }
    }

    fn trace_id(&self) -> &str {
        // Checked to be UTF-8 when the event was prepared; never empty then.
        self.record
            .payload()
            .get(self.trace_id.clone())
            .and_then(|id| std::str::from_utf8(id).ok())
            .unwrap_or_default()
    }
}

/// A mutation.
pub(crate) enum Op {
    Append(Vec<PreparedEvent>),
    Delete(String),
    Truncate,
}

impl Op {
    /// Events the op appends.
    fn events(&self) -> usize {
        match self {
            Op::Append(events) => events.len(),
            Op::Delete(_) | Op::Truncate => 0,
        }
    }

    fn size(&self) -> usize {
        match self {
            Op::Append(events) => events.iter().map(|event| event.record.len()).sum(),
            Op::Delete(trace_id) => trace_id.len(),
            Op::Truncate => 0,
        }
    }
}

/// What a mutation did.
#[derive(Debug)]
pub(crate) enum Outcome {
    Appended,
    Deleted(bool),
    Truncated,
}

/// Where a request's outcome goes: a blocked caller, or a callback run on
/// the writer thread (which must be quick: it hands the outcome on).
pub(crate) enum Reply {
    Blocking(SyncSender<Result<Outcome>>),
    Callback(Box<dyn FnOnce(Result<Outcome>) + Send>),
}

impl Reply {
    pub(crate) fn send(self, outcome: Result<Outcome>) {
        match self {
            // The caller may have given up waiting; nothing to do then.
            Reply::Blocking(sender) => {
                let _ = sender.send(outcome);
            }
            Reply::Callback(callback) => callback(outcome),
        }
    }
}

/// A mutation and where to send its outcome.
pub(crate) struct Request {
    pub op: Op,
    pub reply: Reply,
}

/// What the writer thread needs.
pub(crate) struct WriterContext {
    pub db: Arc<rocksdb::DB>,
    pub sync: bool,
    /// The data directory, whose filesystem's free space is checked.
    pub path: PathBuf,
    /// Appends are refused below this many free bytes (0: never).
    pub min_free_disk_bytes: u64,
    /// The counters as of the last commit, published for `stats`.
    pub published: Arc<Mutex<Counters>>,
}

/// Runs until every sender is dropped.
pub(crate) fn run(context: WriterContext, requests: Receiver<Request>, mut counters: Counters) {
    let mut hot = HotSummaries::new(HOT_SUMMARIES);
    while let Ok(first) = requests.recv() {
        let mut bytes = first.op.size();
        let mut group = vec![first];
        while group.len() < MAX_GROUP_REQUESTS && bytes < MAX_GROUP_BYTES {
            match requests.try_recv() {
                Ok(request) => {
                    bytes += request.op.size();
                    group.push(request);
                }
                Err(_) => break,
            }
        }
        commit_group(&context, &mut counters, &mut hot, group);
    }
}

/// Traces whose summaries the writer keeps in memory, per generation.
const HOT_SUMMARIES: usize = 16 * 1024;

/// Summaries of the traces the writer touched lately, as committed, so that
/// appends to an active trace read nothing. `None` records a trace known to
/// be absent (deleted). Two generations approximate LRU without per-access
/// bookkeeping: lookups see both, and when the young one fills, the old one
/// is dropped and the young one takes its place.
struct HotSummaries {
    young: HashMap<String, Option<TraceMeta>>,
    old: HashMap<String, Option<TraceMeta>>,
    capacity: usize,
}

impl HotSummaries {
    fn new(capacity: usize) -> HotSummaries {
        HotSummaries {
            young: HashMap::new(),
            old: HashMap::new(),
            capacity,
        }
    }

    fn get(&self, trace_id: &str) -> Option<&Option<TraceMeta>> {
        self.young.get(trace_id).or_else(|| self.old.get(trace_id))
    }

    fn put(&mut self, trace_id: String, meta: Option<TraceMeta>) {
        if self.young.len() >= self.capacity && !self.young.contains_key(&trace_id) {
            self.old = std::mem::take(&mut self.young);
        }
        self.young.insert(trace_id, meta);
    }

    fn clear(&mut self) {
        self.young.clear();
        self.old.clear();
    }
}

/// A trace's summary as the group sees it.
struct Slot {
    meta: Option<TraceMeta>,
    /// Changed by the group: written (or deleted) at commit.
    dirty: bool,
}

/// The group being built: its batch and the state it leads to.
struct Group<'a> {
    db: &'a rocksdb::DB,
    batch: WriteBatch,
    counters: Counters,
    traces: HashMap<String, Slot>,
    /// Summaries the group's pre-read failed to load, by trace (their slots are missing).
    unreadable: HashMap<String, StoreError>,
    /// A truncate is in the group: nothing written before it is visible any more.
    truncated: bool,
    /// Scratch space for keys (the batch copies what it is given).
    key: Vec<u8>,
}

impl Group<'_> {
    /// Phase one: makes sure the trace's summary is loaded. The only step that can fail.
    fn load(&mut self, trace_id: &str, hot: &HotSummaries) -> Result<()> {
        if self.traces.contains_key(trace_id) {
            return Ok(());
        }
        let meta = if self.truncated {
            None
        } else if let Some(meta) = hot.get(trace_id) {
            meta.clone()
        } else {
            match self.unreadable.remove(trace_id) {
                Some(error) => return Err(error),
                None => load_meta(self.db, trace_id)?,
            }
        };
        self.traces.insert(trace_id.to_owned(), Slot { meta, dirty: false });
        Ok(())
    }

    fn next_seq(&mut self) -> u64 {
        let seq = self.counters.next_seq;
        self.counters.next_seq += 1;
        seq
    }

    fn append(&mut self, events: Vec<PreparedEvent>, hot: &HotSummaries) -> Result<Outcome> {
        for event in &events {
            self.load(event.trace_id(), hot)?;
        }
        for event in events {
            let trace_id = event.trace_id();
            let known = self.traces.get(trace_id).is_some_and(|slot| slot.meta.is_some());
            if !known {
                let first_seq = self.next_seq();
                let order_key = keys::order_key(first_seq);
                let entry = OrderEntry {
                    trace_id: trace_id.to_owned(),
                };
                self.batch.put(
                    &order_key,
                    records::encode_message(&order_key, records::KIND_ORDER, &entry),
                );
                self.counters.traces += 1;
                if let Some(slot) = self.traces.get_mut(trace_id) {
                    slot.meta = Some(TraceMeta {
                        first_seq,
                        last_seq: first_seq,
                        ..TraceMeta::default()
                    });
                }
            }
            let seq = self.next_seq();
            keys::write_event_key(&mut self.key, trace_id, seq);
            let code = u32::from(event.kind.code());
            *self.counters.events_by_kind.entry(code).or_default() += 1;
            if let Some(slot) = self.traces.get_mut(trace_id) {
                slot.dirty = true;
                if let Some(meta) = slot.meta.as_mut() {
                    meta.last_seq = seq;
                    meta.widen_tso_range(event.tso);
                    *meta.events_by_kind.entry(code).or_default() += 1;
                }
            }
            let record = event.record.seal(&self.key);
            self.batch.put(&self.key, record);
        }
        Ok(Outcome::Appended)
    }

    fn delete(&mut self, trace_id: &str, hot: &HotSummaries) -> Result<Outcome> {
        self.load(trace_id, hot)?;
        let Some(slot) = self.traces.get_mut(trace_id) else {
            return Ok(Outcome::Deleted(false));
        };
        let Some(meta) = slot.meta.take() else {
            return Ok(Outcome::Deleted(false));
        };
        slot.dirty = true;
        let prefix = keys::event_prefix(trace_id);
        let end = keys::prefix_end(&prefix);
        self.batch.delete_range(prefix, end);
        self.batch.delete(keys::order_key(meta.first_seq));
        self.counters.traces = self.counters.traces.saturating_sub(1);
        for (kind, count) in &meta.events_by_kind {
            if let Some(total) = self.counters.events_by_kind.get_mut(kind) {
                *total = total.saturating_sub(*count);
            }
        }
        Ok(Outcome::Deleted(true))
    }

    fn truncate(&mut self) -> Outcome {
        self.batch.delete_range(vec![TAG_EVENT], vec![TAG_END]);
        self.traces.clear();
        self.truncated = true;
        self.counters.traces = 0;
        self.counters.events_by_kind.clear();
        Outcome::Truncated
    }

    /// The summaries the group changed, and the counters, into the batch.
    fn finish(&mut self) -> Counters {
        for (trace_id, slot) in &self.traces {
            if !slot.dirty {
                continue;
            }
            let key = keys::trace_key(trace_id);
            match &slot.meta {
                Some(meta) => {
                    let value = records::encode_message(&key, records::KIND_TRACE_META, meta);
                    self.batch.put(key, value);
                }
                None => self.batch.delete(key),
            }
        }
        let counters = records::encode_message(keys::META_COUNTERS, records::KIND_COUNTERS, &self.counters);
        self.batch.put(keys::META_COUNTERS, counters);
        self.counters.clone()
    }
}

/// Reads, in one MultiGet, the summaries of every trace the group's requests
/// touch that the hot set does not hold, into the group's slots.
fn prefetch(group: &mut Group<'_>, hot: &HotSummaries, requests: &[Request]) {
    let mut wanted: Vec<&str> = Vec::new();
    for request in requests {
        match &request.op {
            Op::Append(events) => wanted.extend(events.iter().map(PreparedEvent::trace_id)),
            Op::Delete(trace_id) => wanted.push(trace_id),
            Op::Truncate => {}
        }
    }
    wanted.retain(|trace_id| hot.get(trace_id).is_none());
    wanted.sort_unstable();
    wanted.dedup();
    if wanted.is_empty() {
        return;
    }
    // One MultiGet for the group: RocksDB probes each file's filter for all
    // the keys at once instead of walking the levels per key.
    let keys: Vec<Vec<u8>> = wanted.iter().map(|trace_id| keys::trace_key(trace_id)).collect();
    let values = group.db.multi_get(&keys);
    group.traces.reserve(wanted.len());
    for ((trace_id, key), value) in wanted.into_iter().zip(&keys).zip(values) {
        match decode_meta(key, value) {
            Ok(meta) => {
                group.traces.insert(trace_id.to_owned(), Slot { meta, dirty: false });
            }
            Err(error) => {
                group.unreadable.insert(trace_id.to_owned(), error);
            }
        }
    }
}

fn load_meta(db: &rocksdb::DB, trace_id: &str) -> Result<Option<TraceMeta>> {
    let key = keys::trace_key(trace_id);
    decode_meta(&key, db.get_pinned(&key))
}

/// A trace summary as RocksDB returned it for `key` (absent, present, or failed).
fn decode_meta(
    key: &[u8],
    value: std::result::Result<Option<impl AsRef<[u8]>>, rocksdb::Error>,
) -> Result<Option<TraceMeta>> {
    value
        .map_err(|error| StoreError::engine_at(key, "reading a trace summary", error))?
        .map(|value| records::decode_message(key, value.as_ref(), records::KIND_TRACE_META))
        .transpose()
}

/// The bytes free when the filesystem is below the reserve, `None` when it
/// is not. A failed `statvfs` does not block writes: RocksDB reports real trouble.
fn space_below_reserve(context: &WriterContext) -> Option<u64> {
    if context.min_free_disk_bytes == 0 {
        return None;
    }
    let stats = rustix::fs::statvfs(&context.path).ok()?;
    let available = stats.f_bavail.saturating_mul(stats.f_frsize);
    (available < context.min_free_disk_bytes).then_some(available)
}

fn commit_group(context: &WriterContext, counters: &mut Counters, hot: &mut HotSummaries, requests: Vec<Request>) {
    // Room for every record plus its key and the summaries, so the batch's
    // buffer is not copied as it grows.
    let capacity: usize = requests
        .iter()
        .map(|request| request.op.size() + request.op.events() * 48)
        .sum();
    let mut group = Group {
        db: &context.db,
        batch: WriteBatch::with_capacity_bytes(capacity + 4096),
        counters: counters.clone(),
        traces: HashMap::new(),
        unreadable: HashMap::new(),
        truncated: false,
        key: Vec::with_capacity(64),
    };
    prefetch(&mut group, hot, &requests);
    let mut accepted = Vec::with_capacity(requests.len());
    // Checked once per group, and only when it appends: deletes and truncates
    // are how an operator frees space, so they always go through.
    let mut below_reserve: Option<Option<u64>> = None;
    for Request { op, reply } in requests {
        if matches!(op, Op::Append(_))
            && let Some(available) = *below_reserve.get_or_insert_with(|| space_below_reserve(context))
        {
            reply.send(Err(StoreError::DiskFull {
                path: context.path.clone(),
                available,
                reserve: context.min_free_disk_bytes,
            }));
            continue;
        }
        let outcome = match op {
            Op::Append(events) => group.append(events, hot),
            Op::Delete(trace_id) => group.delete(&trace_id, hot),
            Op::Truncate => Ok(group.truncate()),
        };
        match outcome {
            Ok(outcome) => accepted.push((reply, outcome)),
            Err(error) => reply.send(Err(error)),
        }
    }
    if accepted.is_empty() {
        return;
    }
    let staged = group.finish();
    let mut options = WriteOptions::default();
    options.set_sync(context.sync);
    match context.db.write_opt(std::mem::take(&mut group.batch), &options) {
        Ok(()) => {
            *counters = staged;
            if let Ok(mut published) = context.published.lock() {
                *published = counters.clone();
            }
            if group.truncated {
                hot.clear();
            }
            for (trace_id, slot) in group.traces {
                hot.put(trace_id, slot.meta);
            }
            for (reply, outcome) in accepted {
                reply.send(Ok(outcome));
            }
        }
        Err(error) => {
            // What the failed batch left is unknown: forget every cached summary.
            hot.clear();
            let message = error.into_string();
            tracing::error!(%message, "commit failed; the group's requests are refused");
            for (reply, _) in accepted {
                reply.send(Err(StoreError::Engine {
                    action: "committing a batch",
                    message: message.clone(),
                }));
            }
        }
    }
}
