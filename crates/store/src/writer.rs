//! The single writer: one committer at a time applies every mutation and
//! group-commits.
//!
//! Callers queue a request (append, delete, truncate) and get its outcome
//! back. The committer, normally the writer thread, drains whatever requests
//! are waiting, turns them into one engine batch and writes it once, so N
//! concurrent appenders cost one log write instead of N, and throughput
//! grows with concurrency. A small append that finds the store quiet commits
//! itself on the caller's thread instead ([`Queue`]). Because one committer
//! at a time applies every mutation in order, the indexes it maintains
//! (first-seen order, counters) need no locks and a delete can never
//! interleave with an append to the same trace.
//!
//! An append needs no read in the common case: the writer knows which traces
//! are stored, and where, from the traces it touched lately ([`HotTraces`]),
//! and a Bloom filter over all of them ([`TraceFilter`]) rules out most of the
//! rest; only a trace the filter may hold but the writer has not seen lately
//! costs a RocksDB read (of its start entry). A new trace gets a first-seen
//! number, which also places its events (it begins their keys); the commit
//! writes the trace's start entry and the first-seen entries of all its new
//! traces as one record; there is no per-trace summary to rewrite.
//!
//! Each request is applied in two phases: first everything that can fail
//! (those reads), then the changes, which cannot. A request that fails
//! therefore leaves nothing behind in the group and does not fail its
//! neighbours. Deletes and truncates commit on their own, against committed
//! state. Records arrive already encoded and checksummed by the callers'
//! threads; the writer only adds the key.

use std::collections::VecDeque;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError};
use std::sync::{Arc, Condvar, Mutex};

use tracekeep_proto::EventKind;

use crate::doomed::{self, Doomed, DoomedTraces};
use crate::engine::{Engine, EngineBatch, EngineError, EngineIter, KeyRange, Written};
use crate::error::{Result, StoreError};
use crate::keys::{self, ORDER_END, TAG_END, TAG_LEGACY_EVENT, TAG_ORDER};
use crate::order::{self, OrderItem};
use crate::reads::read_start;
use crate::records::{self, Counters, OrderBatch, PreparedRecord, PreparedRecords};
use crate::span_index;
use crate::trace_filter::TraceFilter;
use crate::trace_set::{TracePositions, TraceSet, trace_hash};
use crate::tso::Clock;

/// Most requests folded into one commit.
const MAX_GROUP_REQUESTS: usize = 256;
/// Most record bytes folded into one commit (a single larger request still goes alone).
const MAX_GROUP_BYTES: usize = 16 << 20;

/// One event, validated and framed by the caller's thread (its record is
/// in its batch's [`PreparedRecords`]).
pub(crate) struct PreparedEvent {
    kind: EventKind,
    tso: i64,
    record: PreparedRecord,
    /// The event's `base.traceID`.
    trace_id: TraceIdAt,
    /// Its [`trace_hash`], computed on the caller's thread.
    trace_hash: u64,
}

/// Where a prepared event's trace ID is.
enum TraceIdAt {
    /// In the record's payload (the event's bytes, as they arrived), at this range.
    Payload(Range<usize>),
    /// Taken from the decoded event the store encoded itself.
    Owned(String),
}

impl PreparedEvent {
    /// `trace_id` is the range of `base.traceID` in the record's payload
    /// (in `records`), checked to be UTF-8 by the caller.
    pub(crate) fn new(
        kind: EventKind,
        tso: i64,
        records: &PreparedRecords,
        record: PreparedRecord,
        trace_id: Range<usize>,
    ) -> PreparedEvent {
        let trace_hash = trace_hash(records.payload(&record).get(trace_id.clone()).unwrap_or_default());
        PreparedEvent {
            kind,
            tso,
            record,
            trace_id: TraceIdAt::Payload(trace_id),
            trace_hash,
        }
    }

    /// An event the store encoded from its decoded form, whose trace ID is known.
    pub(crate) fn encoded_from(kind: EventKind, tso: i64, record: PreparedRecord, trace_id: String) -> PreparedEvent {
        PreparedEvent {
            kind,
            tso,
            record,
            trace_hash: trace_hash(trace_id.as_bytes()),
            trace_id: TraceIdAt::Owned(trace_id),
        }
    }

    /// The trace ID's bytes: checked to be UTF-8 when the event was
    /// prepared, so the writer compares and copies them as they are. Checking
    /// them again at each of the writer's lookups took 8% of its samples at
    /// 2 events per trace (a perf profile of the writer thread, 2026-12-01).
    fn trace_id<'a>(&'a self, records: &'a PreparedRecords) -> &'a [u8] {
        match &self.trace_id {
            TraceIdAt::Payload(range) => records.payload(&self.record).get(range.clone()).unwrap_or_default(),
            TraceIdAt::Owned(trace_id) => trace_id.as_bytes(),
        }
    }
}

/// A trace ID the writer keeps (first-seen order, hot set), from bytes that
/// are UTF-8 already (see [`PreparedEvent::trace_id`]): one check per new
/// trace, and never a lossy replacement in practice.
fn owned_trace_id(trace_id: &[u8]) -> String {
    String::from_utf8_lossy(trace_id).into_owned()
}

/// A batch of events to append, and the span index entries of its spans
/// (computed by the caller's thread, each once).
pub(crate) struct PreparedAppend {
    /// The events' records.
    pub records: PreparedRecords,
    pub events: Vec<PreparedEvent>,
    pub index: span_index::IndexEntries,
}

