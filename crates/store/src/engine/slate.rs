//! The bucket engine: SlateDB, an LSM tree whose write-ahead log, sorted
//! tables and manifest live in an object-storage bucket (S3, GCS, Azure Blob,
//! a local directory), reached through the `object_store` crate.
//!
//! SlateDB is asynchronous; the store above is not (one writer thread,
//! blocking callers on blocking threads). So the engine owns a small tokio
//! runtime and every call hands a task to it and waits for its answer on a
//! channel, which works from any thread, an async worker's included.
//!
//! What the RocksDB engine gets from RocksDB and this one does itself:
//! - range deletions: SlateDB has none, so a batch's `delete_range` becomes a
//!   delete per stored key, found by a scan when the batch is written (the
//!   writer is the only one writing, so nothing slips in between);
//! - cursors that turn around: SlateDB scans run one way, so a cursor that
//!   changes direction starts a new scan from where it stands.
//!
//! A write returns once SlateDB has applied it, as [`Written::Pending`]: it
//! is durable once SlateDB reports its write-ahead log object written to the
//! bucket, whatever `sync` asks (the bucket is the only copy), and a flusher
//! task writes that object as soon as a write waits ([`flusher`]).

use std::collections::VecDeque;
use std::future::Future;
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use slatedb::bytes::Bytes;
use slatedb::compactor::{Compaction, CompactionSpec, CompactionStatus, SourceId};
use slatedb::config::{
    CompressionCodec, DbReaderOptions, FlushOptions, FlushType, GarbageCollectorDirectoryOptions,
    GarbageCollectorOptions, ObjectStoreCacheOptions, ReadOptions, ScanOptions, Settings,
};
use slatedb::db_cache::moka::{MokaCache, MokaCacheOptions};
use slatedb::db_cache::{DbCache, SplitCache};
use slatedb::object_store::ObjectStore;
use slatedb::{Db, DbIterator, DbReader, DbSnapshot, IterationOrder, MergeOperator, MergeOperatorError};

use super::bucket::BucketCounters;
use super::{Engine, EngineBatch, EngineError, EngineFigures, EngineIter, EngineRead, KeyRange, OnDurable, Written};
use crate::error::{Result, StoreError};
use crate::options::StoreOptions;
use crate::term_set;

/// How a [`SlateEngine`] reaches its bucket.
pub(crate) struct SlateConfig {
    /// The bucket, and the prefix inside it under which the store lives.
    pub object_store: Arc<dyn ObjectStore>,
    /// The prefix (SlateDB's database path) inside the bucket.
    pub prefix: String,
    /// What `object_store` counts of its requests.
    pub counters: Arc<BucketCounters>,
    /// Bytes of table blocks cached in memory (`block-cache-size`); index
    /// and filter blocks get a quarter as much again.
    pub block_cache_size: usize,
    /// The least time between two writes of the write-ahead log to the
    /// bucket (`bucket-flush-interval-ms`): it bounds the PUTs a node makes
    /// per second whatever the load.
    pub flush_interval: Duration,
    /// The node's disk cache of table objects, and its size in bytes: `None`
    /// for readers opened without a directory (`tracekeep-dump`).
    pub disk_cache: Option<(PathBuf, usize)>,
}

impl SlateConfig {
    /// The configuration for the bucket `url` names (`StoreOptions::bucket`),
    /// with the caches and flush interval of `options`; `directory`, the
    /// node's data directory, holds the disk cache.
    pub(crate) fn for_bucket(url: &str, options: &StoreOptions, directory: Option<&Path>) -> Result<SlateConfig> {
        let (object_store, prefix, counters) = super::bucket::open(url)?;
        Ok(SlateConfig {
            object_store,
            prefix,
            counters,
            block_cache_size: options.block_cache_size,
            flush_interval: options.bucket_flush_interval,
            disk_cache: directory.map(|directory| (directory.join(DISK_CACHE_DIRECTORY), disk_cache_bytes(options))),
        })
    }
}

/// How often a reader looks for what the database's writer wrote since (its
/// manifest and new log objects): what another node's data may lag behind
/// on a node reading it, beside the writer's own log interval.
pub(crate) const READER_POLL_INTERVAL: Duration = Duration::from_millis(250);

/// The folder under a cluster's prefix that holds one database per node.
const NODES_FOLDER: &str = "nodes";

/// The folder under a cluster's prefix whose objects `<node-id>` are the
/// nodes' leases: rewritten by each live node (or its adopter) every few
/// seconds, their age is how long ago a node was last heard of.
const LEASES_FOLDER: &str = "leases";

/// The folder under a cluster's prefix whose objects `<slot>` name the node
/// holding each TSO slot ([`crate::tso::TSO_SLOTS`]).
const TSO_SLOTS_FOLDER: &str = "tso-slots";

/// A cluster's prefix in its bucket: one database per node under
/// `nodes/<node-id>/`, found by listing.
pub(crate) struct BucketRoot {
    /// For listing: `None` once dropped.
    runtime: Option<tokio::runtime::Runtime>,
    handle: tokio::runtime::Handle,
    url: String,
    object_store: Arc<dyn ObjectStore>,
    prefix: String,
    counters: Arc<BucketCounters>,
}

impl BucketRoot {
    /// The cluster the bucket URL `url` names (`StoreOptions::bucket`).
    pub(crate) fn open(url: &str) -> Result<BucketRoot> {
        let (object_store, prefix, counters) = super::bucket::open(url)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("tracekeep-bucket-list")
            .enable_all()
            .build()
            .map_err(|source| StoreError::Io {
                action: "start the bucket listing thread for",
                path: url.into(),
                source,
            })?;
        Ok(BucketRoot {
            handle: runtime.handle().clone(),
            runtime: Some(runtime),
            url: url.to_owned(),
            object_store,
            prefix,
            counters,
        })
    }

