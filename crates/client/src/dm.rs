//! The DM tracing client: DM-style events to tracekeep, batched and non-blocking.
//!
//! ```no_run
//! # async fn example() -> Result<(), tracekeep_client::dm::ClientError> {
//! use tracekeep_client::dm::{DmTracer, DmTracerConfig};
//! use tracekeep_proto::pb;
//!
//! let tracer = DmTracer::start(DmTracerConfig::new("http://127.0.0.1:8263", "mysql-replica-01"))?;
//! let trace_id = tracer.next_trace_id(); // "mysql-replica-01.1"
//! tracer.collect_job(&trace_id, "", pb::SyncerJobEvent { sql: "INSERT ...".into(), ..Default::default() }, None);
//! tracer.flush().await?;
//! tracer.shutdown().await;
//! # Ok(())
//! # }
//! ```
//!
//! - Collecting never blocks: events go into a bounded queue; when it is full
//!   the event is dropped, counted ([`ClientStats::dropped`]) and logged.
//! - A background worker uploads each kind in batches: when a batch is full,
//!   every `flush_interval`, on [`DmTracer::flush`], and at shutdown.
//! - An upload that fails in transport is retried with exponential backoff
//!   (the channel reconnects by itself), keeping order; one the server refuses
//!   (`result = false`) is dropped and counted, since it would fail again.
//! - [`DmTracer::tso`] is the local clock plus the offset to the server's TSO,
//!   measured with `GetTSO` (halfway through the round trip) and resynced every
//!   `tso_sync_interval`; it never goes backwards.

mod tso;
mod worker;

use std::panic::Location;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tonic::transport::Channel;
use tracekeep_proto::pb::tracer_client::TracerClient;
use tracekeep_proto::{TraceEvent, pb};

pub use tso::TsoClock;

/// How the client connects, batches and syncs.
#[derive(Clone, Debug)]
pub struct DmTracerConfig {
    /// The server, e.g. `http://127.0.0.1:8263`.
    pub endpoint: String,
    /// The source name trace IDs start with (`source.N`).
    pub source: String,
    /// Upload a kind's batch once it holds this many events.
    pub batch_size: usize,
    /// Upload whatever is batched at least this often.
    pub flush_interval: Duration,
    /// Events queued before collecting starts to drop.
    pub queue_capacity: usize,
    /// How often the TSO offset is measured again.
    pub tso_sync_interval: Duration,
    /// Fill `argsChecksum` with a CRC32 of the job's arguments.
    pub checksum: bool,
    /// First retry delay after a failed upload; doubles up to `backoff_max`.
    pub backoff_min: Duration,
    /// Longest retry delay.
    pub backoff_max: Duration,
    /// How long `shutdown` may spend uploading what is still queued.
    pub shutdown_timeout: Duration,
}

impl DmTracerConfig {
    /// Defaults for `endpoint` and `source`.
    pub fn new(endpoint: impl Into<String>, source: impl Into<String>) -> DmTracerConfig {
        DmTracerConfig {
            endpoint: endpoint.into(),
            source: source.into(),
            batch_size: 100,
            flush_interval: Duration::from_millis(200),
            queue_capacity: 10_000,
            tso_sync_interval: Duration::from_secs(30),
            checksum: false,
            backoff_min: Duration::from_millis(50),
            backoff_max: Duration::from_secs(5),
            shutdown_timeout: Duration::from_secs(5),
        }
    }
}

/// A client operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The endpoint is not a valid URI.
    #[error("invalid endpoint {endpoint:?}: {reason}")]
    InvalidEndpoint {
        /// The endpoint given.
        endpoint: String,
        /// Why it is invalid.
        reason: String,
    },
    /// The RPC failed in transport (server absent, connection lost...).
    #[error("RPC failed: {0}")]
    Rpc(#[from] tonic::Status),
    /// The server answered `result = false`.
    #[error("the server refused the request: {0}")]
    Refused(String),
    /// The tracer was shut down.
    #[error("the tracer is shut down")]
    Closed,
}