/// A mutation.
pub(crate) enum Op {
    Append(PreparedAppend),
    Delete(String),
    /// Deletes, in one commit, those of the traces whose events are all
    /// numbered below `before_seq` (arrived before retention's horizon):
    /// decided here, on the writer, so an event appended since the sweep
    /// looked is never lost.
    Expire {
        /// Traces with their first-seen numbers, in first-seen order.
        traces: Vec<(String, u64)>,
        before_seq: u64,
    },
    Truncate,
}

impl Op {
    /// Events the op appends.
    fn events(&self) -> usize {
        match self {
            Op::Append(append) => append.events.len() + append.index.len(),
            Op::Delete(_) | Op::Expire { .. } | Op::Truncate => 0,
        }
    }

    fn size(&self) -> usize {
        match self {
            Op::Append(append) => append.records.len() + append.index.size(),
            Op::Delete(trace_id) => trace_id.len(),
            Op::Expire { traces, .. } => traces.iter().map(|(trace_id, _)| trace_id.len() + 8).sum(),
            Op::Truncate => 0,
        }
    }
}

/// What a mutation did.
#[derive(Debug)]
pub(crate) enum Outcome {
    Appended,
    Deleted(bool),
    /// Traces an expiry deleted.
    Expired(u64),
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
    pub db: Arc<dyn Engine>,
    pub sync: bool,
    /// The data directory, whose filesystem's free space is checked.
    pub path: PathBuf,
    /// Appends are refused below this many free bytes (0: never).
    pub min_free_disk_bytes: u64,
    /// The counters as of the last commit, published for `stats`.
    pub published: Arc<Mutex<Counters>>,
    /// Wall-clock time for the clock marks (retention's horizon).
    pub clock: Arc<dyn Clock>,
    /// The store is a node of a cluster: deletes and truncates leave marks
    /// that the other nodes' reads honour ([`records::ClusterMark`]).
    pub cluster_marks: bool,
}

/// Requests waiting for a commit, and who commits them.
///
/// One committer at a time holds the writer's state (`busy`). Usually that is
/// the writer thread, woken for each group. But an append that finds the
/// queue empty and nobody committing commits itself, on the caller's thread:
/// at one request in flight the hand-off to the writer thread and back (two
/// thread wake-ups) cost more than the commit, about 80 µs of CPU per
/// one-event append on the 2-core benchmark machine. It commits only its own
/// group; whatever arrived meanwhile is handed to the writer thread, so a
/// caller never becomes the writer under load. With `sync`, with an engine
/// whose commits wait on the network (a bucket), or while RocksDB
/// is slowing or stopping writes, appends never commit inline: a caller's
/// thread (an async worker) must not wait on an fsync or a stall.
pub(crate) struct Queue {
    shared: Mutex<Shared>,
    wake: Condvar,
    core: Mutex<Core>,
    /// No inline commits: `sync` mode, or an engine whose commits wait on
    /// the network.
    never_inline: bool,
    /// Inline commits only after no commit ended for this long. When commits
    /// follow each other faster, the writer thread committing beside the
    /// async workers kept the 4 x 1 row's p99 at 1 ms where inline commits,
    /// holding up the other connections of their worker, took it to 2-3 ms.
    inline_after_idle: std::time::Duration,
    /// RocksDB reported delayed or stopped writes at the last look.
    engine_slowing: AtomicBool,
    /// When the queue was made, and the last commit's end in µs after it.
    born: std::time::Instant,
    last_commit_micros: AtomicU64,
}

#[derive(Default)]
struct Shared {
    requests: VecDeque<Request>,
    /// A committer holds the core.
    busy: bool,
    /// An inline committer left requests for the writer thread (busy stays set).
    handoff: bool,
    /// The store is closing (or a commit panicked): no new requests.
    closed: bool,
}

/// What a committer works with.
struct Core {
    context: WriterContext,
    state: WriterState,
    /// When the engine's slowdown figures were last read.
    engine_read_at: Option<std::time::Instant>,
}

/// Appends of at most this many events may commit inline; larger ones are
/// what busy clients send, and they group better on the writer thread.
const INLINE_MAX_EVENTS: usize = 4;

/// How often a committer reads RocksDB's write-slowdown figures.
const ENGINE_READ_INTERVAL: std::time::Duration = std::time::Duration::from_millis(10);

impl Queue {
    /// A queue whose committers share `context` and the writer state
    /// resumed from `counters`.
    pub(crate) fn new(context: WriterContext, counters: Counters, inline_after_idle: std::time::Duration) -> Queue {
        let never_inline = context.sync || !context.db.is_local();
        let state = WriterState::new(&context, counters);
        Queue {
            shared: Mutex::new(Shared::default()),
            wake: Condvar::new(),
            core: Mutex::new(Core {
                context,
                state,
                engine_read_at: None,
            }),
            never_inline,
            inline_after_idle,
            engine_slowing: AtomicBool::new(false),
            born: std::time::Instant::now(),
            last_commit_micros: AtomicU64::new(0),
        }
    }

    /// How long since the last commit ended.
    fn idle_for(&self) -> std::time::Duration {
        let now = self.born.elapsed().as_micros() as u64;
        std::time::Duration::from_micros(now.saturating_sub(self.last_commit_micros.load(Ordering::Relaxed)))
    }

    fn shared(&self) -> std::sync::MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Queues `request`; it is committed inline or by the writer thread.
    pub(crate) fn submit(&self, request: Request) {
        let inline = matches!(request.op, Op::Append(_))
            && request.op.events() <= INLINE_MAX_EVENTS
            && !self.never_inline
            && !self.engine_slowing.load(Ordering::Relaxed)
            && self.idle_for() >= self.inline_after_idle;
        let mut shared = self.shared();
        if shared.closed {
            drop(shared);
            return request.reply.send(Err(StoreError::Closed));
        }
        shared.requests.push_back(request);
        if shared.busy {
            // The committer looks at the queue again before it stops.
            return;
        }
        if !(inline && shared.requests.len() == 1) {
            self.wake.notify_one();
            return;
        }
        shared.busy = true;
        self.commit_next(shared);
        let mut shared = self.shared();
        if shared.requests.is_empty() {
            shared.busy = false;
            if shared.closed {
                // The writer thread waits for the last committer before it ends.
                self.wake.notify_all();
            }
        } else {
            shared.handoff = true;
            self.wake.notify_one();
        }
    }