    /// The bucket URL as given.
    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    /// The database prefix of node `node_id`.
    fn node_prefix(&self, node_id: &str) -> String {
        join_prefix(&self.prefix, &format!("{NODES_FOLDER}/{node_id}"))
    }

    /// How node `node_id`'s engine reaches its database, with the caches
    /// and flush interval of `options` and its disk cache in `directory`.
    pub(crate) fn node_config(&self, node_id: &str, options: &StoreOptions, directory: Option<&Path>) -> SlateConfig {
        SlateConfig {
            object_store: self.object_store.clone(),
            prefix: self.node_prefix(node_id),
            counters: self.counters.clone(),
            block_cache_size: options.block_cache_size,
            flush_interval: options.bucket_flush_interval,
            disk_cache: directory.map(|directory| (directory.join(DISK_CACHE_DIRECTORY), disk_cache_bytes(options))),
        }
    }

    /// Runs `task` with the bucket on this root's runtime and waits for it;
    /// a failure is a [`StoreError::Engine`] saying `action`.
    fn ask<T, F>(&self, action: &'static str, task: impl FnOnce(Arc<dyn ObjectStore>) -> F) -> Result<T>
    where
        T: Send + 'static,
        F: Future<Output = slatedb::object_store::Result<T>> + Send + 'static,
    {
        run(&self.handle, task(self.object_store.clone()))
            .map_err(|error| StoreError::engine(action, error))?
            .map_err(|error| StoreError::Engine {
                action,
                message: error.to_string(),
            })
    }

    /// One level of the bucket under `folder` of the prefix.
    fn list(&self, folder: &str, action: &'static str) -> Result<slatedb::object_store::ListResult> {
        let folder = slatedb::object_store::path::Path::from(join_prefix(&self.prefix, folder));
        self.ask(
            action,
            |store| async move { store.list_with_delimiter(Some(&folder)).await },
        )
    }

    /// The nodes that have a database here, by ID, sorted.
    pub(crate) fn node_ids(&self) -> Result<Vec<String>> {
        let listed = self.list(NODES_FOLDER, "listing the cluster's nodes")?;
        let mut ids: Vec<String> = listed
            .common_prefixes
            .iter()
            .filter_map(|path| path.filename().map(str::to_owned))
            .filter(|id| crate::options::check_node_id(id).is_ok())
            .collect();
        ids.sort();
        Ok(ids)
    }

    /// Node `node_id`'s TSO slot: the one it holds already (a restart), else
    /// the lowest free one, taken with a create-if-absent write, so two
    /// nodes starting at once cannot take one slot (the bucket's
    /// conditional write is the only coordination).
    pub(crate) fn claim_tso_slot(&self, node_id: &str) -> Result<u32> {
        use slatedb::object_store::path::Path as ObjectPath;
        use slatedb::object_store::{Error as ObjectError, GetOptions, PutMode, PutPayload};
        let (folder, node) = (join_prefix(&self.prefix, TSO_SLOTS_FOLDER), node_id.to_owned());
        let claimed = self.ask("claiming the node's TSO slot", |store| async move {
            let listed = store
                .list_with_delimiter(Some(&ObjectPath::from(folder.clone())))
                .await?;
            let mut taken = std::collections::HashSet::new();
            for object in listed.objects {
                let Some(slot) = object.location.filename().and_then(|name| name.parse::<u32>().ok()) else {
                    continue;
                };
                taken.insert(slot);
                let holder = store
                    .get_opts(&object.location, GetOptions::default())
                    .await?
                    .bytes()
                    .await?;
                if holder.as_ref() == node.as_bytes() {
                    return Ok(Some(slot));
                }
            }
            for slot in (0..crate::tso::TSO_SLOTS).filter(|slot| !taken.contains(slot)) {
                let path = ObjectPath::from(format!("{folder}/{slot:04}"));
                let payload = PutPayload::from(node.clone().into_bytes());
                match store.put_opts(&path, payload, PutMode::Create.into()).await {
                    Ok(_) => return Ok(Some(slot)),
                    // Another node took it first.
                    Err(ObjectError::AlreadyExists { .. } | ObjectError::Precondition { .. }) => {}
                    Err(error) => return Err(error),
                }
            }
            Ok(None)
        })?;
        claimed.ok_or_else(|| StoreError::InvalidBucket {
            url: self.url.clone(),
            reason: format!("every one of the {} TSO slots is held by a node", crate::tso::TSO_SLOTS),
        })
    }

    /// Renews node `node_id`'s lease, saying who holds it (the node itself,
    /// or the node that adopted it).
    pub(crate) fn renew_lease(&self, node_id: &str, holder: &str) -> Result<()> {
        use slatedb::object_store::PutPayload;
        use slatedb::object_store::path::Path as ObjectPath;
        let path = ObjectPath::from(join_prefix(&self.prefix, &format!("{LEASES_FOLDER}/{node_id}")));
        let body = PutPayload::from(holder.to_owned().into_bytes());
        self.ask("renewing a node's lease", |store| async move {
            store.put_opts(&path, body, Default::default()).await
        })?;
        Ok(())
    }

    /// How long before the newest lease each lease was last written, by
    /// node ID: one listing, and only the bucket's dates compared, so the
    /// nodes' clocks do not matter. A live node renews its own every few
    /// seconds, so the newest is about now.
    pub(crate) fn lease_ages(&self) -> Result<Vec<(String, Duration)>> {
        let listed = self.list(LEASES_FOLDER, "listing the nodes' leases")?;
        let newest = listed
            .objects
            .iter()
            .map(|object| object.last_modified.timestamp_millis())
            .max()
            .unwrap_or_default();
        Ok(listed
            .objects
            .iter()
            .filter_map(|object| {
                let node_id = object.location.filename()?.to_owned();
                let behind = u64::try_from(newest - object.last_modified.timestamp_millis()).unwrap_or(0);
                Some((node_id, Duration::from_millis(behind)))
            })
            .collect())
    }

    /// Whether a database sits at the prefix itself, as versions before
    /// node folders (2026-12-07) wrote it.
    pub(crate) fn holds_unnamed_store(&self) -> Result<bool> {
        Ok(!self.list("manifest", "listing the bucket")?.objects.is_empty())
    }
}

impl Drop for BucketRoot {
    fn drop(&mut self) {
        // Without waiting, as the engine's own runtime (it may be dropped on
        // an async worker).
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// `inner` under `prefix` (which may be empty: the bucket's root).
fn join_prefix(prefix: &str, inner: &str) -> String {
    if prefix.is_empty() {
        inner.to_owned()
    } else {
        format!("{prefix}/{inner}")
    }
}

/// A store's SlateDB database in a bucket.
pub(crate) struct SlateEngine {
    /// The engine's runtime: `None` once dropped.
    runtime: Option<tokio::runtime::Runtime>,
    handle: tokio::runtime::Handle,
    db: Database,
    /// The bucket and the database's prefix in it, for its size.
    object_store: Arc<dyn ObjectStore>,
    prefix: String,
    counters: Arc<BucketCounters>,
    /// The last write's failure to become durable; cleared by a success.
    trouble: Arc<std::sync::Mutex<Option<String>>>,
    /// Another writer opened this database since: every write fails now.
    fenced: Arc<AtomicBool>,
    /// Wakes the flusher: a write is waiting to be made durable.
    flush_wanted: Arc<tokio::sync::Notify>,
}

/// The database, as its writer or a reader of it.
#[derive(Clone)]
enum Database {
    Writer(Arc<Db>),
    Reader(Arc<DbReader>),
}

/// How long a write may wait for the bucket to confirm it before its
/// requests are answered with an error (a retryable one: the bucket is away).
const DURABLE_TIMEOUT: Duration = Duration::from_secs(10);

/// Entries fetched from a scan per hand-off to the runtime, at first: small,
/// since most cursors read a few keys; doubling up to [`MAX_CHUNK`] for walks.
const FIRST_CHUNK: usize = 16;
const MAX_CHUNK: usize = 4096;

/// The disk cache's directory inside the data directory.
const DISK_CACHE_DIRECTORY: &str = "bucket-cache";

/// The disk cache's size without `max-disk-bytes`: SlateDB's own default.
const DEFAULT_DISK_CACHE_BYTES: u64 = 16 << 30;

/// The disk cache's bound: 90% of `max-disk-bytes` (the rest is the lock
/// file, logs and what the cache writes before it evicts), else 16 GiB.
fn disk_cache_bytes(options: &StoreOptions) -> usize {
    let bytes = match options.max_disk_bytes {
        0 => DEFAULT_DISK_CACHE_BYTES,
        bound => bound / 10 * 9,
    };
    usize::try_from(bytes).unwrap_or(usize::MAX)
}

/// SlateDB's own flush timer, behind [`flusher`].
const BACKSTOP_FLUSH_INTERVAL: Duration = Duration::from_secs(1);

impl SlateEngine {
    /// Opens (creating if needed) the database under `config.prefix`, fencing
    /// off any earlier writer of it.
    pub(crate) fn open(config: SlateConfig) -> Result<SlateEngine> {
        let runtime = engine_runtime(&config.prefix)?;
        let settings = Settings {
            // The flusher below writes the log when there is something to
            // write; SlateDB's own timer is only a backstop should it stop.
            flush_interval: Some(BACKSTOP_FLUSH_INTERVAL),
            garbage_collector_options: Some(garbage_collection()),
            compression_codec: Some(CompressionCodec::Lz4),
            object_store_cache_options: disk_cache(config.disk_cache.clone()),
            ..Settings::default()
        };
        let (object_store, prefix) = (config.object_store.clone(), config.prefix.clone());
        let builder = Db::builder(config.prefix.clone(), config.object_store)
            .with_settings(settings)
            .with_merge_operator(merge_operator())
            .with_db_cache(block_cache(config.block_cache_size), 0);
        let db = run(runtime.handle(), async move { builder.build().await })
            .and_then(|opened| opened.map_err(slate_error))
            .map_err(|error| StoreError::Engine {
                action: "opening the bucket",
                message: error.message,
            })?;
        let db = Arc::new(db);
        let flush_wanted = Arc::new(tokio::sync::Notify::new());
        runtime.spawn(flusher(
            Arc::downgrade(&db),
            flush_wanted.clone(),
            config.flush_interval,
        ));
        Ok(SlateEngine {
            handle: runtime.handle().clone(),
            runtime: Some(runtime),
            db: Database::Writer(db),
            object_store,
            prefix,
            counters: config.counters,
            trouble: Arc::default(),
            fenced: Arc::default(),
            flush_wanted,
        })
    }

    /// Opens the database under `config.prefix` to read only, beside its
    /// writer if one runs: SlateDB's reader, which pins what it reads with a
    /// checkpoint of its own and replays the write-ahead log, so it sees
    /// every acknowledged write as of its opening.
    pub(crate) fn open_reader(config: SlateConfig) -> Result<SlateEngine> {
        let runtime = engine_runtime(&config.prefix)?;
        let (object_store, prefix) = (config.object_store.clone(), config.prefix.clone());
        let options = DbReaderOptions {
            manifest_poll_interval: READER_POLL_INTERVAL,
            ..DbReaderOptions::default()
        };
        let builder = DbReader::builder(config.prefix.clone(), config.object_store)
            .with_options(options)
            .with_merge_operator(merge_operator())
            .with_db_cache(block_cache(config.block_cache_size), 0);
        let reader = match run(runtime.handle(), async move { builder.build().await }) {
            Ok(Ok(reader)) => reader,
            // Nothing was ever written under this prefix: no store there.
            Ok(Err(error))
                if matches!(error.kind(), slatedb::ErrorKind::Data) && error.to_string().contains("manifest") =>
            {
                return Err(StoreError::NotAStore {
                    path: config.prefix.into(),
                    reason: format!("the bucket holds no store under this prefix ({error})"),
                });
            }
            Ok(Err(error)) => {
                return Err(StoreError::engine("opening the bucket to read", slate_error(error)));
            }
            Err(error) => return Err(StoreError::engine("opening the bucket to read", error)),
        };
        Ok(SlateEngine {
            handle: runtime.handle().clone(),
            runtime: Some(runtime),
            db: Database::Reader(Arc::new(reader)),
            object_store,
            prefix,
            counters: config.counters,
            trouble: Arc::default(),
            fenced: Arc::default(),
            flush_wanted: Arc::default(),
        })
    }

    fn reader(&self) -> Reader {
        match &self.db {
            Database::Writer(db) => Reader::Db(db.clone()),
            Database::Reader(reader) => Reader::ReadOnly(reader.clone()),
        }
    }
}

impl Drop for SlateEngine {
    fn drop(&mut self) {
        // Close cleanly (what is written is durable already; this stops the
        // background flusher and compactor before the runtime goes).
        let db = self.db.clone();
        let closed = run(&self.handle, async move {
            match db {
                Database::Writer(db) => db.close().await,
                Database::Reader(reader) => reader.close().await,
            }
        });
        match closed {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::warn!(%error, "closing the bucket engine failed"),
            Err(error) => tracing::warn!(message = %error.message, "closing the bucket engine failed"),
        }
        // Without waiting: the store may be dropped on an async worker, where
        // a runtime's blocking shutdown panics. Its tasks are done by now.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// The least pause after a failed flush before the next.
const FAILED_FLUSH_PAUSE: Duration = Duration::from_millis(100);

/// Group commit for the bucket: writes the log whenever a write is waiting,
/// one PUT at a time, and at most one PUT per `least_gap`. Writes that arrive
/// while a PUT is under way go out together in the next one, so an idle
/// node's write waits for one PUT, and a busy node's for at most two PUTs
/// and the gap, while the PUT rate stays bounded by the gap (by the bucket's
/// latency when that is longer). SlateDB's fixed timer made every write wait
/// half its period on average, busy or idle.
async fn flusher(db: std::sync::Weak<Db>, flush_wanted: Arc<tokio::sync::Notify>, least_gap: Duration) {
    loop {
        flush_wanted.notified().await;
        let started = tokio::time::Instant::now();
        let Some(db) = db.upgrade() else {
            return;
        };
        // A failure reaches the waiting writes through their own handles;
        // here it only delays the next try, so a lost bucket is not hammered.
        let flushed = db
            .flush_with_options(FlushOptions {
                flush_type: FlushType::Wal,
            })
            .await;
        drop(db);
        let gap = if flushed.is_ok() {
            least_gap
        } else {
            least_gap.max(FAILED_FLUSH_PAUSE)
        };
        tokio::time::sleep_until(started + gap).await;
    }
}

/// How objects compaction or a flush replaced leave the bucket: looked for
/// every minute (SlateDB's default is ten) and deleted once five minutes old
/// (its default), so a reader that opened an older manifest can finish.
/// Expired traces thus leave the bucket within minutes of compaction
/// dropping them, not a quarter of an hour.
fn garbage_collection() -> GarbageCollectorOptions {
    let every_minute = GarbageCollectorDirectoryOptions {
        interval: Some(Duration::from_secs(60)),
        ..GarbageCollectorDirectoryOptions::default()
    };
    GarbageCollectorOptions {
        manifest_options: Some(every_minute),
        wal_options: Some(every_minute),
        compacted_options: Some(every_minute),
        compactions_options: Some(every_minute),
        ..GarbageCollectorOptions::default()
    }
}

/// The engine's own runtime: two workers, enough for SlateDB's flusher,
/// compactor and the store's calls.
fn engine_runtime(prefix: &str) -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("tracekeep-bucket")
        .enable_all()
        .build()
        .map_err(|source| StoreError::Io {
            action: "start the bucket engine's threads for",
            path: prefix.into(),
            source,
        })
}

/// How often a full compaction is submitted before giving up: SlateDB
/// refuses one that names level-0 tables while another compaction of level
/// 0 runs, or one whose tables changed between planning and validation.
const FULL_COMPACTION_ATTEMPTS: u32 = 5;
/// The pause before submitting again after a refusal.
const FULL_COMPACTION_RETRY_PAUSE: Duration = Duration::from_secs(5);
/// How long to wait for the compactor to take a submitted compaction up.
const FULL_COMPACTION_ACCEPT_WAIT: Duration = Duration::from_secs(60);

/// Compacts every table (level 0 and every sorted run) into the oldest
/// sorted run, after writing the memtable out, so that deleted keys and
/// their tombstones meet and leave the bucket; returns the number of tables
/// it covers, `None` with nothing to compact. SlateDB's size-tiered
/// compaction merges runs of like size as new tables arrive: after a large
/// sweep with little ingest, a deleted key and its tombstone stay in
/// different runs, and the bucket kept 148% of the emptied store's bytes.
/// Returns once SlateDB's compactor took the compaction up (it runs on,
/// beside ingest), submitting it again if the compactor refused it.
async fn compact_everything(
    db: Arc<Db>,
    object_store: Arc<dyn ObjectStore>,
    prefix: String,
) -> std::result::Result<Option<usize>, String> {
    let admin = slatedb::admin::Admin::builder(prefix, object_store).build();
    for attempt in 1..=FULL_COMPACTION_ATTEMPTS {
        let submitted = submit_full_compaction(&db, &admin)
            .await
            .map_err(|error| error.to_string())?;
        let Some((compaction, tables)) = submitted else {
            return Ok(None);
        };
        if taken_up(&admin, &compaction).await.map_err(|error| error.to_string())? {
            return Ok(Some(tables));
        }
        tracing::info!(
            attempt,
            "compacting everything: SlateDB's compactor refused it; submitting it again"
        );
        tokio::time::sleep(FULL_COMPACTION_RETRY_PAUSE).await;
    }
    Err(format!(
        "SlateDB's compactor refused a full compaction {FULL_COMPACTION_ATTEMPTS} times"
    ))
}

/// How long SlateDB's compactor may take to see a new table: it reads the
/// manifest every 5 s (`poll_interval`), and refuses a compaction naming a
/// table it has not seen yet.
const COMPACTOR_CATCH_UP: Duration = Duration::from_secs(6);

/// Writes the memtable out and submits a compaction of every table the
/// compactor has seen, in the order SlateDB wants them (level 0 newest
/// first, then the sorted runs newest first), into the oldest run: the
/// compaction and how many tables it names.
async fn submit_full_compaction(
    db: &Db,
    admin: &slatedb::admin::Admin,
) -> std::result::Result<Option<(Compaction, usize)>, slatedb::Error> {
    db.flush_with_options(FlushOptions {
        flush_type: FlushType::MemTable,
    })
    .await?;
    let seen: Vec<_> = admin
        .read_compactor_state_view()
        .await?
        .manifest()
        .l0()
        .iter()
        .map(|view| view.id)
        .collect();
    tokio::time::sleep(COMPACTOR_CATCH_UP).await;
    let state = admin.read_compactor_state_view().await?;
    let manifest = state.manifest();
    // Level-0 tables written since the first look may be unknown to the
    // compactor; they are the newest, so leaving them out keeps the sources
    // consecutive, as SlateDB requires.
    let sources: Vec<SourceId> = manifest
        .l0()
        .iter()
        .filter(|view| seen.contains(&view.id))
        .map(|view| SourceId::SstView(view.id))
        .chain(manifest.compacted().iter().map(|run| SourceId::SortedRun(run.id)))
        .collect();
    let destination = manifest.compacted().iter().map(|run| run.id).min();
    if sources.len() < 2 && destination.is_some() || sources.is_empty() {
        return Ok(None);
    }
    let tables = sources.len();
    let compaction = admin
        .submit_compaction(CompactionSpec::new(sources, destination.unwrap_or(0)))
        .await?;
    Ok(Some((compaction, tables)))
}

/// Whether SlateDB's compactor took `compaction` up (scheduled, running or
/// done) rather than refusing it. A refused one is marked failed or dropped
/// from the compactions file; so is a finished one, after a while, which is
/// told apart by its tables: gone from the manifest. One still unvalidated
/// after [`FULL_COMPACTION_ACCEPT_WAIT`] counts as taken up.
async fn taken_up(admin: &slatedb::admin::Admin, compaction: &Compaction) -> std::result::Result<bool, slatedb::Error> {
    let deadline = tokio::time::Instant::now() + FULL_COMPACTION_ACCEPT_WAIT;
    loop {
        match admin
            .read_compaction(compaction.id(), None)
            .await?
            .map(|compaction| compaction.status())
        {
            Some(CompactionStatus::Failed) => return Ok(false),
            Some(CompactionStatus::Submitted) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Some(_) => return Ok(true),
            None => {
                let state = admin.read_compactor_state_view().await?;
                let manifest = state.manifest();
                let destination = compaction.spec().destination();
                let left = compaction.spec().sources().iter().any(|source| match source {
                    SourceId::SstView(id) => manifest.l0().iter().any(|view| view.id == *id),
                    SourceId::SortedRun(id) => {
                        Some(*id) != destination && manifest.compacted().iter().any(|run| run.id == *id)
                    }
                });
                return Ok(!left);
            }
        }
    }
}

/// SlateDB's disk cache of table objects under `disk_cache` (a directory
/// and its bound): reads that miss the block cache (queries of old traces,
/// retention reading the traces it deletes) are served from the node's disk
/// instead of a GET each. The tables the node writes go into it as they are
/// written (flushes and compactions), so its own recent data is never
/// fetched back. It holds copies: a damaged part fails its checksum and is
/// fetched again, and deleting the directory loses nothing.
fn disk_cache(disk_cache: Option<(PathBuf, usize)>) -> ObjectStoreCacheOptions {
    match disk_cache {
        Some((root_folder, bytes)) => ObjectStoreCacheOptions {
            root_folder: Some(root_folder),
            max_cache_size_bytes: Some(bytes),
            cache_on_flush: true,
            cache_on_compaction: true,
            ..ObjectStoreCacheOptions::default()
        },
        None => ObjectStoreCacheOptions::default(),
    }
}

/// SlateDB's in-memory caches, bounded as RocksDB's block cache is: its
/// defaults (512 MiB of blocks, 128 MiB of indexes and filters) showed as a
/// gigabyte of RSS under ingest. (moka caches need no closing.)
fn block_cache(block_cache_size: usize) -> Arc<dyn DbCache> {
    let moka = |bytes: usize| -> Arc<dyn DbCache> {
        Arc::new(MokaCache::new_with_opts(MokaCacheOptions {
            max_capacity: bytes as u64,
            time_to_live: None,
            time_to_idle: None,
        }))
    };
    Arc::new(
        SplitCache::new()
            .with_block_cache(Some(moka(block_cache_size)))
            .with_meta_cache(Some(moka(block_cache_size / 4)))
            .build(),
    )
}

/// The term-set merge, as SlateDB takes it.
fn merge_operator() -> Arc<dyn MergeOperator + Send + Sync> {
    Arc::new(TermSetUnion)
}

fn read_only() -> EngineError {
    EngineError {
        corruption: false,
        message: "the bucket is open to read only".into(),
    }
}

/// Runs `task` on the engine's runtime and waits for it from this thread
/// (any thread: the wait is a channel, not the runtime's `block_on`).
fn run<T: Send + 'static>(
    runtime: &tokio::runtime::Handle,
    task: impl Future<Output = T> + Send + 'static,
) -> std::result::Result<T, EngineError> {
    let (sender, answer) = std::sync::mpsc::sync_channel(1);
    runtime.spawn(async move {
        let _ = sender.send(task.await);
    });
    answer.recv().map_err(|_| EngineError {
        corruption: false,
        message: "the bucket engine's task ended without an answer".into(),
    })
}

/// [`slate_error`], noting in `fenced` an error that says another writer
/// fenced this one off.
fn note_fencing(fenced: &AtomicBool, error: slatedb::Error) -> EngineError {
    if matches!(error.kind(), slatedb::ErrorKind::Closed(slatedb::CloseReason::Fenced)) {
        fenced.store(true, Ordering::Relaxed);
    }
    slate_error(error)
}

fn slate_error(error: slatedb::Error) -> EngineError {
    EngineError {
        corruption: matches!(error.kind(), slatedb::ErrorKind::Data),
        message: error.to_string(),
    }
}

/// SlateDB's merge operator: [`term_set::union`].
struct TermSetUnion;

impl MergeOperator for TermSetUnion {
    fn merge(
        &self,
        _key: &Bytes,
        existing: Option<Bytes>,
        value: Bytes,
    ) -> std::result::Result<Bytes, MergeOperatorError> {
        Ok(Bytes::from(term_set::union(
            existing.as_deref(),
            std::iter::once(value.as_ref()),
        )))
    }

    fn merge_batch(
        &self,
        _key: &Bytes,
        existing: Option<Bytes>,
        operands: &[Bytes],
    ) -> std::result::Result<Bytes, MergeOperatorError> {
        Ok(Bytes::from(term_set::union(
            existing.as_deref(),
            operands.iter().map(|operand| operand.as_ref()),
        )))
    }
}

/// What reads go to: the database's latest state, or a snapshot.
#[derive(Clone)]
enum Reader {
    Db(Arc<Db>),
    Snapshot(Arc<DbSnapshot>),
    ReadOnly(Arc<DbReader>),
}

impl Reader {
    async fn get(&self, key: Vec<u8>) -> std::result::Result<Option<Bytes>, slatedb::Error> {
        let options = ReadOptions::default();
        match self {
            Reader::Db(db) => db.get_with_options(key, &options).await,
            Reader::Snapshot(snapshot) => snapshot.get_with_options(key, &options).await,
            Reader::ReadOnly(reader) => reader.get_with_options(key, &options).await,
        }
    }

    async fn scan(
        &self,
        range: (Bound<Vec<u8>>, Bound<Vec<u8>>),
        order: IterationOrder,
        cache: bool,
    ) -> std::result::Result<DbIterator, slatedb::Error> {
        let options = ScanOptions {
            order,
            cache_blocks: cache,
            ..ScanOptions::default()
        };
        match self {
            Reader::Db(db) => db.scan_with_options(range, &options).await,
            Reader::Snapshot(snapshot) => snapshot.scan_with_options(range, &options).await,
            Reader::ReadOnly(reader) => reader.scan_with_options(range, &options).await,
        }
    }
}

/// Reads through a [`Reader`] on the engine's runtime.
struct SlateView<'e> {
    runtime: &'e tokio::runtime::Handle,
    reader: Reader,
}

impl EngineRead for SlateView<'_> {
    fn get(&self, key: &[u8]) -> std::result::Result<Option<Vec<u8>>, EngineError> {
        let (reader, key) = (self.reader.clone(), key.to_vec());
        run(self.runtime, async move { reader.get(key).await })?
            .map(|value| value.map(|value| value.to_vec()))
            .map_err(slate_error)
    }

