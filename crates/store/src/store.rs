//! [`Store`]: opening a data directory, appending, reading, deleting.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use tracekeep_proto::{EventKind, TraceEvent, pb, wire};

use crate::cluster::{Adoption, Cluster, Peer};
use crate::doomed;
use crate::engine::rocks::RocksEngine;
use crate::engine::slate::{BucketRoot, SlateConfig, SlateEngine};
use crate::engine::{Engine, EngineFigures, EngineIter, EngineRead, KeyRange};
use crate::error::{Result, StoreError};
use crate::format;
use crate::keys::{self, MAX_TRACE_ID_LEN, ORDER_END, TAG_ORDER};
use crate::options::{StoreOptions, check_node_id};
use crate::order;
use crate::reads;
use crate::records::{self, Counters, FORMAT_VERSION, PreparedRecords, TsoMark};
use crate::span_index;
use crate::tso::{Clock, SystemClock, TsoAllocator};
use crate::writer::{self, Op, Outcome, PreparedAppend, PreparedEvent, Reply, Request, WriterContext};

/// A position in first-seen order: pass it as `after` to continue a scan.
///
/// It is the arrival number of the trace's first event, so it stays valid
/// across restarts and deletes of other traces. Shown and parsed as a decimal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cursor(pub u64);

impl std::fmt::Display for Cursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl std::str::FromStr for Cursor {
    type Err = std::num::ParseIntError;

    fn from_str(text: &str) -> std::result::Result<Self, Self::Err> {
        text.parse().map(Cursor)
    }
}

/// An event as stored: its arrival number and the event.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredEvent {
    /// The store-wide arrival number; a trace's events ascend in it.
    pub seq: u64,
    /// The event as it was appended.
    pub event: TraceEvent,
}

/// One trace and its events, as `scan` returns them.
#[derive(Clone, Debug, PartialEq)]
pub struct TraceEvents {
    /// The trace ID.
    pub trace_id: String,
    /// The trace's position in first-seen order.
    pub cursor: Cursor,
    /// Its events in arrival order.
    pub events: Vec<StoredEvent>,
}

/// One page of a cursor scan.
#[derive(Clone, Debug, PartialEq)]
pub struct ScanPage {
    /// The traces of the page, in first-seen order.
    pub traces: Vec<TraceEvents>,
    /// Where the next page starts; `None` when this page reached the end.
    pub next: Option<Cursor>,
}

impl<'a> From<&'a TraceSummary> for tracekeep_proto::json::TraceSummaryJson<'a> {
    fn from(summary: &'a TraceSummary) -> Self {
        tracekeep_proto::json::TraceSummaryJson {
            trace_id: &summary.trace_id,
            cursor: summary.cursor.to_string(),
            events: summary.events,
            first_tso: summary.min_tso,
            last_tso: summary.max_tso,
            kinds: tracekeep_proto::json::KindCountsJson {
                binlog: summary.events_of(EventKind::Binlog),
                job: summary.events_of(EventKind::Job),
                span: summary.events_of(EventKind::Span),
            },
        }
    }
}

/// Which traces a listing keeps.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TraceFilter {
    /// Only traces whose IDs start with this (empty: any).
    pub prefix: String,
    /// Only DM traces: those whose first event is a binlog or job event.
    /// Span traces (Zipkin, OTLP, the span tracer) begin with a span event.
    pub dm_only: bool,
}

impl TraceFilter {
    /// Traces whose IDs start with `prefix`, of any kind.
    pub fn prefix(prefix: impl Into<String>) -> TraceFilter {
        TraceFilter {
            prefix: prefix.into(),
            dm_only: false,
        }
    }
}

/// A kind's place in [`TraceSummary::events_by_kind`] ([`EventKind::ALL`] order).
fn kind_slot(kind: EventKind) -> Option<usize> {
    EventKind::ALL.iter().position(|known| *known == kind)
}

/// How many traces a filtered listing walks past without keeping before it
/// ends the page early (with a cursor to go on from), so one request's work
/// stays bounded however rare the matching traces are.
pub const LIST_SKIP_LIMIT: u64 = 10_000;

/// Which way a listing walks first-seen order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ListOrder {
    /// The oldest trace first (dm-tracer's scan order).
    #[default]
    OldestFirst,
    /// The newest trace first.
    NewestFirst,
}

/// A trace's summary, without its events.
#[derive(Clone, Debug, PartialEq)]
pub struct TraceSummary {
    /// The trace ID.
    pub trace_id: String,
    /// The trace's position in first-seen order.
    pub cursor: Cursor,
    /// Events stored for the trace.
    pub events: u64,
    /// The smallest event TSO (`base.tso`) of the trace.
    pub min_tso: i64,
    /// The largest event TSO of the trace.
    pub max_tso: i64,
    /// Events per kind, in [`EventKind::ALL`] order.
    pub events_by_kind: [u64; EventKind::ALL.len()],
}

impl TraceSummary {
    /// Events of one kind.
    pub fn events_of(&self, kind: EventKind) -> u64 {
        kind_slot(kind).map_or(0, |slot| self.events_by_kind[slot])
    }
}

/// Store-wide figures; cheap to compute (no data scan).
#[derive(Clone, Debug, PartialEq)]
pub struct Stats {
    /// The on-disk format version.
    pub format_version: u8,
    /// Traces stored.
    pub traces: u64,
    /// Events stored, per kind (every kind this build knows, zeros included).
    pub events_by_kind: Vec<(EventKind, u64)>,
    /// Bytes of all files in the data directory.
    pub bytes_on_disk: u64,
    /// The persisted TSO high-water mark: every TSO issued so far is below it.
    pub tso_mark: i64,
    /// The next arrival number.
    pub next_seq: u64,
}

impl Stats {
    /// Events stored, all kinds together.
    pub fn events(&self) -> u64 {
        self.events_by_kind.iter().map(|(_, count)| count).sum()
    }
}

/// One node of the cluster on a bucket, as a node sees it
/// ([`Store::cluster_nodes`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterNode {
    /// Its node ID.
    pub node_id: String,
    /// It is the node answering.
    pub this_node: bool,
    /// When it last stored something, as far as the answering node has read
    /// it: its newest arrival number, microseconds since the epoch (they
    /// follow its clock); `None` before its first write.
    pub last_write_micros: Option<u64>,
    /// A departed node the answering node adopted: it writes its database
    /// (retention's deletes), so its data keeps expiring.
    pub adopted_here: bool,
}

/// Arrival numbers below this (the year 2001 in microseconds) were counted
/// from 1 by versions before clock-following numbers: no time in them.
const FIRST_CLOCK_ARRIVAL: u64 = 1_000_000_000_000_000;

/// The time an arrival number stands for, if it stands for one.
fn arrival_micros(next_seq: u64) -> Option<u64> {
    let last = next_seq.checked_sub(1)?;
    (last >= FIRST_CLOCK_ARRIVAL).then_some(last)
}

/// The traces of one page (ID and cursor) and the cursor of the next page.
type OrderPage = (Vec<(String, Cursor)>, Option<Cursor>);

/// An [`OrderPage`]'s traces and next cursor, and the snapshot it was read from.
type KeptPage<'s> = (Vec<(String, Cursor)>, Option<Cursor>, Box<dyn EngineRead + 's>);

struct Writer {
    queue: Arc<writer::Queue>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

/// A durable trace event store in one data directory.
///
/// All methods take `&self`; share a `Store` between threads with an `Arc`.
/// Dropping it waits for the writer thread and closes the directory.
pub struct Store {
    // Field order matters for drop: the writer (and its thread's DB handle)
    // must be gone before the last `Arc<DB>` closes the database.
    writer: Option<Writer>,
    db: Arc<dyn Engine>,
    path: PathBuf,
    tso: TsoAllocator,
    counters: Arc<Mutex<Counters>>,
    sync: bool,
    /// The on-disk format as opened (older only when opened read-only).
    format: u8,
    /// Tag keys whose values the span index records.
    autocomplete_keys: Vec<String>,
    /// Free bytes below which appends are refused.
    min_free_disk_bytes: u64,
    /// The disk bound (`StoreOptions::max_disk_bytes`), 0 for none.
    max_disk_bytes: u64,
    /// Wall-clock time (retention's horizon).
    clock: Arc<dyn Clock>,
    /// With a bucket: the lock on the data directory, held while open.
    _directory_lock: Option<std::fs::File>,
    /// `path` is a data directory (not a bucket opened read-only).
    directory: bool,
    /// Traces retention deleted since the engine last compacted everything
    /// ([`Store::expire`]).
    expired_since_compaction: AtomicU64,
    /// On a bucket: the other nodes of its cluster, which reads cover too.
    cluster: Option<Arc<Cluster>>,
    /// The latest of the other nodes' truncates this one has applied to its
    /// own data ([`Store::follow_cluster_truncates`]).
    followed_truncate: AtomicU64,
    /// By node: the key of the last entry of its delete log applied here
    /// ([`Store::follow_cluster_deletes`]).
    followed_deletes: Mutex<std::collections::HashMap<String, Vec<u8>>>,
}

/// Delete marks of one node that one [`Store::follow_cluster_deletes`]
/// applies; the next call goes on from there.
const DELETE_FOLLOW_PASS: usize = 1_000;

/// Traces one walk of [`Store::follow_cluster_truncates`] looks at.
const TRUNCATE_FOLLOW_PASS: usize = 1_000;

/// How a store on a bucket takes part in its cluster.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Membership {
    /// A node: it reads the other nodes and they read it.
    Node,
    /// A departed node's database, written by the node that adopted it.
    Adopted,
}