    /// The writer thread: commits whatever is queued, group after group,
    /// until the store closes and the queue is empty.
    pub(crate) fn run(&self) {
        let mut shared = self.shared();
        loop {
            let work = shared.handoff || (!shared.busy && !shared.requests.is_empty());
            if !work {
                if shared.closed && !shared.busy {
                    break;
                }
                shared = self
                    .wake
                    .wait(shared)
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                continue;
            }
            shared.handoff = false;
            shared.busy = true;
            loop {
                self.commit_next(shared);
                shared = self.shared();
                if shared.requests.is_empty() {
                    shared.busy = false;
                    break;
                }
            }
        }
        drop(shared);
        let mut core = self.core.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        core.state.stop_loader();
    }

    /// Refuses new requests; the writer thread commits what is queued, then ends.
    pub(crate) fn close(&self) {
        self.shared().closed = true;
        self.wake.notify_all();
    }

    /// Takes the next group off the queue and commits it with the queue
    /// unlocked, as the committer (`busy` is set). A panic in the commit
    /// closes the queue ([`Committing`]).
    fn commit_next(&self, mut shared: std::sync::MutexGuard<'_, Shared>) {
        let drained = drain(&mut shared.requests);
        drop(shared);
        let guard = Committing { queue: self };
        self.commit(drained);
        std::mem::forget(guard);
    }

    /// Commits one drained group: appends together, a delete or truncate
    /// alone after the appends queued before it, so it sees committed state.
    fn commit(&self, drained: Vec<Request>) {
        let mut core = self.core.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let Core {
            context,
            state,
            engine_read_at,
        } = &mut *core;
        state.take_loaded_filter();
        let mut appends = Vec::with_capacity(drained.len());
        for request in drained {
            if matches!(request.op, Op::Append(_)) {
                appends.push(request);
                continue;
            }
            commit_appends(context, state, std::mem::take(&mut appends));
            commit_alone(context, state, request);
        }
        commit_appends(context, state, appends);
        self.last_commit_micros
            .store(self.born.elapsed().as_micros() as u64, Ordering::Relaxed);
        if engine_read_at.is_none_or(|at| at.elapsed() >= ENGINE_READ_INTERVAL) {
            *engine_read_at = Some(std::time::Instant::now());
            self.engine_slowing
                .store(context.db.writes_slowing(), Ordering::Relaxed);
        }
    }
}

/// Set while a committer works; dropped only if its commit panicked (it is
/// forgotten otherwise). The queue then closes: a writer whose state may be
/// half-changed takes no more requests, as when the writer thread died.
struct Committing<'a> {
    queue: &'a Queue,
}

impl Drop for Committing<'_> {
    fn drop(&mut self) {
        tracing::error!("a commit panicked; the store takes no more writes");
        let mut shared = self.queue.shared();
        shared.closed = true;
        shared.busy = false;
        shared.handoff = false;
        for request in shared.requests.drain(..) {
            request.reply.send(Err(StoreError::Closed));
        }
        drop(shared);
        self.queue.wake.notify_all();
    }
}

/// The requests of one group: as many as wait, up to [`MAX_GROUP_REQUESTS`]
/// and [`MAX_GROUP_BYTES`] (a single larger request still goes alone).
fn drain(requests: &mut VecDeque<Request>) -> Vec<Request> {
    let mut bytes = 0;
    let mut drained = Vec::new();
    while drained.len() < MAX_GROUP_REQUESTS && bytes < MAX_GROUP_BYTES {
        let Some(request) = requests.pop_front() else { break };
        bytes += request.op.size();
        drained.push(request);
    }
    drained
}

/// Traces the writer touched lately, per generation.
const HOT_TRACES: usize = 16 * 1024;

/// IDs of traces the writer committed events for lately, with their
/// first-seen numbers, so that appends to an active trace need neither the
/// filter nor a read. Two generations
/// approximate LRU without per-access bookkeeping: lookups see both, and when
/// the young one fills, the old one is dropped and the young one takes its place.
struct HotTraces {
    young: TraceSet,
    old: TraceSet,
    capacity: usize,
}

impl HotTraces {
    fn new(capacity: usize) -> HotTraces {
        HotTraces {
            young: TraceSet::with_capacity(capacity),
            old: TraceSet::default(),
            capacity,
        }
    }

    fn get(&self, hash: u64, trace_id: &[u8]) -> Option<u64> {
        self.young.get(hash, trace_id).or_else(|| self.old.get(hash, trace_id))
    }

    fn touch(&mut self, hash: u64, trace_id: String, first_seq: u64) {
        if self.young.len() >= self.capacity && !self.young.contains(hash, trace_id.as_bytes()) {
            // Sized up front: growing a set to 16 k entries rehashes it 14 times.
            let young = TraceSet::with_capacity(self.capacity);
            self.old = std::mem::replace(&mut self.young, young);
        }
        self.young.insert(hash, trace_id, first_seq);
    }

    fn forget(&mut self, trace_id: &str) {
        let hash = trace_hash(trace_id.as_bytes());
        self.young.remove(hash, trace_id.as_bytes());
        self.old.remove(hash, trace_id.as_bytes());
    }