    fn iter(&self, range: KeyRange) -> Box<dyn EngineIter + '_> {
        Box::new(SlateIter::new(self.runtime, self.reader.clone(), range))
    }
}

impl EngineRead for SlateEngine {
    fn get(&self, key: &[u8]) -> std::result::Result<Option<Vec<u8>>, EngineError> {
        self.view().get(key)
    }

    fn iter(&self, range: KeyRange) -> Box<dyn EngineIter + '_> {
        Box::new(SlateIter::new(&self.handle, self.reader(), range))
    }
}

impl SlateEngine {
    fn view(&self) -> SlateView<'_> {
        SlateView {
            runtime: &self.handle,
            reader: self.reader(),
        }
    }
}

/// A live SlateDB scan.
struct Scan {
    iterator: DbIterator,
    /// The scan has returned its last entry.
    done: bool,
}

/// A cursor over SlateDB scans: entries are fetched in chunks, and a change
/// of direction or a seek starts a new scan.
struct SlateIter<'e> {
    runtime: &'e tokio::runtime::Handle,
    reader: Reader,
    range: KeyRange,
    scan: Option<Scan>,
    /// The way the last scan ran.
    order: IterationOrder,
    /// Entries fetched and not yet reached, in the scan's order.
    buffer: VecDeque<(Bytes, Bytes)>,
    current: Option<(Bytes, Bytes)>,
    chunk: usize,
    error: Option<EngineError>,
}

