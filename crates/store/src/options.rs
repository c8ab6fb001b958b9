//! [`StoreOptions`]: how a store is opened.

use std::sync::Arc;

use crate::tso::{Clock, SystemClock};

/// How a read-write store is opened.
#[derive(Clone)]
pub struct StoreOptions {
    /// Also fsync the write-ahead log before a commit returns, so that
    /// acknowledged events survive power loss and not only a process crash.
    /// Default `false`: a commit returns once the WAL write reached the OS,
    /// which survives `kill -9` of the process at any instant.
    pub sync: bool,
    /// RocksDB block cache size in bytes (default 64 MiB). Index and filter
    /// blocks are charged to it too, so it bounds read-side memory.
    pub block_cache_size: usize,
    /// The events' RocksDB memtables in bytes (default 64 MiB, split over two
    /// write buffers); the other keys' memtables get half as much again, and
    /// the write-ahead log is bounded by one and a half times this. Together
    /// with the block cache this bounds memory.
    pub write_buffer_size: usize,
    /// Refuse appends while the data directory's filesystem has fewer bytes
    /// free than this (default 64 MiB; 0 turns the check off). RocksDB treats
    /// running out of space mid-write as sticky until the store is reopened;
    /// refusing before that keeps deletes working and lets ingest resume by
    /// itself once space returns.
    pub min_free_disk_bytes: u64,
    /// Bound on the data directory's size in bytes (default 0: none). With a
    /// bound the store lays its files out so deleted traces' space returns a
    /// little at a time (leveled compaction with files and memtables sized to
    /// the bound; docs/design.md, "Retention and the disk bound"), and
    /// [`crate::Store::trim_to_disk_bound`] deletes the oldest traces once the
    /// directory grows past it. Appends are never refused because of it.
    /// On a bucket it bounds the node's disk cache of the bucket's tables
    /// instead (90% of it; 16 GiB without a bound), and deletes nothing.
    pub max_disk_bytes: u64,
    /// Tag keys whose values are recorded for autocomplete
    /// ([`crate::Store::span_tag_values`]); default none.
    pub autocomplete_keys: Vec<String>,
    /// The clock the TSO allocator reads.
    pub clock: Arc<dyn Clock>,
    /// A small append (at most 4 events) that finds the store idle for this
    /// long commits on the caller's thread instead of the writer thread's
    /// (docs/design.md, "Writes"); default 150 µs, `Duration::MAX` never.
    /// Ignored with `sync`.
    pub inline_commit_after_idle: std::time::Duration,
    /// How many steps nicer than the opening thread the writer thread runs
    /// ([`crate::lower_this_thread`]; default 0, the same): above 0, reads
    /// get the CPU first when both want it.
    pub writer_nice: i32,
    /// Keep the data in this object-storage bucket instead of the data
    /// directory (default none): `s3://bucket/prefix` (endpoint, region and
    /// credentials from the standard `AWS_*` variables), `gs://`, `az://`,
    /// `file:///path`, or `memory://` (tests). The data directory then holds
    /// nothing the store needs to survive. docs/operations.md, "Keeping data
    /// in a bucket".
    pub bucket: Option<String>,
    /// With a bucket: how often the engine writes its write-ahead log to the
    /// bucket (default 20 ms). An acknowledgement waits for that write, so
    /// this is most of its latency; each write is one PUT request.
    pub bucket_flush_interval: std::time::Duration,
    /// With a bucket: this node's name in the cluster (default the host
    /// name). Its database is `nodes/<node-id>/` under the bucket's prefix,
    /// and reads cover every node's found there. 1 to 64 of `A-Z a-z 0-9
    /// . _ -`, not starting with `.`; two processes with one ID fence each
    /// other off (the older one's writes fail).
    pub node_id: String,
    /// With a bucket: adopt a node whose lease this node has not seen
    /// renewed for this long (its database is then written by this node,
    /// so its data keeps expiring); `None`, never. Default 10 minutes.
    pub adopt_after: Option<std::time::Duration>,
}

/// The longest node ID, in bytes.
pub const MAX_NODE_ID_LEN: usize = 64;

/// Whether `node_id` can name a node ([`StoreOptions::node_id`]); why not.
pub fn check_node_id(node_id: &str) -> std::result::Result<(), String> {
    if node_id.is_empty() || node_id.len() > MAX_NODE_ID_LEN {
        return Err(format!("must be 1 to {MAX_NODE_ID_LEN} characters"));
    }
    if node_id.starts_with('.') {
        return Err("must not start with '.'".into());
    }
    match node_id
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        Some(bad) => Err(format!("{bad:?} is not allowed: use A-Z a-z 0-9 . _ -")),
        None => Ok(()),
    }
}

/// The default node ID: the host name (the kernel's, else `HOSTNAME`), cut
/// to what a node ID allows, else `node`.
pub fn default_node_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_default();
    let id: String = host
        .trim()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '-'
            }
        })
        .take(MAX_NODE_ID_LEN)
        .collect();
    let id = id.trim_start_matches('.').to_owned();
    if id.is_empty() { "node".to_owned() } else { id }
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            sync: false,
            block_cache_size: 64 << 20,
            write_buffer_size: 64 << 20,
            min_free_disk_bytes: 64 << 20,
            max_disk_bytes: 0,
            autocomplete_keys: Vec::new(),
            clock: Arc::new(SystemClock),
            inline_commit_after_idle: std::time::Duration::from_micros(150),
            writer_nice: 0,
            bucket: None,
            bucket_flush_interval: std::time::Duration::from_millis(20),
            node_id: default_node_id(),
            adopt_after: Some(std::time::Duration::from_secs(600)),
        }
    }
}

impl std::fmt::Debug for StoreOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreOptions")
            .field("sync", &self.sync)
            .field("block_cache_size", &self.block_cache_size)
            .field("write_buffer_size", &self.write_buffer_size)
            .field("min_free_disk_bytes", &self.min_free_disk_bytes)
            .field("max_disk_bytes", &self.max_disk_bytes)
            .field("inline_commit_after_idle", &self.inline_commit_after_idle)
            .field("writer_nice", &self.writer_nice)
            .field("autocomplete_keys", &self.autocomplete_keys)
            .field("bucket", &self.bucket)
            .field("bucket_flush_interval", &self.bucket_flush_interval)
            .field("node_id", &self.node_id)
            .field("adopt_after", &self.adopt_after)
            .finish_non_exhaustive()
    }
}