/// Expired traces deleted per commit.
const EXPIRED_PER_COMMIT: usize = 20;

/// A sweep that ends with at least this share (1/N) of the store's traces
/// deleted since the last full compaction starts one: with a retention of
/// days, about every quarter of the retention. Both engines compact only as
/// new writes arrive, so without it an idle store, or a bucket whose
/// size-tiered runs never meet, keeps expired data's space.
const RECLAIM_AFTER_EXPIRED_SHARE: u64 = 4;

/// What one [`Store::expire`] pass did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Expiry {
    /// Traces deleted.
    pub deleted: u64,
    /// More expired traces may remain: the pass stopped at its limit.
    pub more: bool,
}

/// Whether the store takes writes now, and if not, why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Readiness {
    /// Appends are accepted.
    Ready,
    /// Opened read-only.
    ReadOnly,
    /// The filesystem's free space is below `min-free-disk-bytes`: appends
    /// are refused until space is freed.
    DiskReserve {
        /// Bytes free now.
        available: u64,
        /// The reserve.
        reserve: u64,
    },
    /// Another process opened this node's database in the bucket (the same
    /// `node-id`) and fenced this one off: no write succeeds again; the
    /// process should stop.
    Fenced,
    /// The engine's storage does not confirm writes (a bucket that stopped
    /// answering): appends are refused until it does again.
    Unavailable {
        /// The engine's last error.
        reason: String,
    },
}

impl Store {
    /// Opens (creating if needed) the store in `path` for reading and writing.
    ///
    /// Fails with [`StoreError::DirectoryInUse`] if another process has it open,
    /// [`StoreError::NewerFormat`] if a newer tracekeep wrote it, and
    /// [`StoreError::NotAStore`] if the directory holds something else.
    pub fn open(path: impl AsRef<Path>, options: StoreOptions) -> Result<Store> {
        Store::open_as(path.as_ref(), options, Membership::Node)
    }

    /// [`Store::open`], as a node of its bucket's cluster or as a departed
    /// node's database adopted by another (which reads the cluster itself).
    pub(crate) fn open_as(path: &Path, options: StoreOptions, membership: Membership) -> Result<Store> {
        let path = path.to_path_buf();
        std::fs::create_dir_all(&path).map_err(|source| StoreError::Io {
            action: "create data directory",
            path: path.clone(),
            source,
        })?;
        let mut directory_lock = None;
        let mut cluster = None;
        let mut tso_slot = None;
        let db: Arc<dyn Engine> = match &options.bucket {
            Some(url) => {
                check_node_id(&options.node_id).map_err(|reason| StoreError::InvalidNodeId {
                    node_id: options.node_id.clone(),
                    reason,
                })?;
                // RocksDB locks its directory; with a bucket the store does,
                // so two servers cannot share one local directory.
                directory_lock = Some(lock_directory(&path)?);
                let root = BucketRoot::open(url)?;
                if root.holds_unnamed_store()? {
                    return Err(StoreError::InvalidBucket {
                        url: url.clone(),
                        reason: "a store written before node folders (2026-12-07) is at the prefix itself; \
                                 a node keeps its database under nodes/<node-id>/ of the prefix: move the \
                                 prefix's objects there, or give another prefix"
                            .into(),
                    });
                }
                tso_slot = Some(root.claim_tso_slot(&options.node_id)?);
                if options.adopt_after.is_some() && matches!(membership, Membership::Node) {
                    // Before the database exists: a database without a
                    // lease is a departed node's to the others.
                    root.renew_lease(&options.node_id, &options.node_id)?;
                }
                let engine = SlateEngine::open(root.node_config(&options.node_id, &options, Some(&path)))?;
                let adoption = options.adopt_after.map(|after| Adoption {
                    after,
                    options: options.clone(),
                    directory: path.clone(),
                });
                if matches!(membership, Membership::Node) {
                    cluster = Some(
                        Cluster::start(root, options.node_id.clone(), adoption).map_err(|source| StoreError::Io {
                            action: "start the cluster listing thread for",
                            path: path.clone(),
                            source,
                        })?,
                    );
                }
                Arc::new(engine)
            }
            None => Arc::new(RocksEngine::open(&path, &options)?),
        };
        let format = format::check_format(&*db, &path, true, options.clock.as_ref())?;
        if format < 2 {
            format::upgrade_from_format_1(&*db)?;
        }
        if format < 3 {
            format::upgrade_to_format_3(&*db)?;
        }
        if format < 4 {
            // Nothing to rewrite; older builds must refuse the store from now on.
            let mut batch = format::new_batch(&*db, "marking the store format 4")?;
            format::put_format(&*db, &mut *batch, 4)?;
            format::write_synced(batch, "marking the store format 4")?;
            tracing::info!(
                "upgraded the store from format {} to 4 (nothing rewritten)",
                format.max(3)
            );
        }
        if format < 5 {
            format::upgrade_to_format_5(&*db)?;
        }
        let counters = format::load_counters(&*db)?;
        let tso_mark = format::load_tso_mark(&*db)?;

        let published = Arc::new(Mutex::new(counters.clone()));
        let context = WriterContext {
            db: db.clone(),
            sync: options.sync,
            path: path.clone(),
            min_free_disk_bytes: options.min_free_disk_bytes,
            published: published.clone(),
            clock: options.clock.clone(),
            cluster_marks: cluster.is_some(),
        };
        let queue = Arc::new(writer::Queue::new(context, counters, options.inline_commit_after_idle));
        let thread_queue = queue.clone();
        let writer_nice = options.writer_nice;
        let thread = std::thread::Builder::new()
            .name("tracekeep-writer".into())
            .spawn(move || {
                crate::priority::lower_this_thread(writer_nice);
                thread_queue.run()
            })
            .map_err(|source| StoreError::Io {
                action: "start the writer thread for",
                path: path.clone(),
                source,
            })?;
        Ok(Store {
            writer: Some(Writer {
                queue,
                thread: Mutex::new(Some(thread)),
            }),
            db,
            path,
            tso: match tso_slot {
                Some(slot) => TsoAllocator::for_slot(options.clock.clone(), tso_mark, slot),
                None => TsoAllocator::new(options.clock.clone(), tso_mark),
            },
            counters: published,
            sync: options.sync,
            format: FORMAT_VERSION,
            autocomplete_keys: options.autocomplete_keys,
            min_free_disk_bytes: options.min_free_disk_bytes,
            // On a bucket the bound is the disk cache's, which evicts by
            // itself: no trace is deleted for the directory's size.
            max_disk_bytes: if options.bucket.is_some() {
                0
            } else {
                options.max_disk_bytes
            },
            clock: options.clock,
            _directory_lock: directory_lock,
            directory: true,
            expired_since_compaction: Default::default(),
            cluster,
            followed_truncate: AtomicU64::new(0),
            followed_deletes: Mutex::default(),
        })
    }

    /// Opens an existing store read-only. Nothing in the directory is changed,
    /// and it works while a server has the directory open (it sees the data as
    /// of the moment it opened).
    pub fn open_read_only(path: impl AsRef<Path>) -> Result<Store> {
        let path = path.as_ref().to_path_buf();
        let db: Arc<dyn Engine> = Arc::new(RocksEngine::open_read_only(&path, &read_only_options())?);
        Store::read_only_over(db, path, true)
    }

    /// Opens the store kept in the bucket `url` (as [`StoreOptions::bucket`]
    /// names it) read-only, beside the server writing it if one runs: it
    /// sees every write acknowledged before it opened. Nothing the store
    /// holds is changed (the engine records a checkpoint of what it reads in
    /// the bucket, so that compaction keeps it while it reads).
    ///
    /// `url` names a cluster's prefix (its `bucket` setting) or one node's
    /// database (`<bucket>/nodes/<node-id>`). A prefix of several nodes is
    /// read as one, as a server of the cluster reads it: queries, scans,
    /// lists, span searches and [`Store::export`] cover every node (each
    /// node as of its own open: a cluster has no snapshot across nodes);
    /// [`Store::each_node`] reaches each node's database alone (its stats,
    /// its verify).
    pub fn open_bucket_read_only(url: &str) -> Result<Store> {
        let root = BucketRoot::open(url)?;
        let config = match root.node_ids()?.as_slice() {
            // A node's database itself, or a store written before node folders.
            [] => SlateConfig::for_bucket(url, &read_only_options(), None)?,
            [node_id] => root.node_config(node_id, &read_only_options(), None),
            several => {
                let mut store = Cluster::open_offline(root, several, &read_only_options())?;
                store.path = PathBuf::from(url);
                return Ok(store);
            }
        };
        let db: Arc<dyn Engine> = Arc::new(SlateEngine::open_reader(config)?);
        Store::read_only_over(db, PathBuf::from(url), false)
    }

    /// Makes this read-only store read `cluster` as one
    /// ([`Cluster::open_offline`]).
    pub(crate) fn join_offline(&mut self, cluster: Arc<Cluster>) {
        self.cluster = Some(cluster);
    }

    /// Calls `visit` with each node's ID and its database alone, in node ID
    /// order, when this store reads a cluster of several nodes (a node's
    /// store, or a prefix of several opened read-only); returns what each
    /// call returned, or its first error. Empty for a store read alone. A
    /// departed node this one adopted is visited as the other nodes are,
    /// read-only.
    pub fn each_node<T, E>(
        &self,
        mut visit: impl FnMut(&str, &Store) -> std::result::Result<T, E>,
    ) -> std::result::Result<Vec<(String, T)>, E> {
        let Some((own_id, peers)) = self.cluster_peers() else {
            return Ok(Vec::new());
        };
        members(own_id, self, &peers)
            .into_iter()
            .map(|(node_id, store)| Ok((node_id.to_owned(), visit(node_id, store)?)))
            .collect()
    }