impl<'e> SlateIter<'e> {
    /// An unpositioned cursor over `range` of what `reader` reads.
    fn new(runtime: &'e tokio::runtime::Handle, reader: Reader, range: KeyRange) -> SlateIter<'e> {
        SlateIter {
            runtime,
            reader,
            range,
            scan: None,
            order: IterationOrder::Ascending,
            buffer: VecDeque::new(),
            current: None,
            chunk: FIRST_CHUNK,
            error: None,
        }
    }

    /// To the entry after the current one in `order`: the scan's next one
    /// when it runs that way, else a new scan from the current key.
    fn step(&mut self, order: IterationOrder) {
        let Some((key, _)) = self.current.take() else { return };
        let ascending = matches!(order, IterationOrder::Ascending);
        if ascending == matches!(self.order, IterationOrder::Ascending) {
            return self.advance();
        }
        let past = Bound::Excluded(key.to_vec());
        if ascending {
            self.start(past, Bound::Unbounded, order);
        } else {
            self.start(Bound::Unbounded, past, order);
        }
    }

    /// Starts a scan of `[start, end)`-style bounds within the range, in
    /// `order`, and moves to its first entry.
    fn start(&mut self, start: Bound<Vec<u8>>, end: Bound<Vec<u8>>, order: IterationOrder) {
        self.scan = None;
        self.order = order;
        self.buffer.clear();
        self.current = None;
        self.error = None;
        // A backward seek wants the one entry at or before its key (the
        // record holding a first-seen entry, a trace's newest event); more
        // would walk on over whatever lies before it, where retention leaves
        // deleted keys until compaction drops them: fetching 16 made each
        // such seek walk every deletion of the oldest traces.
        self.chunk = match order {
            IterationOrder::Ascending => FIRST_CHUNK,
            IterationOrder::Descending => 1,
        };
        let (start, end) = (self.clamp_start(start), self.clamp_end(end));
        if is_empty(&start, &end) {
            return;
        }
        let reader = self.reader.clone();
        let cache = !self.range.once;
        match run(
            self.runtime,
            async move { reader.scan((start, end), order, cache).await },
        ) {
            Ok(Ok(iterator)) => self.scan = Some(Scan { iterator, done: false }),
            Ok(Err(error)) => self.error = Some(slate_error(error)),
            Err(error) => self.error = Some(error),
        }
        self.advance();
    }

    fn clamp_start(&self, start: Bound<Vec<u8>>) -> Bound<Vec<u8>> {
        let lower = self.range.lower.clone();
        match start {
            Bound::Included(key) | Bound::Excluded(key) if key < lower => Bound::Included(lower),
            Bound::Unbounded => Bound::Included(lower),
            other => other,
        }
    }

    fn clamp_end(&self, end: Bound<Vec<u8>>) -> Bound<Vec<u8>> {
        let Some(upper) = self.range.upper.clone() else {
            return end;
        };
        match end {
            Bound::Included(key) | Bound::Excluded(key) if key >= upper => Bound::Excluded(upper),
            Bound::Unbounded => Bound::Excluded(upper),
            other => other,
        }
    }

    /// Moves to the scan's next entry, fetching a chunk when none is buffered.
    fn advance(&mut self) {
        if self.buffer.is_empty() {
            self.fetch();
        }
        self.current = self.buffer.pop_front();
    }

    fn fetch(&mut self) {
        let Some(mut scan) = self.scan.take() else { return };
        if scan.done {
            self.scan = Some(scan);
            return;
        }
        let chunk = self.chunk;
        self.chunk = (self.chunk * 2).min(MAX_CHUNK);
        let fetched = run(self.runtime, async move {
            let mut entries = Vec::with_capacity(chunk);
            let mut failed = None;
            while entries.len() < chunk {
                match scan.iterator.next().await {
                    Ok(Some(entry)) => entries.push((entry.key, entry.value)),
                    Ok(None) => {
                        scan.done = true;
                        break;
                    }
                    Err(error) => {
                        failed = Some(error);
                        break;
                    }
                }
            }
            (scan, entries, failed)
        });
        match fetched {
            Ok((scan, entries, failed)) => {
                self.buffer.extend(entries);
                if let Some(error) = failed {
                    self.error = Some(slate_error(error));
                } else {
                    self.scan = Some(scan);
                }
            }
            Err(error) => self.error = Some(error),
        }
    }
}

fn is_empty(start: &Bound<Vec<u8>>, end: &Bound<Vec<u8>>) -> bool {
    match (start, end) {
        (Bound::Included(start), Bound::Excluded(end)) => start >= end,
        (Bound::Included(start), Bound::Included(end)) => start > end,
        (Bound::Excluded(start), Bound::Excluded(end) | Bound::Included(end)) => start >= end,
        _ => false,
    }
}

impl EngineIter for SlateIter<'_> {
    fn seek_to_first(&mut self) {
        self.start(Bound::Unbounded, Bound::Unbounded, IterationOrder::Ascending);
    }