/// Counters of what the client did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClientStats {
    /// Events accepted into the queue.
    pub queued: u64,
    /// Events the server acknowledged.
    pub sent: u64,
    /// Events dropped because the queue was full.
    pub dropped: u64,
    /// Events the server refused (`result = false`).
    pub refused: u64,
    /// Upload attempts that failed in transport (each retried).
    pub upload_failures: u64,
}

#[derive(Debug, Default)]
struct Counters {
    queued: AtomicU64,
    sent: AtomicU64,
    dropped: AtomicU64,
    refused: AtomicU64,
    upload_failures: AtomicU64,
}

/// What the worker receives, in order.
// Events are nearly every item; boxing them would cost an allocation each.
#[allow(clippy::large_enum_variant)]
enum Item {
    Event(TraceEvent),
    Flush(oneshot::Sender<()>),
}

/// A DM tracing client. Cheap to clone; every clone feeds the same worker.
#[derive(Clone)]
pub struct DmTracer {
    config: Arc<DmTracerConfig>,
    rpc: TracerClient<Channel>,
    items: mpsc::Sender<Item>,
    counters: Arc<Counters>,
    next_id: Arc<AtomicU64>,
    tso: Arc<TsoClock>,
    tasks: Arc<std::sync::Mutex<Vec<JoinHandle<()>>>>,
}

impl std::fmt::Debug for DmTracer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DmTracer")
            .field("endpoint", &self.config.endpoint)
            .field("source", &self.config.source)
            .finish_non_exhaustive()
    }
}

impl DmTracer {
    /// Starts the client on the current tokio runtime. Connecting is lazy: an
    /// absent server is not an error here, events queue until it appears.
    pub fn start(config: DmTracerConfig) -> Result<DmTracer, ClientError> {
        let rpc = crate::upload::connect_lazy(&config.endpoint)?;
        let (items, receiver) = mpsc::channel(config.queue_capacity.max(1));
        let counters = Arc::new(Counters::default());
        let tso = Arc::new(TsoClock::default());
        let config = Arc::new(config);
        let worker = tokio::spawn(worker::run(config.clone(), rpc.clone(), receiver, counters.clone()));
        let syncer = tokio::spawn(tso::keep_synced(config.clone(), rpc.clone(), tso.clone()));
        Ok(DmTracer {
            config,
            rpc,
            items,
            counters,
            next_id: Arc::new(AtomicU64::new(1)),
            tso,
            tasks: Arc::new(std::sync::Mutex::new(vec![worker, syncer])),
        })
    }

    /// A new trace ID: `source.N`, N counting from 1 in this client.
    pub fn next_trace_id(&self) -> String {
        let n = self.next_id.fetch_add(1, Ordering::Relaxed);
        format!("{}.{n}", self.config.source)
    }

    /// Now on the server's timeline (local clock plus the measured offset), in ns.
    pub fn tso(&self) -> i64 {
        self.tso.now()
    }

    /// The TSO clock, e.g. to sync it now with [`TsoClock::sync`].
    pub fn tso_clock(&self) -> &TsoClock {
        &self.tso
    }

    /// Measures the TSO offset now (it is also done every `tso_sync_interval`).
    pub async fn sync_tso(&self) -> Result<(), ClientError> {
        self.tso.sync(&mut self.rpc.clone()).await
    }

    #[track_caller]
    fn base(&self, trace_id: &str, group_id: &str, kind: pb::TraceType) -> pb::BaseEvent {
        let caller = Location::caller();
        pb::BaseEvent {
            filename: caller.file().to_owned(),
            line: i32::try_from(caller.line()).unwrap_or(i32::MAX),
            tso: self.tso(),
            trace_id: trace_id.to_owned(),
            group_id: group_id.to_owned(),
            r#type: kind as i32,
        }
    }