    fn clear(&mut self) {
        self.young.clear();
        self.old.clear();
    }
}

/// What the writer knows between commits.
struct WriterState {
    /// As of the last commit.
    counters: Counters,
    hot: HotTraces,
    /// Every trace committed since open (and, once `filter_complete`, before it).
    filter: TraceFilter,
    /// `filter` covers every stored trace: a miss means new.
    filter_complete: bool,
    /// The filter of the traces stored before open, from the loader thread.
    loader: Option<FilterLoader>,
    /// The minute of the newest clock mark written.
    clock_minute: u64,
}

/// The thread that reads the first-seen order at open into a filter.
struct FilterLoader {
    filters: Receiver<TraceFilter>,
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<()>,
}

impl WriterState {
    fn new(context: &WriterContext, counters: Counters) -> WriterState {
        let stored = usize::try_from(counters.traces).unwrap_or(usize::MAX);
        // An empty store needs nothing loaded; otherwise the writer reads
        // (correct, slower) for traces it cannot rule out until the loader is done.
        let loader = (stored > 0)
            .then(|| FilterLoader::start(context.db.clone(), stored))
            .flatten();
        WriterState {
            counters,
            hot: HotTraces::new(HOT_TRACES),
            filter: TraceFilter::with_capacity(0),
            filter_complete: stored == 0,
            loader,
            clock_minute: newest_clock_minute(&*context.db),
        }
    }

    /// Takes the loaded filter in once the loader has it.
    fn take_loaded_filter(&mut self) {
        let Some(loader) = self.loader.as_ref() else { return };
        match loader.filters.try_recv() {
            Ok(loaded) => {
                self.filter.absorb(loaded);
                self.filter_complete = true;
                self.stop_loader();
            }
            Err(TryRecvError::Empty) => {}
            // The loader failed (and logged why): keep reading for unknown traces.
            Err(TryRecvError::Disconnected) => self.stop_loader(),
        }
    }

    fn stop_loader(&mut self) {
        if let Some(loader) = self.loader.take() {
            loader.stop.store(true, Ordering::Relaxed);
            if loader.thread.join().is_err() {
                tracing::error!("the trace filter loader panicked");
            }
        }
    }

    /// The first-seen number of `trace_id` (whose [`trace_hash`] is `hash`)
    /// if it is stored, `None` if it is new (committed state).
    ///
    /// Adds the trace to the filter on the way, in the same pass over its
    /// block as the question: a trace the commit then fails to store is only
    /// a false positive (it costs a read if it comes again), and the filter
    /// never misses a stored one.
    fn stored_start(&mut self, db: &dyn Engine, hash: u64, trace_id: &[u8]) -> Result<Option<u64>> {
        if let Some(first_seq) = self.hot.get(hash, trace_id) {
            return Ok(Some(first_seq));
        }
        let maybe_stored = self.filter.insert_checked(hash);
        if self.filter_complete && !maybe_stored {
            return Ok(None);
        }
        // UTF-8 already (see `PreparedEvent::trace_id`): borrowed, not copied.
        read_start(db, &String::from_utf8_lossy(trace_id))
    }
}

impl FilterLoader {
    fn start(db: Arc<dyn Engine>, expected: usize) -> Option<FilterLoader> {
        let (sender, filters) = std::sync::mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let spawned = std::thread::Builder::new()
            .name("tracekeep-filter".into())
            .spawn(move || {
                let started = std::time::Instant::now();
                match load_filter(&*db, expected, &stopped) {
                    Ok(Some(filter)) => {
                        tracing::info!(
                            traces = expected,
                            bytes = filter.size_bytes(),
                            millis = started.elapsed().as_millis() as u64,
                            "trace filter loaded"
                        );
                        let _ = sender.send(filter);
                    }
                    Ok(None) => {}
                    Err(error) => tracing::warn!(%error, "loading the trace filter failed; appends read instead"),
                }
            });
        match spawned {
            Ok(thread) => Some(FilterLoader { filters, stop, thread }),
            Err(error) => {
                tracing::warn!(%error, "starting the trace filter loader failed; appends read instead");
                None
            }
        }
    }
}

/// Every trace of the first-seen order, into a filter; `None` if stopped.
/// Traces committed meanwhile are in the writer's own filter.
fn load_filter(db: &dyn Engine, expected: usize, stop: &AtomicBool) -> Result<Option<TraceFilter>> {
    let mut filter = TraceFilter::with_capacity(expected);
    // A one-off pass: do not push the hot blocks out of the cache.
    let mut iter = db.iter(KeyRange {
        once: true,
        ..KeyRange::between([TAG_ORDER], [ORDER_END])
    });
    iter.seek_to_first();
    while let Some((key, value)) = iter.item() {
        if stop.load(Ordering::Relaxed) {
            return Ok(None);
        }
        for item in order::decode_record(key, value)? {
            filter.insert(trace_hash(item.trace_id.as_bytes()));
        }
        iter.next();
    }
    iter.status()
        .map_err(|error| StoreError::engine_at(&[TAG_ORDER], "reading first-seen order", error))?;
    Ok(Some(filter))
}

/// Where an event's trace starts, as phase one of an append finds it.
#[derive(Clone, Copy)]
enum Start {
    /// The event starts its trace.
    New,
    /// The trace is stored, or started earlier in the commit, at this number.
    At(u64),
    /// As the request's earlier event at this position.
    AsEvent(usize),
}

