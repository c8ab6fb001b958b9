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

/// One event, validated and encoded by the caller's thread.
pub(crate) struct PreparedEvent {
    pub trace_id: String,
    pub kind: EventKind,
    pub tso: i64,
    pub record: PreparedRecord,
}

/// A mutation.
pub(crate) enum Op {
    Append(Vec<PreparedEvent>),
    Delete(String),
    Truncate,
}

impl Op {
    fn size(&self) -> usize {
        match self {
            Op::Append(events) => events
                .iter()
                .map(|event| event.record.len() + event.trace_id.len())
                .sum(),
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
        commit_group(&context, &mut counters, group);
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
    /// A truncate is in the group: nothing written before it is visible any more.
    truncated: bool,
    /// Scratch space for keys (the batch copies what it is given).
    key: Vec<u8>,
}

impl Group<'_> {
    /// Phase one: makes sure the trace's summary is loaded. The only step that can fail.
    fn load(&mut self, trace_id: &str) -> Result<()> {
        if self.traces.contains_key(trace_id) {
            return Ok(());
        }
        let meta = if self.truncated {
            None
        } else {
            load_meta(self.db, trace_id)?
        };
        self.traces.insert(trace_id.to_owned(), Slot { meta, dirty: false });
        Ok(())
    }

    fn next_seq(&mut self) -> u64 {
        let seq = self.counters.next_seq;
        self.counters.next_seq += 1;
        seq
    }

    fn append(&mut self, events: Vec<PreparedEvent>) -> Result<Outcome> {
        for event in &events {
            self.load(&event.trace_id)?;
        }
        for event in events {
            let known = self.traces.get(&event.trace_id).is_some_and(|slot| slot.meta.is_some());
            if !known {
                let first_seq = self.next_seq();
                let order_key = keys::order_key(first_seq);
                let entry = OrderEntry {
                    trace_id: event.trace_id.clone(),
                };
                self.batch.put(
                    &order_key,
                    records::encode_message(&order_key, records::KIND_ORDER, &entry),
                );
                self.counters.traces += 1;
                let slot = self.traces.entry(event.trace_id.clone()).or_insert(Slot {
                    meta: None,
                    dirty: true,
                });
                slot.meta = Some(TraceMeta {
                    first_seq,
                    last_seq: first_seq,
                    ..TraceMeta::default()
                });
            }
            let seq = self.next_seq();
            keys::write_event_key(&mut self.key, &event.trace_id, seq);
            let record = event.record.seal(&self.key);
            self.batch.put(&self.key, record);
            let code = u32::from(event.kind.code());
            *self.counters.events_by_kind.entry(code).or_default() += 1;
            if let Some(slot) = self.traces.get_mut(&event.trace_id) {
                slot.dirty = true;
                if let Some(meta) = slot.meta.as_mut() {
                    meta.last_seq = seq;
                    meta.widen_tso_range(event.tso);
                    *meta.events_by_kind.entry(code).or_default() += 1;
                }
            }
        }
        Ok(Outcome::Appended)
    }

    fn delete(&mut self, trace_id: &str) -> Result<Outcome> {
        self.load(trace_id)?;
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
    fn finish(mut self) -> (WriteBatch, Counters) {
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
        (self.batch, self.counters)
    }
}

fn load_meta(db: &rocksdb::DB, trace_id: &str) -> Result<Option<TraceMeta>> {
    let key = keys::trace_key(trace_id);
    let value = db
        .get_pinned(&key)
        .map_err(|error| StoreError::engine_at(&key, "reading a trace summary", error))?;
    value
        .map(|value| records::decode_message(&key, &value, records::KIND_TRACE_META))
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

fn commit_group(context: &WriterContext, counters: &mut Counters, requests: Vec<Request>) {
    let mut group = Group {
        db: &context.db,
        batch: WriteBatch::default(),
        counters: counters.clone(),
        traces: HashMap::new(),
        truncated: false,
        key: Vec::with_capacity(64),
    };
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
            Op::Append(events) => group.append(events),
            Op::Delete(trace_id) => group.delete(&trace_id),
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
    let (batch, staged) = group.finish();
    let mut options = WriteOptions::default();
    options.set_sync(context.sync);
    match context.db.write_opt(batch, &options) {
        Ok(()) => {
            *counters = staged;
            if let Ok(mut published) = context.published.lock() {
                *published = counters.clone();
            }
            for (reply, outcome) in accepted {
                reply.send(Ok(outcome));
            }
        }
        Err(error) => {
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