    fn enqueue(&self, event: TraceEvent) -> bool {
        match self.items.try_send(Item::Event(event)) {
            Ok(()) => {
                self.counters.queued.fetch_add(1, Ordering::Relaxed);
                true
            }
            Err(_) => {
                crate::upload::count_drop(&self.counters.dropped, "trace event");
                false
            }
        }
    }

    /// Queues a binlog event; its `base` (file:line of the caller, TSO, trace
    /// and group IDs) is filled in. Returns false if it was dropped.
    #[track_caller]
    pub fn collect_binlog(&self, trace_id: &str, group_id: &str, mut event: pb::SyncerBinlogEvent) -> bool {
        event.base = Some(self.base(trace_id, group_id, pb::TraceType::BinlogEvent));
        self.enqueue(TraceEvent::Binlog(event))
    }

    /// Queues a job event; its `base` is filled in, and with `checksum` on,
    /// `argsChecksum` becomes [`args_checksum`] of `args`. Returns false if dropped.
    #[track_caller]
    pub fn collect_job(
        &self,
        trace_id: &str,
        group_id: &str,
        mut event: pb::SyncerJobEvent,
        args: Option<&[&[u8]]>,
    ) -> bool {
        event.base = Some(self.base(trace_id, group_id, pb::TraceType::JobEvent));
        if self.config.checksum
            && let Some(args) = args
        {
            event.args_checksum = args_checksum(args);
        }
        self.enqueue(TraceEvent::Job(event))
    }

    /// Uploads everything collected before this call; waits until the server
    /// acknowledged it (or gave up on it after refusing it).
    pub async fn flush(&self) -> Result<(), ClientError> {
        let (done, acknowledged) = oneshot::channel();
        self.items
            .send(Item::Flush(done))
            .await
            .map_err(|_| ClientError::Closed)?;
        acknowledged.await.map_err(|_| ClientError::Closed)
    }

    /// Uploads a batch of job events directly, bypassing the queue (for tools
    /// and benchmarks that measure each upload).
    pub async fn upload_jobs(&self, events: Vec<pb::SyncerJobEvent>) -> Result<(), ClientError> {
        let reply = self
            .rpc
            .clone()
            .upload_syncer_job_event(pb::UploadSyncerJobEventRequest { events })
            .await?
            .into_inner();
        if reply.result {
            Ok(())
        } else {
            Err(ClientError::Refused(reply.msg))
        }
    }

    /// What the client did so far.
    pub fn stats(&self) -> ClientStats {
        ClientStats {
            queued: self.counters.queued.load(Ordering::Relaxed),
            sent: self.counters.sent.load(Ordering::Relaxed),
            dropped: self.counters.dropped.load(Ordering::Relaxed),
            refused: self.counters.refused.load(Ordering::Relaxed),
            upload_failures: self.counters.upload_failures.load(Ordering::Relaxed),
        }
    }

    /// Flushes what is queued (within `shutdown_timeout`) and stops the
    /// background tasks. Events collected afterwards are dropped.
    pub async fn shutdown(self) {
        let timeout = self.config.shutdown_timeout;
        if tokio::time::timeout(timeout, self.flush()).await.is_err() {
            tracing::warn!(?timeout, "shutdown: queued events could not be uploaded in time");
        }
        let tasks = match self.tasks.lock() {
            Ok(mut tasks) => std::mem::take(&mut *tasks),
            Err(poisoned) => std::mem::take(&mut *poisoned.into_inner()),
        };
        for task in tasks {
            task.abort();
        }
    }
}

/// DM's `argsChecksum`: CRC32 (IEEE) over the arguments in order, each
/// followed by a 0 byte so that `["ab", "c"]` and `["a", "bc"]` differ.
pub fn args_checksum(args: &[&[u8]]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    for arg in args {
        hasher.update(arg);
        hasher.update(&[0]);
    }
    hasher.finalize()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn args_checksum_separates_arguments() {
        assert_ne!(args_checksum(&[b"ab", b"c"]), args_checksum(&[b"a", b"bc"]));
        assert_eq!(args_checksum(&[b"x"]), args_checksum(&[b"x"]));
    }
}