/// The appends being folded into one commit.
struct Group<'a> {
    db: &'a dyn Engine,
    batch: Box<dyn EngineBatch + 'a>,
    counters: Counters,
    /// First-seen entries of the traces the group starts.
    order: OrderBatch,
    /// The [`trace_hash`] of each of those traces, in the same order.
    started_hashes: Vec<u64>,
    /// Where in `order` each started trace is, for lookups by later requests.
    started: TracePositions,
    /// Known traces the group appended to (for the hot set), with their
    /// hashes and first-seen numbers.
    continued: Vec<(u64, String, u64)>,
    /// Scratch space: which traces the request being added has shown already.
    seen: TracePositions,
    /// Scratch space for keys (the batch copies what it is given).
    key: Vec<u8>,
}

impl Group<'_> {
    fn next_seq(&mut self) -> u64 {
        let seq = self.counters.next_seq;
        self.counters.next_seq += 1;
        seq
    }

    fn append(&mut self, append: PreparedAppend, state: &mut WriterState) -> Result<Outcome> {
        let PreparedAppend {
            mut records,
            events,
            index,
        } = append;
        // Phase one: where each event's trace starts. The only step that can fail.
        let event_id = |at: usize| events.get(at).map_or(&b""[..], |event| event.trace_id(&records));
        let started_id = |at: usize| self.order.trace_ids.get(at).map_or(&b""[..], String::as_bytes);
        self.seen.clear();
        let mut starts = Vec::with_capacity(events.len());
        let mut continued = Vec::new();
        for (at, event) in events.iter().enumerate() {
            let (trace_id, hash) = (event.trace_id(&records), event.trace_hash);
            let start = if let Some(earlier) = self.seen.find_or_add(hash, at, trace_id, event_id) {
                Start::AsEvent(earlier)
            } else if let Some(position) = self.started.find(hash, trace_id, started_id) {
                Start::At(self.order.first_seqs.get(position).copied().unwrap_or_default())
            } else if let Some(first_seq) = state.stored_start(self.db, hash, trace_id)? {
                if !state.hot.young.contains(hash, trace_id) {
                    continued.push((hash, owned_trace_id(trace_id), first_seq));
                }
                Start::At(first_seq)
            } else {
                Start::New
            };
            starts.push(start);
        }
        // Phase two: the changes.
        self.continued.append(&mut continued);
        let mut first_seqs = Vec::with_capacity(events.len());
        let mut kind_run: Option<(EventKind, u64)> = None;
        for (event, start) in events.into_iter().zip(starts) {
            let trace_id = event.trace_id(&records);
            let first_seq = match start {
                Start::New => self.start_trace(trace_id, event.trace_hash),
                Start::At(first_seq) => first_seq,
                Start::AsEvent(earlier) => first_seqs.get(earlier).copied().unwrap_or_default(),
            };
            first_seqs.push(first_seq);
            let seq = self.next_seq();
            keys::write_event_key(&mut self.key, first_seq, trace_id, seq);
            // Counted per run of one kind: a request is nearly always one kind.
            kind_run = match kind_run {
                Some((kind, count)) if kind == event.kind => Some((kind, count + 1)),
                other => {
                    self.count_kind(other);
                    Some((event.kind, 1))
                }
            };
            self.counters.widen_tso_range(event.tso);
            self.batch.put(&self.key, records.seal(event.record, &self.key));
        }
        self.count_kind(kind_run);
        span_index::write_entries(&mut *self.batch, &index);
        Ok(Outcome::Appended)
    }

    /// Gives a new trace its first-seen number (its start entry is written
    /// by [`Group::finish`]); returns the number.
    fn start_trace(&mut self, trace_id: &[u8], hash: u64) -> u64 {
        let first_seq = self.next_seq();
        let at = self.order.trace_ids.len();
        self.order.trace_ids.push(owned_trace_id(trace_id));
        self.order.first_seqs.push(first_seq);
        self.started_hashes.push(hash);
        // Phase one found it neither started in this group nor seen before
        // in this request.
        self.started.add_absent(hash, at);
        self.counters.traces += 1;
        first_seq
    }

    fn count_kind(&mut self, run: Option<(EventKind, u64)>) {
        if let Some((kind, count)) = run {
            *self.counters.events_by_kind.entry(u32::from(kind.code())).or_default() += count;
        }
    }

    /// The start entries and first-seen entries of the traces the group
    /// started, and the counters, into the batch. The start entries go in
    /// together, after every event, rather than each before its trace's
    /// first event: RocksDB then inserts into one family's memtable at a
    /// time instead of switching family twice per new trace.
    fn finish(&mut self) {
        for (trace_id, &first_seq) in self.order.trace_ids.iter().zip(&self.order.first_seqs) {
            keys::write_trace_start_key(&mut self.key, trace_id);
            self.batch
                .put(&self.key, &records::encode_trace_start(&self.key, first_seq));
        }
        if let Some((key, value)) = order::encode(&self.order) {
            self.batch.put(&key, &value);
        }
        put_counters(&mut *self.batch, &self.counters);
    }
}

fn put_counters(batch: &mut dyn EngineBatch, counters: &Counters) {
    let value = records::encode_message(keys::META_COUNTERS, records::KIND_COUNTERS, counters);
    batch.put(keys::META_COUNTERS, &value);
}

/// The bytes free when the filesystem of `path` is below `reserve`, `None`
/// when it is not. A failed `statvfs` does not block writes: RocksDB reports
/// real trouble.
pub(crate) fn space_below_reserve(path: &std::path::Path, reserve: u64) -> Option<u64> {
    if reserve == 0 {
        return None;
    }
    let stats = rustix::fs::statvfs(path).ok()?;
    let available = stats.f_bavail.saturating_mul(stats.f_frsize);
    (available < reserve).then_some(available)
}