    fn seek_to_last(&mut self) {
        self.start(Bound::Unbounded, Bound::Unbounded, IterationOrder::Descending);
    }

    fn seek(&mut self, key: &[u8]) {
        self.start(
            Bound::Included(key.to_vec()),
            Bound::Unbounded,
            IterationOrder::Ascending,
        );
    }

    fn seek_for_prev(&mut self, key: &[u8]) {
        self.start(
            Bound::Unbounded,
            Bound::Included(key.to_vec()),
            IterationOrder::Descending,
        );
    }

    fn next(&mut self) {
        self.step(IterationOrder::Ascending);
    }

    fn prev(&mut self) {
        self.step(IterationOrder::Descending);
    }

    fn item(&self) -> Option<(&[u8], &[u8])> {
        self.current.as_ref().map(|(key, value)| (key.as_ref(), value.as_ref()))
    }

    fn status(&self) -> std::result::Result<(), EngineError> {
        match &self.error {
            Some(error) => Err(error.clone()),
            None => Ok(()),
        }
    }
}

/// A batch for SlateDB; range deletions are resolved to keys when written.
struct SlateBatch<'e> {
    engine: &'e SlateEngine,
    batch: slatedb::WriteBatch,
    ranges: Vec<(Vec<u8>, Vec<u8>)>,
}