    /// A read-only store over an opened engine; `path` names it in messages,
    /// and is a data directory when `directory` says so.
    pub(crate) fn read_only_over(db: Arc<dyn Engine>, path: PathBuf, directory: bool) -> Result<Store> {
        let format = format::check_format(&*db, &path, false, &SystemClock)?;
        let mut counters = format::load_counters(&*db)?;
        if format < 2 {
            // Format 1 kept the time range in its per-trace summaries.
            (counters.min_tso, counters.max_tso) = format::tso_range_of_summaries(&*db)?;
        }
        let tso_mark = format::load_tso_mark(&*db)?;
        Ok(Store {
            writer: None,
            db,
            path,
            tso: TsoAllocator::new(Arc::new(SystemClock), tso_mark),
            counters: Arc::new(Mutex::new(counters)),
            sync: false,
            format,
            autocomplete_keys: Vec::new(),
            min_free_disk_bytes: 0,
            max_disk_bytes: 0,
            clock: Arc::new(SystemClock),
            _directory_lock: None,
            directory,
            expired_since_compaction: Default::default(),
            cluster: None,
            followed_truncate: AtomicU64::new(0),
            followed_deletes: Mutex::default(),
        })
    }

    /// The data directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The nodes of the cluster on this store's bucket, by node ID: this one
    /// and every other found so far, each with its last write as read here
    /// (for a node ingesting steadily, now minus that is how far behind
    /// this node reads it). Empty off a bucket.
    pub fn cluster_nodes(&self) -> Result<Vec<ClusterNode>> {
        let Some(cluster) = &self.cluster else {
            return Ok(Vec::new());
        };
        let mut nodes = vec![ClusterNode {
            node_id: cluster.own_node_id().to_owned(),
            this_node: true,
            last_write_micros: arrival_micros(self.counters().next_seq),
            adopted_here: false,
        }];
        let adopted: std::collections::HashSet<String> =
            cluster.adopted().into_iter().map(|(node_id, _)| node_id).collect();
        for peer in cluster.peers() {
            let counters = format::load_counters(&*peer.store.db)?;
            nodes.push(ClusterNode {
                node_id: peer.node_id.clone(),
                this_node: false,
                last_write_micros: arrival_micros(counters.next_seq),
                adopted_here: adopted.contains(&peer.node_id),
            });
        }
        nodes.sort_by(|a, b| a.node_id.cmp(&b.node_id));
        Ok(nodes)
    }

    /// The disk bound [`Store::trim_to_disk_bound`] keeps in bytes, 0 for
    /// none: `max_disk_bytes` on RocksDB; 0 on a bucket, where it bounds the
    /// disk cache instead.
    pub fn disk_bound(&self) -> u64 {
        self.max_disk_bytes
    }

    /// Whether commits fsync the WAL.
    pub fn is_sync(&self) -> bool {
        self.sync
    }

    /// Hands `op` to the writer; the outcome goes to `reply`, which is
    /// answered here if the writer cannot take the request.
    fn enqueue(&self, op: Op, reply: Reply) {
        let request = Request { op, reply };
        let Some(writer) = self.writer.as_ref() else {
            return request.reply.send(Err(StoreError::ReadOnly));
        };
        writer.queue.submit(request);
    }

    fn submit(&self, op: Op) -> Result<Outcome> {
        let (reply, outcome) = mpsc::sync_channel(1);
        self.enqueue(op, Reply::Blocking(reply));
        outcome.recv().map_err(|_| StoreError::Closed)?
    }

    /// Appends a batch of events atomically: all are stored or none.
    ///
    /// Returns once the batch is durable (see [`StoreOptions::sync`]). Every event
    /// needs a `base` with a non-empty trace ID of at most
    /// [`MAX_TRACE_ID_LEN`] bytes; otherwise [`StoreError::InvalidEvent`] names
    /// the first offending event and nothing is stored. An empty batch is a no-op.
    pub fn append(&self, events: Vec<TraceEvent>) -> Result<()> {
        self.submit_prepared(self.prepare_events(events))
    }

    /// [`Store::append`] without blocking: validates and encodes now, then
    /// `done` gets the outcome once the batch is durable (or refused). `done`
    /// runs on the committing thread, which is the store's writer thread or,
    /// for a small batch on a quiet store, the caller's own before
    /// `append_then` returns; it must only hand the outcome on (say, through
    /// a channel). It runs exactly once, here too if the batch is refused
    /// before it is queued.
    pub fn append_then(&self, events: Vec<TraceEvent>, done: impl FnOnce(Result<()>) + Send + 'static) {
        let prepared = self.prepare_events(events);
        self.enqueue_prepared(prepared, done);
    }

    /// [`Store::append_then`] for events still in their protobuf encoding, as
    /// they arrived on the wire: each element of `events` is one message of
    /// `kind` (a `pb.SyncerJobEvent`, say). The bytes are validated exactly as
    /// decoding would validate them ([`tracekeep_proto::wire`]) and stored as
    /// they are, so an event is never decoded and encoded again; a malformed
    /// one refuses the whole batch with [`StoreError::InvalidEvent`].
    pub fn append_encoded_then<B: AsRef<[u8]>>(
        &self,
        kind: EventKind,
        events: &[B],
        done: impl FnOnce(Result<()>) + Send + 'static,
    ) {
        let prepared = self.prepare_encoded(kind, events);
        self.enqueue_prepared(prepared, done);
    }

    /// [`Store::append_encoded_then`], waiting for the outcome.
    pub fn append_encoded<B: AsRef<[u8]>>(&self, kind: EventKind, events: &[B]) -> Result<()> {
        self.submit_prepared(self.prepare_encoded(kind, events))
    }

    /// Appends a prepared batch and waits for the outcome (an empty one is a no-op).
    fn submit_prepared(&self, prepared: Result<Option<PreparedAppend>>) -> Result<()> {
        match prepared? {
            Some(prepared) => self.submit(Op::Append(prepared)).map(|_| ()),
            None => Ok(()),
        }
    }

    /// Appends a prepared batch; `done` gets the outcome (see [`Store::append_then`]).
    fn enqueue_prepared(
        &self,
        prepared: Result<Option<PreparedAppend>>,
        done: impl FnOnce(Result<()>) + Send + 'static,
    ) {
        match prepared {
            Ok(Some(prepared)) => {
                let reply = Reply::Callback(Box::new(move |outcome: Result<Outcome>| done(outcome.map(|_| ()))));
                self.enqueue(Op::Append(prepared), reply);
            }
            Ok(None) => done(Ok(())),
            Err(error) => done(Err(error)),
        }
    }

    /// Encodes a batch of decoded events, then prepares it as if it had arrived
    /// encoded (its spans are indexed from the decoded ones).
    fn prepare_events(&self, events: Vec<TraceEvent>) -> Result<Option<PreparedAppend>> {
        if self.writer.is_none() {
            return Err(StoreError::ReadOnly);
        }
        let mut prepared = Vec::with_capacity(events.len());
        let mut records = PreparedRecords::default();
        for (index, event) in events.iter().enumerate() {
            let record = records
                .push_written(event.kind().code(), event.encoded_len(), |bytes| {
                    event.encode_into(bytes)
                })
                .map_err(|error| StoreError::InvalidEvent {
                    index,
                    reason: format!("the event does not encode: {error}"),
                })?;
            // Encoded here from a valid message: only the base needs checking,
            // not the bytes (a structural pass over them cost 5% of ingest).
            let base = event.base().ok_or_else(|| StoreError::InvalidEvent {
                index,
                reason: "the event has no base".into(),
            })?;
            check_trace_id_len(index, base.trace_id.len())?;
            prepared.push(PreparedEvent::encoded_from(
                event.kind(),
                base.tso,
                record,
                base.trace_id.clone(),
            ));
        }
        let spans = events.iter().filter_map(|event| match event {
            TraceEvent::Span(span) => Some(span),
            _ => None,
        });
        let index = span_index::IndexEntries::of(spans, &self.autocomplete_keys);
        Ok((!prepared.is_empty()).then_some(PreparedAppend {
            records,
            events: prepared,
            index,
        }))
    }