/// Writes `batch`; on success publishes `counters` as the committed ones
/// (readers see the batch from now on) and returns how durable it is.
/// A failure is returned as the engine's message, for every request of the
/// commit.
fn write(
    context: &WriterContext,
    state: &mut WriterState,
    batch: Box<dyn EngineBatch + '_>,
    counters: Counters,
) -> std::result::Result<Written, String> {
    match batch.write(context.sync) {
        Ok(written) => {
            if let Ok(mut published) = context.published.lock() {
                *published = counters.clone();
            }
            state.counters = counters;
            Ok(written)
        }
        Err(error) => {
            // What the failed batch left is unknown: forget which traces are hot.
            state.hot.clear();
            let message = error.message;
            tracing::error!(%message, "commit failed; its requests are refused");
            Err(message)
        }
    }
}

/// [`write`], then waits until the batch is durable: for deletes and
/// truncates, which are rare and answered only once durable.
fn write_durably(
    context: &WriterContext,
    state: &mut WriterState,
    batch: Box<dyn EngineBatch + '_>,
    counters: Counters,
) -> Result<()> {
    write(context, state, batch, counters)
        .map_err(|message| commit_failed(&message))?
        .wait()
        .map_err(|error| not_durable(&error))
}

/// A commit the engine applied but could not make durable (a bucket that
/// stopped answering): its requests are refused, retryably. It may still
/// become durable later; it was never acknowledged.
fn not_durable(error: &EngineError) -> StoreError {
    StoreError::Unavailable {
        reason: error.message.clone(),
    }
}

/// Answers the requests of a written commit: now when it is durable, else
/// from the engine's callback once it is (the writer goes on meanwhile).
fn answer_when_durable(written: Written, accepted: Vec<(Reply, Outcome)>) {
    let answer = move |result: std::result::Result<(), EngineError>| match result {
        Ok(()) => {
            for (reply, outcome) in accepted {
                reply.send(Ok(outcome));
            }
        }
        Err(error) => {
            tracing::warn!(message = %error.message, "a commit was not confirmed durable; its requests are refused");
            for (reply, _) in accepted {
                reply.send(Err(not_durable(&error)));
            }
        }
    };
    match written {
        Written::Durable => answer(Ok(())),
        Written::Pending(then) => then(Box::new(answer)),
    }
}

fn commit_failed(message: &str) -> StoreError {
    StoreError::Engine {
        action: "committing a batch",
        message: message.to_owned(),
    }
}

fn commit_appends(context: &WriterContext, state: &mut WriterState, requests: Vec<Request>) {
    if requests.is_empty() {
        return;
    }
    // Room for every record plus its key, so the batch's buffer is not
    // copied as it grows.
    let capacity: usize = requests
        .iter()
        .map(|request| request.op.size() + request.op.events() * 48)
        .sum();
    let batch = match context.db.batch(capacity + 4096) {
        Ok(batch) => batch,
        Err(error) => {
            for request in requests {
                request.reply.send(Err(commit_failed(&error.message)));
            }
            return;
        }
    };
    let now = context.clock.now_nanos();
    let mut counters = state.counters.clone();
    counters.next_seq = counters.next_seq.max(arrival_floor(now));
    let mut group = Group {
        db: &*context.db,
        batch,
        counters,
        order: OrderBatch::default(),
        started_hashes: Vec::new(),
        started: TracePositions::default(),
        continued: Vec::new(),
        seen: TracePositions::default(),
        key: Vec::with_capacity(64),
    };
    // Deletes and truncates are how an operator frees space, so only appends
    // are checked, once per group.
    if let Some(available) = space_below_reserve(&context.path, context.min_free_disk_bytes) {
        for request in requests {
            request.reply.send(Err(StoreError::DiskFull {
                path: context.path.clone(),
                available,
                reserve: context.min_free_disk_bytes,
            }));
        }
        return;
    }
    let mut accepted = Vec::with_capacity(requests.len());
    for Request { op, reply } in requests {
        let outcome = match op {
            Op::Append(append) => group.append(append, state),
            other => Err(unexpected_op(&other)),
        };
        match outcome {
            Ok(outcome) => accepted.push((reply, outcome)),
            Err(error) => reply.send(Err(error)),
        }
    }
    if accepted.is_empty() {
        return;
    }
    group.finish();
    let Group {
        mut batch,
        counters,
        order,
        started_hashes,
        continued,
        ..
    } = group;
    // The first commit of each minute marks where the minute's arrivals
    // begin: every event of an earlier commit is numbered below it.
    let minute = minute_of(now);
    let marked = minute > state.clock_minute;
    if marked {
        let key = keys::clock_key(minute);
        let mark = records::ClockMark {
            seq: state.counters.next_seq,
        };
        batch.put(&key, &records::encode_message(&key, records::KIND_CLOCK_MARK, &mark));
    }
    match write(context, state, batch, counters) {
        Ok(written) => {
            if marked {
                state.clock_minute = minute;
            }
            let started = order.trace_ids.into_iter().zip(order.first_seqs).zip(started_hashes);
            // Phase one added them to the filter.
            for ((trace_id, first_seq), hash) in started {
                state.hot.touch(hash, trace_id, first_seq);
            }
            for (hash, trace_id, first_seq) in continued {
                state.hot.touch(hash, trace_id, first_seq);
            }
            answer_when_durable(written, accepted);
        }
        Err(message) => {
            for (reply, _) in accepted {
                reply.send(Err(commit_failed(&message)));
            }
        }
    }
}

fn unexpected_op(op: &Op) -> StoreError {
    let name = match op {
        Op::Append(_) => "append",
        Op::Delete(_) => "delete",
        Op::Expire { .. } => "expire",
        Op::Truncate => "truncate",
    };
    StoreError::Engine {
        action: "grouping requests",
        message: format!("a {name} reached the append group"),
    }
}