impl EngineBatch for SlateBatch<'_> {
    fn put(&mut self, key: &[u8], value: &[u8]) {
        self.batch.put(key, value);
    }

    fn merge(&mut self, key: &[u8], value: &[u8]) {
        self.batch.merge(key, value);
    }

    fn delete(&mut self, key: &[u8]) {
        self.batch.delete(key);
    }

    fn delete_range(&mut self, from: &[u8], to: &[u8]) {
        self.ranges.push((from.to_vec(), to.to_vec()));
    }

    fn write(self: Box<Self>, _sync: bool) -> std::result::Result<Written, EngineError> {
        let SlateBatch { engine, batch, ranges } = *self;
        let Database::Writer(db) = engine.db.clone() else {
            return Err(read_only());
        };
        let fenced = engine.fenced.clone();
        let handle = run(&engine.handle, async move {
            let mut batch = batch;
            for (from, to) in ranges {
                let mut keys = db.scan(from..to).await?;
                while let Some(entry) = keys.next().await? {
                    batch.delete(entry.key);
                }
            }
            if batch.is_empty() {
                return Ok(None);
            }
            db.write(batch).await.map(Some)
        })?
        .map_err(|error| note_fencing(&fenced, error))?;
        let Some(handle) = handle else {
            return Ok(Written::Durable);
        };
        engine.flush_wanted.notify_one();
        let runtime = engine.handle.clone();
        let trouble = engine.trouble.clone();
        let fenced = engine.fenced.clone();
        Ok(Written::Pending(Box::new(move |then: OnDurable| {
            runtime.spawn(async move {
                let durable = match tokio::time::timeout(DURABLE_TIMEOUT, handle.await_durable()).await {
                    Ok(result) => result.map_err(|error| note_fencing(&fenced, error)),
                    Err(_) => Err(EngineError {
                        corruption: false,
                        message: format!(
                            "the bucket did not confirm the write within {} s; it may still be stored",
                            DURABLE_TIMEOUT.as_secs()
                        ),
                    }),
                };
                if let Ok(mut trouble) = trouble.lock() {
                    *trouble = durable.as_ref().err().map(|error| error.message.clone());
                }
                then(durable);
            });
        })))
    }
}

