//! The single writer: every mutation goes through one thread that group-commits.
//!
//! Callers hand a request (append, delete, truncate) to the writer thread and
//! block on its reply. The thread drains whatever requests are waiting, turns
//! them into one RocksDB `WriteBatch` and writes it once, so N concurrent
//! appenders cost one WAL write instead of N, and throughput grows with
//! concurrency. Because one thread applies every mutation in order, the
//! indexes it maintains (trace summaries, first-seen order, counters) need no
//! locks and a delete can never interleave with an append to the same trace.
//!
//! Each request is staged in a layer of its own and folded into the group only
//! if it succeeds, so a request that fails (say, on a damaged summary record)
//! leaves no partial mutations behind and does not fail its neighbours.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::mpsc::{Receiver, SyncSender};
use std::sync::{Arc, Mutex};

use rocksdb::{WriteBatch, WriteOptions};
use tracekeep_proto::EventKind;

use crate::error::{Result, StoreError};
use crate::keys::{self, TAG_END, TAG_EVENT};
use crate::records::{self, Counters, OrderEntry, TraceMeta};

/// Most requests folded into one commit.
const MAX_GROUP_REQUESTS: usize = 256;
/// Most payload bytes folded into one commit (a single larger request still goes alone).
const MAX_GROUP_BYTES: usize = 16 << 20;

/// One event, validated and encoded by the caller's thread.
pub(crate) struct PreparedEvent {
    pub trace_id: String,
    pub kind: EventKind,
    pub tso: i64,
    pub payload: Vec<u8>,
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
                .map(|event| event.payload.len() + event.trace_id.len())
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

#[derive(Clone)]
struct Slot {
    meta: Option<TraceMeta>,
    dirty: bool,
}

/// Changes staged for the group, or for one request on top of it.
#[derive(Clone)]
struct Staged {
    counters: Counters,
    traces: HashMap<String, Slot>,
    /// A truncate is staged: nothing written before it is visible any more.
    truncated: bool,
}

enum BatchOp {
    Put(Vec<u8>, Vec<u8>),
    Delete(Vec<u8>),
    DeleteRange(Vec<u8>, Vec<u8>),
}

/// One request's changes, layered over the group's.
struct Layer<'a> {
    db: &'a rocksdb::DB,
    group: &'a Staged,
    own: Staged,
    ops: Vec<BatchOp>,
}

impl<'a> Layer<'a> {
    fn new(db: &'a rocksdb::DB, group: &'a Staged) -> Layer<'a> {
        Layer {
            db,
            group,
            own: Staged {
                counters: group.counters.clone(),
                traces: HashMap::new(),
                truncated: false,
            },
            ops: Vec::new(),
        }
    }

    /// The trace's summary as this request sees it, cached in the layer.
    fn slot(&mut self, trace_id: &str) -> Result<&mut Slot> {
        if !self.own.traces.contains_key(trace_id) {
            let slot = if self.own.truncated {
                Slot {
                    meta: None,
                    dirty: false,
                }
            } else if let Some(slot) = self.group.traces.get(trace_id) {
                slot.clone()
            } else if self.group.truncated {
                Slot {
                    meta: None,
                    dirty: false,
                }
            } else {
                Slot {
                    meta: load_meta(self.db, trace_id)?,
                    dirty: false,
                }
            };
            self.own.traces.insert(trace_id.to_owned(), slot);
        }
        // Inserted just above when absent.
        self.own
            .traces
            .get_mut(trace_id)
            .ok_or_else(|| StoreError::corrupted(&keys::trace_key(trace_id), "writer lost a staged summary"))
    }

    fn next_seq(&mut self) -> u64 {
        let seq = self.own.counters.next_seq;
        self.own.counters.next_seq += 1;
        seq
    }

    fn append(&mut self, events: Vec<PreparedEvent>) -> Result<Outcome> {
        for event in events {
            let known = self.slot(&event.trace_id)?.meta.is_some();
            if !known {
                let first_seq = self.next_seq();
                let order_key = keys::order_key(first_seq);
                let entry = OrderEntry {
                    trace_id: event.trace_id.clone(),
                };
                let value = records::encode_message(&order_key, records::KIND_ORDER, &entry);
                self.ops.push(BatchOp::Put(order_key, value));
                self.own.counters.traces += 1;
                let slot = self.slot(&event.trace_id)?;
                slot.meta = Some(TraceMeta {
                    first_seq,
                    last_seq: first_seq,
                    events_by_kind: Default::default(),
                    min_tso: 0,
                    max_tso: 0,
                });
            }
            let seq = self.next_seq();
            let key = keys::event_key(&event.trace_id, seq);
            let value = records::encode(&key, event.kind.code(), &event.payload);
            self.ops.push(BatchOp::Put(key, value));
            *self
                .own
                .counters
                .events_by_kind
                .entry(u32::from(event.kind.code()))
                .or_default() += 1;
            let slot = self.slot(&event.trace_id)?;
            slot.dirty = true;
            if let Some(meta) = slot.meta.as_mut() {
                meta.last_seq = seq;
                meta.widen_tso_range(event.tso);
                *meta.events_by_kind.entry(u32::from(event.kind.code())).or_default() += 1;
            }
        }
        Ok(Outcome::Appended)
    }

    fn delete(&mut self, trace_id: &str) -> Result<Outcome> {
        let slot = self.slot(trace_id)?;
        let Some(meta) = slot.meta.take() else {
            return Ok(Outcome::Deleted(false));
        };
        slot.dirty = true;
        let prefix = keys::event_prefix(trace_id);
        let end = keys::prefix_end(&prefix);
        self.ops.push(BatchOp::DeleteRange(prefix, end));
        self.ops.push(BatchOp::Delete(keys::order_key(meta.first_seq)));
        let counters = &mut self.own.counters;
        counters.traces = counters.traces.saturating_sub(1);
        for (kind, count) in &meta.events_by_kind {
            if let Some(total) = counters.events_by_kind.get_mut(kind) {
                *total = total.saturating_sub(*count);
            }
        }
        Ok(Outcome::Deleted(true))
    }

    fn truncate(&mut self) -> Outcome {
        self.ops.push(BatchOp::DeleteRange(vec![TAG_EVENT], vec![TAG_END]));
        self.own.traces.clear();
        self.own.truncated = true;
        self.own.counters.traces = 0;
        self.own.counters.events_by_kind.clear();
        Outcome::Truncated
    }

    /// This request's changes, released from the group they were layered on.
    fn into_changes(self) -> Changes {
        Changes {
            own: self.own,
            ops: self.ops,
        }
    }
}