/// A delete or truncate, as its own commit.
fn commit_alone(context: &WriterContext, state: &mut WriterState, request: Request) {
    let Request { op, reply } = request;
    let outcome = match op {
        Op::Delete(trace_id) => delete(context, state, &trace_id),
        Op::Expire { traces, before_seq } => expire(context, state, &traces, before_seq),
        Op::Truncate => truncate(context, state),
        other => Err(unexpected_op(&other)),
    };
    reply.send(outcome);
}

fn truncate(context: &WriterContext, state: &mut WriterState) -> Result<Outcome> {
    let mut batch = context
        .db
        .batch(0)
        .map_err(|error| StoreError::engine("truncating", error))?;
    // The events of every format, start entries and the span index.
    batch.delete_range(&[TAG_LEGACY_EVENT], &[TAG_END]);
    let mut next_seq = state.counters.next_seq;
    if context.cluster_marks {
        let before_seq = put_cluster_mark(context, state, &mut *batch, keys::META_TRUNCATED);
        next_seq = past_mark(next_seq, before_seq);
    }
    let counters = Counters {
        next_seq,
        ..Counters::default()
    };
    put_counters(&mut *batch, &counters);
    write_durably(context, state, batch, counters)?;
    // The store is empty: an empty filter is complete, whatever a loader finds.
    state.stop_loader();
    state.hot.clear();
    state.filter = TraceFilter::with_capacity(0);
    state.filter_complete = true;
    Ok(Outcome::Truncated)
}

/// The least arrival number a commit at `now_nanos` hands out: the clock in
/// microseconds since the epoch. Arrival numbers follow the clock, raised
/// past the last one handed out (a hybrid logical clock): each store's stay
/// strictly ascending through restarts and a clock stepped back, and the
/// stores of a cluster number events that arrived at different nodes in the
/// order they arrived, to within the nodes' clock skew. A commit numbers its
/// events one by one from there, so past a million events a second the
/// numbers run ahead of the clock, and catch up when ingest slows.
pub(crate) fn arrival_floor(now_nanos: i64) -> u64 {
    u64::try_from(now_nanos / 1_000).unwrap_or(0)
}

/// Minutes since the Unix epoch (0 before it).
pub(crate) fn minute_of(nanos: i64) -> u64 {
    u64::try_from(nanos / 60_000_000_000).unwrap_or(0)
}

/// The minute of the newest clock mark, 0 when there is none.
fn newest_clock_minute(db: &dyn Engine) -> u64 {
    let mut iter = crate::reads::clock_marks(db);
    iter.seek_to_last();
    iter.key().and_then(keys::clock_minute).unwrap_or(0)
}

/// Marks, for the cluster, that whatever arrived anywhere before now under
/// `key` is gone: now is this node's next arrival number, or the clock's if
/// that is ahead (a node idle since its last write).
/// The next arrival number after a cluster mark at `before_seq`: past it,
/// so that what this node takes next is never hidden by its own mark
/// whatever its clock does, and each of its marks is numbered above the
/// last (the other nodes follow its delete log in that order).
fn past_mark(next_seq: u64, before_seq: u64) -> u64 {
    next_seq.max(before_seq.saturating_add(1))
}

/// Returns the mark's arrival number.
fn put_cluster_mark(context: &WriterContext, state: &WriterState, batch: &mut dyn EngineBatch, key: &[u8]) -> u64 {
    let mark = records::ClusterMark {
        before_seq: state.counters.next_seq.max(arrival_floor(context.clock.now_nanos())),
    };
    batch.put(key, &records::encode_message(key, records::KIND_CLUSTER_MARK, &mark));
    mark.before_seq
}

/// Puts the delete mark of `trace_id` and its delete log entry, replacing
/// the entry of an earlier delete of the trace; returns the mark's number.
fn put_delete_mark(
    context: &WriterContext,
    state: &WriterState,
    batch: &mut dyn EngineBatch,
    trace_id: &str,
) -> Result<u64> {
    let key = keys::deleted_key(trace_id);
    let earlier = context
        .db
        .get(&key)
        .map_err(|error| StoreError::engine_at(&key, "reading a delete mark", error))?;
    if let Some(value) = earlier {
        let earlier: records::ClusterMark = records::decode_message(&key, &value, records::KIND_CLUSTER_MARK)?;
        batch.delete(&keys::delete_log_key(earlier.before_seq, trace_id));
    }
    let before_seq = put_cluster_mark(context, state, batch, &key);
    let log_key = keys::delete_log_key(before_seq, trace_id);
    let mark = records::ClusterMark { before_seq };
    batch.put(
        &log_key,
        &records::encode_message(&log_key, records::KIND_CLUSTER_MARK, &mark),
    );
    Ok(before_seq)
}

fn delete(context: &WriterContext, state: &mut WriterState, trace_id: &str) -> Result<Outcome> {
    // In a cluster the mark goes in the same commit, for every node's copy,
    // also when this node holds none.
    let mark = context.cluster_marks.then_some(trace_id);
    let found = match doomed::doomed_trace(&*context.db, trace_id)? {
        Some(doomed) => {
            let prefix = keys::event_prefix(doomed.first_seq, trace_id);
            let end = keys::prefix_end(&prefix);
            DoomedTraces {
                event_ranges: vec![(prefix, end)],
                traces: vec![(trace_id.to_owned(), doomed)],
            }
        }
        None => DoomedTraces::default(),
    };
    let deleted = remove_traces(context, state, found, Wait::Durable, mark)?;
    Ok(Outcome::Deleted(deleted > 0))
}