    /// Validates and frames a batch of encoded events; `None` for an empty
    /// one. Spans are decoded once more, here, to index them.
    fn prepare_encoded<B: AsRef<[u8]>>(&self, kind: EventKind, events: &[B]) -> Result<Option<PreparedAppend>> {
        if self.writer.is_none() {
            return Err(StoreError::ReadOnly);
        }
        let payload_bytes = events.iter().map(|bytes| bytes.as_ref().len()).sum();
        let mut records = PreparedRecords::with_capacity(events.len(), payload_bytes);
        let prepared = events
            .iter()
            .enumerate()
            .map(|(index, bytes)| prepare_one(&mut records, index, kind, bytes.as_ref()))
            .collect::<Result<Vec<_>>>()?;
        let index = if kind == EventKind::Span {
            let spans = events
                .iter()
                .enumerate()
                .map(|(index, bytes)| {
                    <pb::Span as prost::Message>::decode(bytes.as_ref()).map_err(|error| StoreError::InvalidEvent {
                        index,
                        reason: format!("the span event does not decode: {error}"),
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            span_index::IndexEntries::of(&spans, &self.autocomplete_keys)
        } else {
            span_index::IndexEntries::default()
        };
        Ok((!prepared.is_empty()).then_some(PreparedAppend {
            records,
            events: prepared,
            index,
        }))
    }

    /// Deletes a trace: its events and its first-seen entry.
    /// Returns whether the trace existed.
    ///
    /// On a bucket, for the whole cluster: the events other nodes hold of
    /// the trace, as far as they arrived before the delete, are gone for
    /// every node's reads too (the mark survives restarts; each node frees
    /// its own copies when it follows the mark,
    /// [`Store::follow_cluster_deletes`]). `true` when any node had some.
    pub fn delete(&self, trace_id: &str) -> Result<bool> {
        if trace_id.is_empty() || trace_id.len() > MAX_TRACE_ID_LEN {
            return Ok(false);
        }
        // A start entry is there exactly while a node holds events of it.
        let elsewhere = self.cluster_peers().is_some_and(|(_, peers)| {
            peers
                .iter()
                .any(|peer| reads::read_start(&*peer.store.db, trace_id).is_ok_and(|start| start.is_some()))
        });
        match self.submit(Op::Delete(trace_id.to_owned()))? {
            Outcome::Deleted(existed) => Ok(existed || elsewhere),
            other => Err(unexpected_outcome("delete", other)),
        }
    }

    /// Another process opened this store's database in the bucket (the
    /// same `node-id`) and fenced this one off: no write of this one
    /// succeeds again. Found on this one's next write to the bucket.
    pub fn fenced(&self) -> bool {
        self.db.fenced()
    }

    /// Whether appends are accepted now (a `statvfs` of the data directory;
    /// no data is read): what a readiness probe asks.
    pub fn readiness(&self) -> Readiness {
        if self.writer.is_none() {
            return Readiness::ReadOnly;
        }
        if self.db.fenced() {
            return Readiness::Fenced;
        }
        if let Some(reason) = self.db.trouble() {
            return Readiness::Unavailable { reason };
        }
        match writer::space_below_reserve(&self.path, self.min_free_disk_bytes) {
            Some(available) => Readiness::DiskReserve {
                available,
                reserve: self.min_free_disk_bytes,
            },
            None => Readiness::Ready,
        }
    }

    /// Writes a consistent copy of the store, as of now, into `dir` (which
    /// must not exist; its parent must), while the store keeps serving:
    /// RocksDB's checkpoint, hard links to the table files where `dir` is on
    /// the same filesystem, copies otherwise. The copy opens as a store of
    /// its own: a backup.
    pub fn checkpoint(&self, dir: &Path) -> Result<()> {
        if self.writer.is_none() {
            return Err(StoreError::ReadOnly);
        }
        self.db
            .checkpoint(dir)
            .map_err(|error| StoreError::engine("writing a checkpoint", error))
    }

    /// Retention: deletes up to `limit` traces whose newest event arrived
    /// more than `retention` ago (by the store's clock), oldest first-seen
    /// first. A trace goes whole (events, span index entries, first-seen
    /// entry, counters) or not at all, also if the process dies mid-pass: up
    /// to `EXPIRED_PER_COMMIT` (20) traces share one atomic commit. Whether a trace is
    /// expired is decided again on the writer, so an event appended meanwhile
    /// keeps its trace. Arrival times come from clock marks the writer leaves
    /// once a minute, so the horizon is kept to the minute, erring towards
    /// keeping. Call it again while [`Expiry::more`]. The pass that ends a
    /// sweep which brought the traces deleted since the last full compaction
    /// to a quarter of the store compacts everything (RocksDB before it
    /// returns; a bucket's compaction is submitted and runs beside).
    pub fn expire(&self, retention: std::time::Duration, limit: usize) -> Result<Expiry> {
        let mut expiry = self.expire_own(retention, limit)?;
        // The departed nodes this one adopted expire with it.
        if let Some(cluster) = &self.cluster {
            for (_, adopted) in cluster.adopted() {
                let theirs = adopted.expire_own(retention, limit)?;
                expiry.deleted += theirs.deleted;
                expiry.more |= theirs.more;
            }
        }
        Ok(expiry)
    }

    /// [`Store::expire`] of this store's own database.
    fn expire_own(&self, retention: std::time::Duration, limit: usize) -> Result<Expiry> {
        if self.writer.is_none() {
            return Err(StoreError::ReadOnly);
        }
        let retention_nanos = i64::try_from(retention.as_nanos()).unwrap_or(i64::MAX);
        let horizon = self.clock.now_nanos().saturating_sub(retention_nanos);
        let Some(before_seq) = self.expiry_seq(writer::minute_of(horizon))? else {
            // Nothing is known to have arrived before the horizon.
            return Ok(Expiry::default());
        };
        let (candidates, more) = match self.oldest_first_seq()? {
            Some(oldest) if oldest < before_seq => doomed::expired_traces(&*self.db, oldest, before_seq, limit)?,
            _ => (Vec::new(), false),
        };
        let deleted = self.expire_traces(&candidates, before_seq)?;
        self.reclaim_after_sweep(deleted, more);
        Ok(Expiry { deleted, more })
    }

    /// Counts `deleted` traces, and at the end of a sweep (not `more`) that
    /// brought the count to a large share of the store, has the engine
    /// compact everything so that their space returns.
    fn reclaim_after_sweep(&self, deleted: u64, more: bool) {
        let since = self.expired_since_compaction.fetch_add(deleted, Ordering::Relaxed) + deleted;
        let store = self.counters().traces.saturating_add(since);
        if more || since == 0 || since.saturating_mul(RECLAIM_AFTER_EXPIRED_SHARE) < store {
            return;
        }
        self.expired_since_compaction.store(0, Ordering::Relaxed);
        tracing::info!(
            expired = since,
            traces_left = store - since,
            "retention deleted a large share of the store: compacting everything"
        );
        self.db.compact_all();
    }

    /// Deletes those of `traces` (ID and first-seen number, in first-seen
    /// order) whose events are all numbered below `before_seq` (`u64::MAX`:
    /// every one), each whole, a few traces per commit; returns how many
    /// went. Few a commit: each commit reads its traces' events on the
    /// writer, and appends wait meanwhile (docs/benchmarks.md, "Retention
    /// beside ingest").
    pub(crate) fn expire_traces(&self, traces: &[(String, u64)], before_seq: u64) -> Result<u64> {
        let mut deleted = 0;
        for chunk in traces.chunks(EXPIRED_PER_COMMIT) {
            let op = Op::Expire {
                traces: chunk.to_vec(),
                before_seq,
            };
            match self.submit(op)? {
                Outcome::Expired(count) => deleted += count,
                other => return Err(unexpected_outcome("expire", other)),
            }
        }
        Ok(deleted)
    }

    /// The arrival number below which every event arrived before
    /// `horizon_minute` began, or `None` when nothing is known to be that old.
    ///
    /// The writer leaves a mark at its first commit of each minute with
    /// writes, so the events numbered from one mark to the next all arrived
    /// in the first mark's minute: the first mark at or after the horizon's
    /// minute bounds the expired events. Without one, everything stored is
    /// older. Events stored before the first mark (by a version without
    /// marks) count as arrived in its minute.
    fn expiry_seq(&self, horizon_minute: u64) -> Result<Option<u64>> {
        let mut iter = reads::clock_marks(&*self.db);
        let reading = |iter: &dyn EngineIter| {
            iter.status()
                .map_err(|error| StoreError::engine_at(keys::META_CLOCK_PREFIX, "reading clock marks", error))
        };
        iter.seek_to_first();
        reading(&*iter)?;
        match iter.key().and_then(keys::clock_minute) {
            Some(earliest) if earliest < horizon_minute => {}
            _ => return Ok(None),
        }
        iter.seek(&keys::clock_key(horizon_minute));
        reading(&*iter)?;
        match iter.item() {
            Some((key, value)) => {
                let mark: records::ClockMark = records::decode_message(key, value, records::KIND_CLOCK_MARK)?;
                Ok(Some(mark.seq))
            }
            None => Ok(Some(self.counters().next_seq)),
        }
    }

    /// When the oldest and the newest trace (in first-seen order) arrived,
    /// in nanoseconds since the epoch, to the minute (the start of the minute
    /// of their first event): what retention measures. `None` for an empty
    /// store or one without clock marks (written before them).
    pub fn arrival_range(&self) -> Result<Option<(i64, i64)>> {
        let (oldest, _) = self.page_matching(ListOrder::OldestFirst, None, 1, "", &*self.db)?;
        let (newest, _) = self.page_matching(ListOrder::NewestFirst, None, 1, "", &*self.db)?;
        let (Some((_, Cursor(oldest))), Some((_, Cursor(newest)))) = (oldest.first(), newest.first()) else {
            return Ok(None);
        };
        // Marks grow in both minute and number: the last one at or below a
        // number holds its minute (one mark per minute with writes: a short walk
        // for a store of days, once per call).
        let mut iter = reads::clock_marks(&*self.db);
        iter.seek_to_first();
        let (mut first_minute, mut oldest_minute, mut newest_minute) = (None, None, None);
        while let Some((key, value)) = iter.item() {
            let Some(minute) = keys::clock_minute(key) else { break };
            let mark: records::ClockMark = records::decode_message(key, value, records::KIND_CLOCK_MARK)?;
            first_minute.get_or_insert(minute);
            if mark.seq <= *oldest {
                oldest_minute = Some(minute);
            }
            if mark.seq <= *newest {
                newest_minute = Some(minute);
            } else {
                break;
            }
            iter.next();
        }
        iter.status()
            .map_err(|error| StoreError::engine_at(keys::META_CLOCK_PREFIX, "reading clock marks", error))?;
        // Traces older than the first mark count as arrived in its minute.
        let nanos = |minute: u64| i64::try_from(minute.saturating_mul(60_000_000_000)).unwrap_or(i64::MAX);
        Ok(match (oldest_minute.or(first_minute), newest_minute.or(first_minute)) {
            (Some(oldest), Some(newest)) => Some((nanos(oldest), nanos(newest))),
            _ => None,
        })
    }

    /// Deletes every trace. The TSO mark and arrival numbering carry on.
    ///
    /// On a bucket, for the whole cluster: what any node stored before the
    /// truncate is gone for every node's reads at once, and each node
    /// deletes its own copy when it next follows the others
    /// ([`Store::follow_cluster_truncates`]).
    pub fn truncate(&self) -> Result<()> {
        self.submit(Op::Truncate).map(|_| ())
    }

    /// Applies the other nodes' deletes to this node's own data: each trace
    /// another node deleted is deleted here too when all of this node's
    /// events of it arrived before that delete (it then starts afresh here,
    /// in first-seen order too, should more of it arrive); one with later
    /// events keeps them, and reads leave out its earlier ones. Each mark is
    /// applied once per run. Returns how many traces went; call it every
    /// second or so. Nothing to do off a cluster.
    pub fn follow_cluster_deletes(&self) -> Result<u64> {
        let peers = self.peers_to_follow()?;
        let mut deleted = 0;
        for peer in &peers {
            let followed = self.followed_deletes().get(&peer.node_id).cloned();
            // Marks in the order they were made, past the last one applied.
            let mut marks = Vec::new();
            let mut iter = peer.store.db.iter(KeyRange::prefix(keys::META_DELETE_LOG_PREFIX));
            iter.seek(followed.as_deref().unwrap_or(keys::META_DELETE_LOG_PREFIX));
            while let Some((key, value)) = iter.item() {
                if followed.as_deref() != Some(key) {
                    let mark: records::ClusterMark = records::decode_message(key, value, records::KIND_CLUSTER_MARK)?;
                    let trace_id =
                        String::from_utf8_lossy(keys::delete_log_trace(key).unwrap_or_default()).into_owned();
                    marks.push((key.to_vec(), trace_id, mark.before_seq));
                    if marks.len() >= DELETE_FOLLOW_PASS {
                        break;
                    }
                }
                iter.next();
            }
            iter.status()
                .map_err(|error| StoreError::engine_at(keys::META_DELETE_LOG_PREFIX, "reading delete marks", error))?;
            for (key, trace_id, before_seq) in marks {
                if let Some(first_seq) = reads::read_start(&*self.db, &trace_id)? {
                    deleted += self.expire_traces(&[(trace_id, first_seq)], before_seq)?;
                }
                self.followed_deletes().insert(peer.node_id.clone(), key);
            }
        }
        Ok(deleted)
    }

    /// Where [`Store::follow_cluster_deletes`] stands in each other node's
    /// delete log.
    fn followed_deletes(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, Vec<u8>>> {
        self.followed_deletes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The other nodes whose marks this store applies to its own data:
    /// none off a cluster; [`StoreError::ReadOnly`] for a read-only store
    /// on one (it cannot delete).
    fn peers_to_follow(&self) -> Result<Vec<Arc<Peer>>> {
        let Some((_, peers)) = self.cluster_peers() else {
            return Ok(Vec::new());
        };
        if self.writer.is_none() {
            return Err(StoreError::ReadOnly);
        }
        Ok(peers)
    }

    /// Applies the other nodes' truncates to this node's own data: deletes
    /// the traces whose every event arrived before the latest of them, as
    /// retention does (a trace with later events keeps them; reads leave
    /// out its earlier ones). Returns how many went; call it every second
    /// or so. Nothing to do off a cluster.
    pub fn follow_cluster_truncates(&self) -> Result<u64> {
        let peers = self.peers_to_follow()?;
        let mut before_seq = 0;
        for peer in &peers {
            before_seq = before_seq.max(cluster_mark(&peer.store, keys::META_TRUNCATED)?);
        }
        if before_seq <= self.followed_truncate.load(Ordering::Relaxed) {
            return Ok(0);
        }
        let mut deleted = 0;
        loop {
            let (candidates, more) = match self.oldest_first_seq()? {
                Some(oldest) if oldest < before_seq => {
                    doomed::expired_traces(&*self.db, oldest, before_seq, TRUNCATE_FOLLOW_PASS)?
                }
                _ => (Vec::new(), false),
            };
            deleted += self.expire_traces(&candidates, before_seq)?;
            if !more {
                self.followed_truncate.fetch_max(before_seq, Ordering::Relaxed);
                return Ok(deleted);
            }
        }
    }

    /// [`Store::next_tso`] when it needs no write (the persisted mark
    /// already covers the value: all but one call per 3 s of issued time);
    /// `None`, issuing nothing, when it would block on a synced write. Lets
    /// an async caller skip a thread hop for the common case.
    pub fn next_tso_if_quick(&self) -> Option<i64> {
        // A read-only store issues nothing.
        self.writer.as_ref()?;
        self.tso.try_next_within_mark()
    }

    /// The next timestamp: strictly above every one issued before, by this
    /// process or an earlier one on the same directory.
    pub fn next_tso(&self) -> Result<i64> {
        if self.writer.is_none() {
            return Err(StoreError::ReadOnly);
        }
        self.tso.next(|mark| {
            let value = records::encode_message(keys::META_TSO, records::KIND_TSO_MARK, &TsoMark { mark });
            let action = "persisting the TSO mark";
            let mut batch = format::new_batch(&*self.db, action)?;
            batch.put(keys::META_TSO, &value);
            // Always fsync: a mark lost to power failure could let a value repeat.
            // It is written once per TSO window, so this costs nothing in practice.
            format::write_synced(batch, action)
        })
    }

    /// Writes the memtables out to table (SST) files and waits for it. Not
    /// needed for durability (the WAL already has every commit); useful before
    /// copying a stopped directory, and for tests that damage table files.
    pub fn flush(&self) -> Result<()> {
        if self.writer.is_none() {
            return Err(StoreError::ReadOnly);
        }
        self.db
            .flush()
            .map_err(|error| StoreError::engine("flushing memtables", error))
    }

    /// A trace's events in arrival order; [`StoreError::TraceNotFound`] if it has none.
    ///
    /// On a bucket shared by several nodes, the events every node stored for
    /// it: ordered by arrival number (each node's clock, see
    /// docs/design.md), a tie by node ID.
    pub fn query(&self, trace_id: &str) -> Result<Vec<StoredEvent>> {
        let events = match self.cluster_peers() {
            Some((own_id, peers)) => merged_events(&members(own_id, self, &peers), trace_id)?,
            None => self.read_events(trace_id, None, &*self.db)?,
        };
        if events.is_empty() {
            return Err(StoreError::TraceNotFound {
                trace_id: trace_id.to_owned(),
            });
        }
        Ok(events)
    }

    /// On a cluster with other nodes read so far: this node's ID and theirs
    /// (a read then covers them all); `None` to read this store alone.
    pub(crate) fn cluster_peers(&self) -> Option<(&str, Vec<Arc<Peer>>)> {
        let cluster = self.cluster.as_ref()?;
        let peers = cluster.peers();
        (!peers.is_empty()).then(|| (cluster.own_node_id(), peers))
    }

    /// A trace's events; `first_seq` is its first-seen number when the
    /// caller knows it (from first-seen order), saving the start entry's read.
    fn read_events(&self, trace_id: &str, first_seq: Option<u64>, view: &dyn EngineRead) -> Result<Vec<StoredEvent>> {
        let mut events = Vec::new();
        self.for_each_trace_event(trace_id, first_seq, view, |event| {
            events.push(event);
            Ok(())
        })?;
        Ok(events)
    }

    /// The prefix of the events of `trace_id`, first seen at `first_seq`.
    pub(crate) fn prefix_at(&self, trace_id: &str, first_seq: u64) -> Vec<u8> {
        if self.format < 5 {
            keys::legacy_event_prefix(trace_id)
        } else {
            keys::event_prefix(first_seq, trace_id)
        }
    }

    /// The prefix of the events of `trace_id`; `None` when it has none.
    fn events_prefix(&self, trace_id: &str, view: &dyn EngineRead) -> Result<Option<Vec<u8>>> {
        if self.format < 5 {
            return Ok(Some(keys::legacy_event_prefix(trace_id)));
        }
        Ok(reads::read_start(view, trace_id)?.map(|first_seq| self.prefix_at(trace_id, first_seq)))
    }

    /// Streams a trace's events in arrival order, one decoded event at a time.
    fn for_each_trace_event(
        &self,
        trace_id: &str,
        first_seq: Option<u64>,
        view: &dyn EngineRead,
        mut visit: impl FnMut(StoredEvent) -> Result<()>,
    ) -> Result<()> {
        if trace_id.len() > MAX_TRACE_ID_LEN {
            return Ok(());
        }
        let prefix = match first_seq {
            Some(first_seq) => self.prefix_at(trace_id, first_seq),
            None => match self.events_prefix(trace_id, view)? {
                Some(prefix) => prefix,
                None => return Ok(()),
            },
        };
        let mut iter = reads::trace_events(view, &prefix);
        while let Some((key, value)) = iter.item() {
            let seq = reads::event_seq(&prefix, key)?;
            let event = records::decode_event(key, value)?;
            visit(StoredEvent { seq, event })?;
            iter.next();
        }
        iter.status()
            .map_err(|error| StoreError::engine_at(&keys::trace_key(trace_id), "reading trace events", error))
    }

    /// Streams every event: traces in first-seen order, each trace's events in
    /// arrival order, as of one consistent snapshot. Memory stays constant
    /// whatever the store holds. Returns the number of events visited.
    pub fn export(&self, mut visit: impl FnMut(&str, &StoredEvent) -> Result<()>) -> Result<u64> {
        if let Some((own_id, peers)) = self.cluster_peers() {
            return export_cluster(&members(own_id, self, &peers), visit);
        }
        let snapshot = self.db.snapshot();
        let mut count = 0u64;
        self.walk_order(None, &*snapshot, |trace_id, Cursor(first_seq)| {
            self.for_each_trace_event(&trace_id, Some(first_seq), &*snapshot, |event| {
                count += 1;
                visit(&trace_id, &event)
            })?;
            Ok(true)
        })?;
        Ok(count)
    }

    /// Walks first-seen order after `after` (from the start when `None`),
    /// calling `visit` with each trace ID and cursor until it returns `false`
    /// or the order ends.
    fn walk_order(
        &self,
        after: Option<Cursor>,
        view: &dyn EngineRead,
        visit: impl FnMut(String, Cursor) -> Result<bool>,
    ) -> Result<()> {
        self.walk_order_in(ListOrder::OldestFirst, after, view, visit)
    }

    /// Walks first-seen order in `order` (newest first: from just before
    /// `from`, or from the newest trace), past `from` (exclusive).
    fn walk_order_in(
        &self,
        order: ListOrder,
        from: Option<Cursor>,
        view: &dyn EngineRead,
        mut visit: impl FnMut(String, Cursor) -> Result<bool>,
    ) -> Result<()> {
        let mut iter = view.iter(KeyRange::between([TAG_ORDER], [ORDER_END]));
        let newest_first = order == ListOrder::NewestFirst;
        match (from, newest_first) {
            (None, false) => iter.seek(&[TAG_ORDER]),
            (None, true) => iter.seek_to_last(),
            // Records are keyed by their first item, so the record holding the
            // entry next to `seq` is keyed at or before it, or (going
            // forwards) it is the next record.
            (Some(Cursor(seq)), _) => {
                iter.seek_for_prev(&keys::order_key(seq));
                if !newest_first && iter.item().is_none() && iter.status().is_ok() {
                    iter.seek(&[TAG_ORDER]);
                }
            }
        }
        let past_from = |first_seq: u64| match from {
            None => true,
            Some(Cursor(from)) if newest_first => first_seq < from,
            Some(Cursor(from)) => first_seq > from,
        };
        while let Some((key, value)) = iter.item() {
            let mut items = order::decode_record(key, value)?;
            if newest_first {
                items.reverse();
            }
            for item in items {
                if !past_from(item.first_seq) {
                    continue;
                }
                if !visit(item.trace_id, Cursor(item.first_seq))? {
                    return Ok(());
                }
            }
            if newest_first {
                iter.prev();
            } else {
                iter.next();
            }
        }
        iter.status()
            .map_err(|error| StoreError::engine_at(&[TAG_ORDER], "reading first-seen order", error))
    }

    /// Every trace and its first-seen number (fault injection's rewrites).
    #[cfg(feature = "fault-injection")]
    pub(crate) fn walk_order_for_tests(&self, mut visit: impl FnMut(String, u64)) -> Result<()> {
        self.walk_order(None, &*self.db, |trace_id, Cursor(first_seq)| {
            visit(trace_id, first_seq);
            Ok(true)
        })
    }

    /// dm-tracer's scan: skip `offset` traces in first-seen order, return up to
    /// `limit` of them with their events. The offset counts the traces that
    /// exist now; an offset beyond their number is [`StoreError::OffsetPastEnd`]
    /// (an offset equal to it returns nothing). Costs O(offset + limit); use
    /// [`Store::scan_after`] for deep pages.
    pub fn scan(&self, offset: u64, limit: u64) -> Result<Vec<TraceEvents>> {
        if let Some((own_id, peers)) = self.cluster_peers() {
            return cluster_scan(&members(own_id, self, &peers), offset, limit);
        }
        let snapshot = self.db.snapshot();
        let mut skipped = 0u64;
        let mut page = Vec::new();
        self.walk_order(None, &*snapshot, |trace_id, cursor| {
            if skipped < offset {
                skipped += 1;
                return Ok(true);
            }
            if page.len() as u64 >= limit {
                return Ok(false);
            }
            page.push((trace_id, cursor));
            Ok(true)
        })?;
        if skipped < offset {
            return Err(StoreError::OffsetPastEnd {
                offset,
                traces: skipped,
            });
        }
        page.into_iter()
            .map(|(trace_id, cursor)| {
                let events = self.read_events(&trace_id, Some(cursor.0), &*snapshot)?;
                Ok(TraceEvents {
                    trace_id,
                    cursor,
                    events,
                })
            })
            .collect()
    }

    /// A cursor scan: up to `limit` traces after `after` (from the start when
    /// `None`), with their events. Costs O(limit) however deep the page.
    ///
    /// On a bucket shared by several nodes: the cluster's traces in
    /// first-seen order (a trace at its earliest first-seen number on any
    /// node), each with every node's events; O(limit) per node. Traces first
    /// seen at the same number on different nodes never straddle two pages:
    /// a page ends before them, or holds them all if they alone would
    /// overfill it.
    pub fn scan_after(&self, after: Option<Cursor>, limit: u64) -> Result<ScanPage> {
        if let Some((own_id, peers)) = self.cluster_peers() {
            let members = members(own_id, self, &peers);
            let (found, next) = cluster_page(&members, after, limit)?;
            return Ok(ScanPage {
                traces: with_merged_events(&members, found)?,
                next,
            });
        }
        let snapshot = self.db.snapshot();
        let (found, next) = self.page_after(after, limit, &*snapshot)?;
        let traces = found
            .into_iter()
            .map(|(trace_id, cursor)| {
                let events = self.read_events(&trace_id, Some(cursor.0), &*snapshot)?;
                Ok(TraceEvents {
                    trace_id,
                    cursor,
                    events,
                })
            })
            .collect::<Result<_>>()?;
        Ok(ScanPage { traces, next })
    }

    fn page_after(&self, after: Option<Cursor>, limit: u64, view: &dyn EngineRead) -> Result<OrderPage> {
        self.page_after_matching(after, limit, "", view)
    }

    fn page_after_matching(
        &self,
        after: Option<Cursor>,
        limit: u64,
        prefix: &str,
        view: &dyn EngineRead,
    ) -> Result<OrderPage> {
        self.page_matching(ListOrder::OldestFirst, after, limit, prefix, view)
    }

    /// Up to `limit` traces whose IDs start with `prefix`, past `from` in
    /// `order`, and the cursor of the next page.
    fn page_matching(
        &self,
        order: ListOrder,
        from: Option<Cursor>,
        limit: u64,
        prefix: &str,
        view: &dyn EngineRead,
    ) -> Result<OrderPage> {
        self.page_kept(order, from, limit, |trace_id, _| Ok(trace_id.starts_with(prefix)), view)
    }

    /// Up to `limit` traces that `keep` keeps, past `from` in `order`, and
    /// the cursor of the next page. Walking past [`LIST_SKIP_LIMIT`] traces
    /// it does not keep ends the page early, its cursor the last one walked.
    fn page_kept(
        &self,
        order: ListOrder,
        from: Option<Cursor>,
        limit: u64,
        mut keep: impl FnMut(&str, Cursor) -> Result<bool>,
        view: &dyn EngineRead,
    ) -> Result<OrderPage> {
        let mut found = Vec::new();
        let mut more = false;
        let mut skipped = 0u64;
        let mut last_walked = None;
        let visit = |trace_id: String, cursor| {
            if !keep(&trace_id, cursor)? {
                skipped += 1;
                last_walked = Some(cursor);
                if skipped >= LIST_SKIP_LIMIT {
                    more = true;
                    return Ok(false);
                }
                return Ok(true);
            }
            if found.len() as u64 >= limit {
                more = true;
                return Ok(false);
            }
            found.push((trace_id, cursor));
            last_walked = Some(cursor);
            Ok(true)
        };
        self.walk_order_in(order, from, view, visit)?;
        let next = if more {
            if skipped >= LIST_SKIP_LIMIT {
                last_walked
            } else {
                found.last().map(|(_, cursor)| *cursor)
            }
        } else {
            None
        };
        Ok((found, next))
    }

    /// Summaries of up to `limit` traces after `after` whose IDs start with
    /// `prefix`, in first-seen order, and the cursor of the next page. A
    /// summary is computed from the trace's events (appends keep none), so a
    /// page costs O(its events); a prefix filter walks past non-matching
    /// traces, so it costs O(traces walked), not O(limit).
    pub fn list_traces(
        &self,
        after: Option<Cursor>,
        limit: u64,
        prefix: &str,
    ) -> Result<(Vec<TraceSummary>, Option<Cursor>)> {
        self.list_traces_in(ListOrder::OldestFirst, after, limit, prefix)
    }

    /// [`Store::list_traces`] in either order: newest first starts from the
    /// newest trace, or from the one just before `from`, and its next-page
    /// cursor continues towards older traces.
    pub fn list_traces_in(
        &self,
        order: ListOrder,
        from: Option<Cursor>,
        limit: u64,
        prefix: &str,
    ) -> Result<(Vec<TraceSummary>, Option<Cursor>)> {
        self.list_traces_filtered(order, from, limit, &TraceFilter::prefix(prefix))
    }

    /// [`Store::list_traces_in`] keeping only the traces `filter` keeps. A
    /// page walks past at most [`LIST_SKIP_LIMIT`] traces it does not keep;
    /// past that it ends early, maybe empty, with a cursor to go on from.
    ///
    /// On a bucket shared by several nodes: the cluster's traces, merged as
    /// [`Store::scan_after`] merges them, each summarised over every node's
    /// events.
    pub fn list_traces_filtered(
        &self,
        order: ListOrder,
        from: Option<Cursor>,
        limit: u64,
        filter: &TraceFilter,
    ) -> Result<(Vec<TraceSummary>, Option<Cursor>)> {
        if let Some((own_id, peers)) = self.cluster_peers() {
            let members = members(own_id, self, &peers);
            let (found, next) = merge_pages(&members, order, from, limit, |store| {
                let (found, next, _) = store.kept_page(order, from, limit, filter)?;
                Ok((found, next))
            })?;
            let mut summaries = Vec::with_capacity(found.len());
            for (trace_id, cursor) in found {
                let events = merged_events(&members, &trace_id)?;
                if !events.is_empty() {
                    summaries.push(summary_of(trace_id, cursor, &events));
                }
            }
            return Ok((summaries, next));
        }
        let (found, next, snapshot) = self.kept_page(order, from, limit, filter)?;
        let mut summaries = Vec::with_capacity(found.len());
        for (trace_id, cursor) in found {
            let mut summary = summary_of(trace_id, cursor, &[]);
            self.for_each_trace_event(&summary.trace_id.clone(), Some(cursor.0), &*snapshot, |stored| {
                summary.count(&stored);
                Ok(())
            })?;
            summaries.push(summary);
        }
        Ok((summaries, next))
    }

    /// The page of traces `filter` keeps past `from` in `order` on this
    /// store alone, and the snapshot it was read from.
    fn kept_page(
        &self,
        order: ListOrder,
        from: Option<Cursor>,
        limit: u64,
        filter: &TraceFilter,
    ) -> Result<KeptPage<'_>> {
        let snapshot = self.db.snapshot();
        let keep = |trace_id: &str, cursor: Cursor| -> Result<bool> {
            if !trace_id.starts_with(filter.prefix.as_str()) {
                return Ok(false);
            }
            if !filter.dm_only {
                return Ok(true);
            }
            let first = self.first_event_kind(trace_id, cursor, &*snapshot)?;
            Ok(matches!(first, Some(EventKind::Binlog | EventKind::Job)))
        };
        let (found, next) = self.page_kept(order, from, limit, keep, &*snapshot)?;
        Ok((found, next, snapshot))
    }

    /// The kind of a trace's first event (the one at its first-seen cursor).
    fn first_event_kind(&self, trace_id: &str, cursor: Cursor, view: &dyn EngineRead) -> Result<Option<EventKind>> {
        if trace_id.len() > MAX_TRACE_ID_LEN {
            return Ok(None);
        }
        let prefix = self.prefix_at(trace_id, cursor.0);
        let iter = reads::trace_events(view, &prefix);
        let first = match iter.item() {
            Some((key, value)) => Some(records::decode_event(key, value)?.kind()),
            None => None,
        };
        iter.status()
            .map_err(|error| StoreError::engine_at(&keys::trace_key(trace_id), "reading trace events", error))?;
        Ok(first)
    }

    /// The smallest and largest event TSO (`base.tso`, nanoseconds) appended
    /// since the store was created or last truncated, ignoring unset (zero)
    /// ones; `None` when no event had one. Deleting a trace does not narrow it.
    pub fn tso_range(&self) -> Result<Option<(i64, i64)>> {
        let counters = self.counters();
        Ok((counters.min_tso != 0).then_some((counters.min_tso, counters.max_tso)))
    }

    fn counters(&self) -> Counters {
        self.counters
            .lock()
            .map(|counters| counters.clone())
            .unwrap_or_else(|poisoned| poisoned.into_inner().clone())
    }

    /// Traces stored, as of the last commit (a counter: no I/O).
    pub fn trace_count(&self) -> u64 {
        self.counters
            .lock()
            .map_or_else(|poisoned| poisoned.into_inner().traces, |counters| counters.traces)
    }

    /// Store-wide figures. Reads counters kept up to date by every commit;
    /// no data is scanned.
    pub fn stats(&self) -> Result<Stats> {
        let counters = self.counters();
        let events_by_kind = EventKind::ALL
            .into_iter()
            .map(|kind| {
                let count = counters
                    .events_by_kind
                    .get(&u32::from(kind.code()))
                    .copied()
                    .unwrap_or(0);
                (kind, count)
            })
            .collect();
        Ok(Stats {
            format_version: FORMAT_VERSION,
            traces: counters.traces,
            events_by_kind,
            bytes_on_disk: if self.directory { directory_size(&self.path)? } else { 0 },
            tso_mark: self.tso.mark(),
            next_seq: counters.next_seq,
        })
    }

    /// Whether a read waits at most for the local disk, never for the
    /// network: true in a data directory, false on a bucket (a block in
    /// neither cache is fetched from it). A caller may then make a small
    /// read, such as one trace's, on a thread that must not wait long.
    pub fn reads_are_local(&self) -> bool {
        self.db.is_local()
    }

    /// The storage engine's own figures (RocksDB's memtables, cache,
    /// compaction and write stalls): what operators watch.
    pub fn engine_figures(&self) -> EngineFigures {
        self.db.figures()
    }

    /// Bytes the store takes in its bucket (every object under its prefix:
    /// tables, log objects not yet collected, the manifest); `None` for a
    /// store in a data directory (see [`Stats::bytes_on_disk`]). Lists the
    /// bucket: not for polling.
    pub fn bucket_bytes(&self) -> Result<Option<u64>> {
        self.db
            .remote_bytes()
            .transpose()
            .map_err(|error| StoreError::engine("listing the bucket", error))
    }

    /// The engine holding the store.
    pub(crate) fn engine(&self) -> &dyn Engine {
        &*self.db
    }

    /// The on-disk format of the open store: [`FORMAT_VERSION`] once opened
    /// read-write (older stores are upgraded), the stored one when read-only.
    pub fn format(&self) -> u8 {
        self.format
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        if let Some(writer) = self.writer.take() {
            // The writer thread commits what is queued, then ends.
            writer.queue.close();
            if let Ok(mut thread) = writer.thread.lock()
                && let Some(thread) = thread.take()
                && thread.join().is_err()
            {
                tracing::error!("the store's writer thread panicked");
            }
        }
    }
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.path)
            .field("read_only", &self.writer.is_none())
            .field("sync", &self.sync)
            .finish_non_exhaustive()
    }
}

/// Validates one encoded event (the `index`th of its batch) and frames it as a
/// record in `records`, on the caller's thread.
fn prepare_one(records: &mut PreparedRecords, index: usize, kind: EventKind, bytes: &[u8]) -> Result<PreparedEvent> {
    let invalid = |reason: String| StoreError::InvalidEvent { index, reason };
    let head =
        wire::scan_event(kind, bytes).map_err(|error| invalid(format!("the {kind} event does not decode: {error}")))?;
    if !head.has_base {
        return Err(invalid("the event has no base".into()));
    }
    check_trace_id_len(index, head.trace_id.len())?;
    let record = records.push(kind.code(), bytes);
    Ok(PreparedEvent::new(kind, head.tso, records, record, head.trace_id))
}

/// A trace ID must be 1 to [`MAX_TRACE_ID_LEN`] bytes.
fn check_trace_id_len(index: usize, trace_len: usize) -> Result<()> {
    let invalid = |reason: String| StoreError::InvalidEvent { index, reason };
    if trace_len == 0 {
        return Err(invalid("base.traceID is empty".into()));
    }
    if trace_len > MAX_TRACE_ID_LEN {
        return Err(invalid(format!(
            "base.traceID is {trace_len} bytes, over the {MAX_TRACE_ID_LEN}-byte limit"
        )));
    }
    Ok(())
}

fn unexpected_outcome(action: &'static str, outcome: Outcome) -> StoreError {
    StoreError::Engine {
        action,
        message: format!("the writer answered {outcome:?}"),
    }
}

/// How read-only stores are opened: a small cache, enough for one reader.
/// The stores a cluster read covers, `own` and `peers`, by node ID.
pub(crate) fn members<'a>(own_id: &'a str, own: &'a Store, peers: &'a [Arc<Peer>]) -> Vec<(&'a str, &'a Store)> {
    let mut members = vec![(own_id, own)];
    members.extend(peers.iter().map(|peer| (peer.node_id.as_str(), &peer.store)));
    members.sort_by(|a, b| a.0.cmp(b.0));
    members
}

/// A trace's events on every member, in arrival order, a tie going to the
/// lower node ID (`members` are sorted by it), less those a member's delete
/// or truncate removed for the cluster ([`hidden_before`]).
fn merged_events(members: &[(&str, &Store)], trace_id: &str) -> Result<Vec<StoredEvent>> {
    let hidden = hidden_before(members, trace_id)?;
    let mut tagged: Vec<(u64, usize, StoredEvent)> = Vec::new();
    for (at, (_, store)) in members.iter().enumerate() {
        let events = store.read_events(trace_id, None, &*store.db)?;
        tagged.extend(
            events
                .into_iter()
                .filter(|event| event.seq >= hidden)
                .map(|event| (event.seq, at, event)),
        );
    }
    // Stable: one node's events keep their order.
    tagged.sort_by_key(|(seq, at, _)| (*seq, *at));
    Ok(tagged.into_iter().map(|(_, _, event)| event).collect())
}

/// A member's mark under `key` ([`records::ClusterMark`]): what arrived
/// before it is gone for the cluster; 0 without one.
fn cluster_mark(store: &Store, key: &[u8]) -> Result<u64> {
    match store
        .db
        .get(key)
        .map_err(|error| StoreError::engine_at(key, "reading a cluster mark", error))?
    {
        Some(value) => {
            Ok(records::decode_message::<records::ClusterMark>(key, &value, records::KIND_CLUSTER_MARK)?.before_seq)
        }
        None => Ok(0),
    }
}

/// The arrival number below which `trace_id`'s events are gone for the
/// cluster: the latest of every member's truncate and delete of it. Two
/// point reads per member.
fn hidden_before(members: &[(&str, &Store)], trace_id: &str) -> Result<u64> {
    let mut hidden = 0;
    for (_, store) in members {
        hidden = hidden
            .max(cluster_mark(store, keys::META_TRUNCATED)?)
            .max(cluster_mark(store, &keys::deleted_key(trace_id))?);
    }
    Ok(hidden)
}

/// The summary of `trace_id` at `cursor` over `events`.
fn summary_of(trace_id: String, cursor: Cursor, events: &[StoredEvent]) -> TraceSummary {
    let mut summary = TraceSummary {
        trace_id,
        cursor,
        events: 0,
        min_tso: 0,
        max_tso: 0,
        events_by_kind: [0; EventKind::ALL.len()],
    };
    for stored in events {
        summary.count(stored);
    }
    summary
}

impl TraceSummary {
    /// Counts `stored` in.
    fn count(&mut self, stored: &StoredEvent) {
        self.events += 1;
        if let Some(slot) = kind_slot(stored.event.kind()) {
            self.events_by_kind[slot] += 1;
        }
        let tso = stored.event.tso();
        if tso != 0 {
            if self.min_tso == 0 || tso < self.min_tso {
                self.min_tso = tso;
            }
            self.max_tso = self.max_tso.max(tso);
        }
    }
}

/// The traces of a cluster page with their events on every member; a trace
/// deleted meanwhile is left out.
fn with_merged_events(members: &[(&str, &Store)], found: Vec<(String, Cursor)>) -> Result<Vec<TraceEvents>> {
    let mut traces = Vec::with_capacity(found.len());
    for (trace_id, cursor) in found {
        let events = merged_events(members, &trace_id)?;
        if !events.is_empty() {
            traces.push(TraceEvents {
                trace_id,
                cursor,
                events,
            });
        }
    }
    Ok(traces)
}

/// Whether member `at` is where the cluster first saw `trace_id` (at
/// `first_seq` there): no other member saw it earlier, or as early with a
/// lower node ID. One point read per other member.
fn first_seen_here(members: &[(&str, &Store)], at: usize, first_seq: u64, trace_id: &str) -> Result<bool> {
    for (other, (_, store)) in members.iter().enumerate() {
        if other == at {
            continue;
        }
        if let Some(theirs) = reads::read_start(&*store.db, trace_id)?
            && (theirs, other) < (first_seq, at)
        {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Up to `limit` of the cluster's traces after `after` in first-seen order,
/// and the next page's cursor ([`merge_pages`] over each member's
/// [`Store::page_after`]).
fn cluster_page(members: &[(&str, &Store)], after: Option<Cursor>, limit: u64) -> Result<OrderPage> {
    merge_pages(members, ListOrder::OldestFirst, after, limit, |store| {
        store.page_after(after, limit, &*store.db)
    })
}

/// Merges the members' pages (`page_of` gives a member's next `limit`
/// traces past `from` in `order`, and its next cursor) into the cluster's:
/// by first-seen number in `order` (then node ID), each trace at the member
/// that saw it first. Past the nearest last cursor of a member with more to
/// give, the merge knows nothing, so the page ends there.
fn merge_pages(
    members: &[(&str, &Store)],
    order: ListOrder,
    from: Option<Cursor>,
    limit: u64,
    mut page_of: impl FnMut(&Store) -> Result<OrderPage>,
) -> Result<OrderPage> {
    let newest_first = matches!(order, ListOrder::NewestFirst);
    // Cursors in walking order: ascending oldest first, descending newest first.
    let key = |cursor: Cursor| if newest_first { u64::MAX - cursor.0 } else { cursor.0 };
    let mut candidates = Vec::new();
    let mut horizon: Option<Cursor> = None;
    for (at, (_, store)) in members.iter().enumerate() {
        let (found, next) = page_of(store)?;
        if let Some(next) = next {
            horizon = Some(match horizon {
                Some(known) if key(known) <= key(next) => known,
                _ => next,
            });
        }
        candidates.extend(found.into_iter().map(|(trace_id, cursor)| (cursor, at, trace_id)));
    }
    candidates.sort_by_key(|(cursor, at, _)| (key(*cursor), *at));
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let mut page: Vec<(String, Cursor)> = Vec::new();
    let mut overfull = false;
    for (cursor, at, trace_id) in candidates {
        if horizon.is_some_and(|horizon| key(cursor) > key(horizon)) {
            break;
        }
        if page.len() >= limit && page.last().is_some_and(|(_, last)| *last != cursor) {
            overfull = true;
            break;
        }
        if first_seen_here(members, at, cursor.0, &trace_id)? {
            page.push((trace_id, cursor));
        }
    }
    if !overfull {
        return Ok((page, horizon));
    }
    // Do not split traces of one first-seen number between pages (the next
    // page starts past the cursor): end before them, unless they alone
    // fill the page.
    if page.len() > limit
        && let Some(&(_, last)) = page.last()
    {
        let before_ties = page.iter().take_while(|(_, cursor)| *cursor != last).count();
        if before_ties > 0 {
            page.truncate(before_ties);
        }
    }
    let next = page.last().map(|(_, cursor)| *cursor).or(from);
    Ok((page, next))
}

/// dm-tracer's offset scan over the cluster: walks the cluster's pages
/// from the start, so O(offset + limit) per node.
fn cluster_scan(members: &[(&str, &Store)], offset: u64, limit: u64) -> Result<Vec<TraceEvents>> {
    const WALK_PAGE: u64 = 1_000;
    let mut skipped = 0u64;
    let mut page = Vec::new();
    let mut after = None;
    'walk: loop {
        let (found, next) = cluster_page(members, after, WALK_PAGE)?;
        for trace in found {
            if skipped < offset {
                skipped += 1;
                continue;
            }
            if page.len() as u64 >= limit {
                break 'walk;
            }
            page.push(trace);
        }
        match next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    if skipped < offset {
        return Err(StoreError::OffsetPastEnd {
            offset,
            traces: skipped,
        });
    }
    with_merged_events(members, page)
}

/// [`Store::export`] over the cluster: its first-seen order a page at a
/// time, each trace's events merged over the nodes, so memory stays that of
/// one page whatever the cluster holds.
fn export_cluster(members: &[(&str, &Store)], mut visit: impl FnMut(&str, &StoredEvent) -> Result<()>) -> Result<u64> {
    const EXPORT_PAGE: u64 = 256;
    let mut count = 0u64;
    let mut after = None;
    loop {
        let (found, next) = cluster_page(members, after, EXPORT_PAGE)?;
        for trace in with_merged_events(members, found)? {
            for event in &trace.events {
                count += 1;
                visit(&trace.trace_id, event)?;
            }
        }
        match next {
            Some(next) if Some(next) != after => after = Some(next),
            _ => return Ok(count),
        }
    }
}

fn read_only_options() -> StoreOptions {
    StoreOptions {
        block_cache_size: 16 << 20,
        ..StoreOptions::default()
    }
}

/// Takes the exclusive lock on `dir/LOCK` (what RocksDB's own lock file
/// does for its directory), or says the directory is in use.
fn lock_directory(dir: &Path) -> Result<std::fs::File> {
    let path = dir.join("LOCK");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|source| StoreError::Io {
            action: "create the lock file in",
            path: dir.to_path_buf(),
            source,
        })?;
    match rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(file),
        Err(rustix::io::Errno::WOULDBLOCK) => Err(StoreError::DirectoryInUse {
            path: dir.to_path_buf(),
        }),
        Err(errno) => Err(StoreError::Io {
            action: "lock",
            path: dir.to_path_buf(),
            source: errno.into(),
        }),
    }
}

/// Bytes of all files in the data directory.
fn directory_size(path: &Path) -> Result<u64> {
    directory_usage(path).map(|usage| usage.total)
}

/// What the data directory's files take, in bytes.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct DirectoryUsage {
    /// Every file.
    pub(crate) total: u64,
    /// Table files and write-ahead logs: what deleting traces shrinks
    /// (RocksDB's own log, manifest and options files stay).
    pub(crate) data: u64,
}

/// One listing of the data directory, summed.
pub(crate) fn directory_usage(path: &Path) -> Result<DirectoryUsage> {
    let entries = std::fs::read_dir(path).map_err(|source| StoreError::Io {
        action: "read data directory",
        path: path.to_path_buf(),
        source,
    })?;
    let mut usage = DirectoryUsage::default();
    // Files can vanish between listing and stat (compaction); skip those.
    for entry in entries.flatten() {
        let Ok(metadata) = entry.metadata() else { continue };
        if !metadata.is_file() {
            continue;
        }
        usage.total += metadata.len();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.ends_with(".sst") || name.ends_with(".log") {
            usage.data += metadata.len();
        }
    }
    Ok(usage)
}

#[path = "disk_bound.rs"]
mod disk_bound;
pub use disk_bound::Trim;