/// One successful request's changes.
struct Changes {
    own: Staged,
    ops: Vec<BatchOp>,
}

impl Changes {
    /// Folds the changes into the group.
    fn fold_into(self, group: &mut Staged, batch: &mut WriteBatch) {
        for op in self.ops {
            match op {
                BatchOp::Put(key, value) => batch.put(key, value),
                BatchOp::Delete(key) => batch.delete(key),
                BatchOp::DeleteRange(from, to) => batch.delete_range(from, to),
            }
        }
        if self.own.truncated {
            group.traces.clear();
            group.truncated = true;
        }
        group.counters = self.own.counters;
        group.traces.extend(self.own.traces);
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

fn commit_group(context: &WriterContext, counters: &mut Counters, group: Vec<Request>) {
    let mut staged = Staged {
        counters: counters.clone(),
        traces: HashMap::new(),
        truncated: false,
    };
    let mut batch = WriteBatch::default();
    let mut accepted = Vec::with_capacity(group.len());
    // Checked once per group, and only when it appends: deletes and truncates
    // are how an operator frees space, so they always go through.
    let mut below_reserve: Option<Option<u64>> = None;
    for Request { op, reply } in group {
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
        let mut layer = Layer::new(&context.db, &staged);
        let outcome = match op {
            Op::Append(events) => layer.append(events),
            Op::Delete(trace_id) => layer.delete(&trace_id),
            Op::Truncate => Ok(layer.truncate()),
        };
        let changes = layer.into_changes();
        match outcome {
            Ok(outcome) => {
                changes.fold_into(&mut staged, &mut batch);
                accepted.push((reply, outcome));
            }
            Err(error) => reply.send(Err(error)),
        }
    }
    if accepted.is_empty() {
        return;
    }
    for (trace_id, slot) in &staged.traces {
        if !slot.dirty {
            continue;
        }
        let key = keys::trace_key(trace_id);
        match &slot.meta {
            Some(meta) => {
                let value = records::encode_message(&key, records::KIND_TRACE_META, meta);
                batch.put(key, value);
            }
            None => batch.delete(key),
        }
    }
    let counters_value = records::encode_message(keys::META_COUNTERS, records::KIND_COUNTERS, &staged.counters);
    batch.put(keys::META_COUNTERS, counters_value);

    let mut options = WriteOptions::default();
    options.set_sync(context.sync);
    match context.db.write_opt(batch, &options) {
        Ok(()) => {
            *counters = staged.counters;
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