/// Whether a deletion's commit must be durable before it is answered.
#[derive(Clone, Copy)]
enum Wait {
    /// A client's delete: answered once durable.
    Durable,
    /// Retention and the disk bound: nobody waits for them, and one lost in
    /// a crash is done again by the next pass, so the writer goes on at
    /// once. On a bucket, waiting cost a PUT per 20 traces, and retention
    /// fell behind ingest (`docs/benchmarks.md`, "Ingest on a bucket").
    Applied,
}

fn expire(
    context: &WriterContext,
    state: &mut WriterState,
    traces: &[(String, u64)],
    before_seq: u64,
) -> Result<Outcome> {
    let found = doomed::doomed_in_order(&*context.db, traces, before_seq)?;
    remove_traces(context, state, found, Wait::Applied, None).map(Outcome::Expired)
}

/// Deletes, in one commit, the traces found doomed and their events;
/// returns how many.
/// Removes `found` in one commit, with the cluster's delete mark of the
/// trace `marked` when given (written even when `found` is empty).
fn remove_traces(
    context: &WriterContext,
    state: &mut WriterState,
    found: DoomedTraces,
    wait: Wait,
    marked: Option<&str>,
) -> Result<u64> {
    if found.traces.is_empty() && marked.is_none() {
        return Ok(0);
    }
    let mut batch = context
        .db
        .batch(0)
        .map_err(|error| StoreError::engine("deleting traces", error))?;
    let mut counters = state.counters.clone();
    if let Some(trace_id) = marked {
        let before_seq = put_delete_mark(context, state, &mut *batch, trace_id)?;
        counters.next_seq = past_mark(counters.next_seq, before_seq);
    }
    for (from, to) in &found.event_ranges {
        batch.delete_range(from, to);
    }
    let mut removed = Vec::with_capacity(found.traces.len());
    for (trace_id, doomed) in found.traces {
        take_out(&mut *batch, &mut counters, &trace_id, &doomed);
        removed.push((trace_id, doomed.first_seq));
    }
    remove_order_items(&*context.db, &mut *batch, &removed)?;
    put_counters(&mut *batch, &counters);
    match wait {
        Wait::Durable => write_durably(context, state, batch, counters)?,
        // Durable with the next log write; a bucket that fails shows in
        // the commits after it, whose requests wait.
        Wait::Applied => drop(write(context, state, batch, counters).map_err(|message| commit_failed(&message))?),
    }
    for (trace_id, _) in &removed {
        state.hot.forget(trace_id);
    }
    Ok(removed.len() as u64)
}

/// Deletes a trace's start entry and span index entries, and takes it out
/// of the counters (its events and first-seen entry are the caller's).
fn take_out(batch: &mut dyn EngineBatch, counters: &mut Counters, trace_id: &str, doomed: &Doomed) {
    batch.delete(&keys::trace_start_key(trace_id));
    for key in doomed.index.span_keys() {
        batch.delete(key);
    }
    counters.traces = counters.traces.saturating_sub(1);
    for (kind, count) in &doomed.events_by_kind {
        if let Some(total) = counters.events_by_kind.get_mut(kind) {
            *total = total.saturating_sub(*count);
        }
    }
}

/// Takes the traces' first-seen entries (`(trace, first_seq)`) out of the
/// records holding them, each record read once and rewritten once under its
/// new first number (two rewrites of one record in one batch would each start
/// from the stored one). One seek and a forward walk: the record holding the
/// lowest number is keyed at or before it, and those holding the rest follow.
pub(crate) fn remove_order_items(
    db: &dyn Engine,
    batch: &mut dyn EngineBatch,
    removed: &[(String, u64)],
) -> Result<()> {
    let (Some(lowest), Some(highest)) = (
        removed.iter().map(|(_, first_seq)| *first_seq).min(),
        removed.iter().map(|(_, first_seq)| *first_seq).max(),
    ) else {
        return Ok(());
    };
    let reading = |iter: &dyn EngineIter| {
        iter.status()
            .map_err(|error| StoreError::engine_at(&keys::order_key(lowest), "reading first-seen order", error))
    };
    let mut iter = db.iter(KeyRange::between([TAG_ORDER], [ORDER_END]));
    iter.seek_for_prev(&keys::order_key(lowest));
    reading(&*iter)?;
    if iter.item().is_none() {
        iter.seek(&[TAG_ORDER]);
    }
    let highest_key = keys::order_key(highest);
    let mut records = Vec::new();
    while let Some((key, value)) = iter.item() {
        if key > highest_key.as_slice() {
            break;
        }
        records.push((key.to_vec(), order::decode_record(key, value)?, Vec::new()));
        iter.next();
    }
    reading(&*iter)?;
    for (trace_id, first_seq) in removed {
        let key = keys::order_key(*first_seq);
        let holding = records.partition_point(|(record, _, _)| record.as_slice() <= key.as_slice());
        match holding.checked_sub(1).and_then(|index| records.get_mut(index)) {
            Some((_, _, taken)) => taken.push((trace_id.as_str(), *first_seq)),
            None => tracing::warn!(trace_id, first_seq, "deleted trace had no first-seen entry"),
        }
    }
    for (key, mut items, taken) in records {
        if taken.is_empty() {
            continue;
        }
        let before = items.len();
        items.retain(|item: &OrderItem| {
            !taken
                .iter()
                .any(|(trace_id, first_seq)| item.first_seq == *first_seq && item.trace_id == *trace_id)
        });
        if items.len() == before {
            tracing::warn!(?taken, "deleted traces had no first-seen entry");
            continue;
        }
        batch.delete(&key);
        if let Some((key, value)) = order::encode(&order::to_batch(items)) {
            batch.put(&key, &value);
        }
    }
    Ok(())
}