impl Engine for SlateEngine {
    fn snapshot(&self) -> Box<dyn EngineRead + '_> {
        let Database::Writer(db) = &self.db else {
            // A reader holds one checkpoint while it is open: its own snapshot.
            return Box::new(self.view());
        };
        match db.snapshot() {
            Ok(snapshot) => Box::new(SlateView {
                runtime: &self.handle,
                reader: Reader::Snapshot(snapshot),
            }),
            // A closed database: reads through it fail with its error.
            Err(_) => Box::new(self.view()),
        }
    }

    fn batch(&self, _capacity: usize) -> std::result::Result<Box<dyn EngineBatch + '_>, EngineError> {
        if matches!(self.db, Database::Reader(_)) {
            return Err(read_only());
        }
        Ok(Box::new(SlateBatch {
            engine: self,
            batch: slatedb::WriteBatch::new(),
            ranges: Vec::new(),
        }))
    }

    fn is_local(&self) -> bool {
        // Every commit waits for a PUT to the bucket, and a block missing
        // from both caches is fetched from it.
        false
    }

    fn writes_slowing(&self) -> bool {
        false
    }

    fn remote_bytes(&self) -> Option<std::result::Result<u64, EngineError>> {
        let (store, prefix) = (self.object_store.clone(), self.prefix.clone());
        let listed = run(&self.handle, async move {
            // Directory by directory (the listing SlateDB's prefixes need).
            let mut total = 0u64;
            let mut pending = vec![slatedb::object_store::path::Path::from(prefix)];
            while let Some(directory) = pending.pop() {
                let listing = store.list_with_delimiter(Some(&directory)).await?;
                total += listing.objects.iter().map(|object| object.size).sum::<u64>();
                pending.extend(listing.common_prefixes);
            }
            Ok::<u64, slatedb::object_store::Error>(total)
        });
        Some(listed.and_then(|listed| {
            listed.map_err(|error| EngineError {
                corruption: false,
                message: error.to_string(),
            })
        }))
    }

    fn fenced(&self) -> bool {
        self.fenced.load(Ordering::Relaxed)
    }

    fn trouble(&self) -> Option<String> {
        self.trouble.lock().ok().and_then(|trouble| trouble.clone())
    }

    fn figures(&self) -> EngineFigures {
        let manifest = match &self.db {
            Database::Writer(db) => db.manifest(),
            Database::Reader(reader) => reader.manifest(),
        };
        EngineFigures {
            level0_files: manifest.l0().len() as u64,
            table_bytes: manifest.l0().iter().map(|view| view.estimate_size()).sum::<u64>()
                + manifest.compacted().iter().map(|run| run.estimate_size()).sum::<u64>(),
            bucket: Some(self.counters.figures()),
            ..EngineFigures::default()
        }
    }

    fn estimated_keys(&self) -> u64 {
        0
    }

    fn flush(&self) -> std::result::Result<(), EngineError> {
        let Database::Writer(db) = self.db.clone() else {
            return Ok(());
        };
        run(&self.handle, async move { db.flush().await })?.map_err(slate_error)
    }

    fn compact_all(&self) {
        let Database::Writer(db) = self.db.clone() else {
            return;
        };
        let (object_store, prefix) = (self.object_store.clone(), self.prefix.clone());
        match run(&self.handle, compact_everything(db, object_store, prefix)) {
            Ok(Ok(Some(tables))) => tracing::info!(tables, "submitted a compaction of every table in the bucket"),
            Ok(Ok(None)) => tracing::info!("compacting everything: fewer than two tables, nothing to compact"),
            Ok(Err(error)) => tracing::warn!(error, "a compaction of every table in the bucket was not submitted"),
            Err(error) => {
                tracing::warn!(message = %error.message, "a compaction of every table in the bucket was not submitted")
            }
        }
    }

    fn checkpoint(&self, _dir: &Path) -> std::result::Result<(), EngineError> {
        Err(EngineError {
            corruption: false,
            message: "a store in a bucket has no local checkpoints: the bucket holds the data (use the bucket's own \
                      versioning or replication for backups)"
                .into(),
        })
    }

    #[cfg(feature = "fault-injection")]
    fn event_files(&self) -> std::result::Result<Vec<std::path::PathBuf>, EngineError> {
        Ok(Vec::new())
    }
}

#[cfg(test)]
#[path = "slate_tests.rs"]
mod tests;
