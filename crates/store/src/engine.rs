//! The seam between the keyspace logic and the storage engine under it.
//!
//! Everything above this module (keys, records, the writer's group commit,
//! first-seen order, the span index, TSO, retention, verify) speaks to an
//! ordered key-value engine through these traits and never names one. An
//! engine is one module below this one ([`rocks`]: embedded RocksDB, the
//! default); what only one engine has (RocksDB's column families, prefix
//! bloom filters, compaction settings, checkpoints) stays inside it.
//!
//! The contract every engine keeps:
//! - keys and values are byte strings, keys ordered bytewise;
//! - an [`EngineBatch`] is applied whole or not at all, and once
//!   [`EngineBatch::write`] returns `Ok` it survives the process being killed
//!   (with `sync`, power loss too);
//! - merges of a key are combined by [`crate::term_set::union`], the one merge
//!   the keyspace uses, whatever order the engine applies them in;
//! - a snapshot sees every write that returned before it was taken and none
//!   after.

pub(crate) mod bucket;
pub(crate) mod rocks;
pub(crate) mod slate;

use std::path::Path;

pub(crate) use crate::error::EngineError;

/// The engine's own figures for a store at one moment (RocksDB's names).
/// A figure the engine does not report reads as 0.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EngineFigures {
    /// Bytes in the memtables (not yet in table files).
    pub memtable_bytes: u64,
    /// Bytes the block cache holds (data, index and filter blocks).
    pub block_cache_bytes: u64,
    /// RocksDB's estimate of the bytes compaction still has to rewrite.
    pub pending_compaction_bytes: u64,
    /// Compactions running now.
    pub running_compactions: u64,
    /// Table files in level 0 (each one a query may have to look into).
    pub level0_files: u64,
    /// Bytes of the tables reads go to now: RocksDB's live table files; on
    /// a bucket the tables the manifest lists (objects that compaction
    /// replaced and the collector has not yet deleted are not counted).
    pub table_bytes: u64,
    /// Writes are stopped now (too many L0 files or pending bytes).
    pub write_stopped: bool,
    /// Times writes were slowed down since the store opened.
    pub write_delays: u64,
    /// Times writes were stopped since the store opened.
    pub write_stops: u64,
    /// Milliseconds spent compacting since the store opened (the sum of
    /// every compaction job's duration; jobs run in parallel, so it can grow
    /// faster than the clock).
    pub compaction_millis: u64,
    /// RocksDB's estimate of the keys stored (every record: events, index
    /// entries, metadata); a total for progress reports, not a count.
    pub estimated_keys: u64,
    /// What the store asked of its bucket since it opened (`None` without one).
    pub bucket: Option<BucketFigures>,
}

/// Requests a store made of its bucket since it opened, and what they moved.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BucketFigures {
    /// Object reads (whole objects and ranges).
    pub gets: u64,
    /// Object writes (the engine's log objects, tables and manifests).
    pub puts: u64,
    /// Listings.
    pub lists: u64,
    /// Deletions (the engine's garbage collection).
    pub deletes: u64,
    /// Copies, renames and multipart uploads.
    pub others: u64,
    /// Requests that failed (after the client's own retries); a missing
    /// object or a put-if-absent conflict, which the engine expects, is not
    /// a failure.
    pub errors: u64,
    /// Bytes read from the bucket.
    pub bytes_read: u64,
    /// Bytes written to the bucket.
    pub bytes_written: u64,
    /// Milliseconds requests took, summed (requests overlap, so it can grow
    /// faster than the clock).
    pub request_millis: u64,
}

/// What a scan may visit: keys in `[lower, upper)`.
///
/// A range lies within the keys of one tag (its first byte), or entirely
/// outside the event keys (`keys::TAG_EVENT`): engines may keep the events
/// apart from the rest, as the RocksDB engine does.
#[derive(Clone, Debug, Default)]
pub(crate) struct KeyRange {
    /// The first key the scan may visit (empty: the first there is).
    pub lower: Vec<u8>,
    /// The first key past the range (`None`: no end).
    pub upper: Option<Vec<u8>>,
    /// Every key the scan visits starts with one trace's event prefix
    /// (`keys::event_key_prefix` of `lower`): an engine may skip whole files
    /// that hold no key of it (RocksDB's prefix bloom filters).
    pub one_trace: bool,
    /// A one-off pass over much data: an engine should not let it push the
    /// blocks that serve queries out of its cache.
    pub once: bool,
}

impl KeyRange {
    /// Keys from `lower` up to, not including, `upper`.
    pub(crate) fn between(lower: impl Into<Vec<u8>>, upper: impl Into<Vec<u8>>) -> KeyRange {
        KeyRange {
            lower: lower.into(),
            upper: Some(upper.into()),
            ..KeyRange::default()
        }
    }

    /// Keys from `lower` on, without end.
    pub(crate) fn from(lower: impl Into<Vec<u8>>) -> KeyRange {
        KeyRange {
            lower: lower.into(),
            upper: None,
            ..KeyRange::default()
        }
    }

    /// Every key that starts with `prefix`.
    pub(crate) fn prefix(prefix: &[u8]) -> KeyRange {
        KeyRange::between(prefix, crate::keys::prefix_end(prefix))
    }

    /// The events of one trace: every key starting with its event prefix.
    pub(crate) fn trace_events(prefix: &[u8]) -> KeyRange {
        KeyRange {
            one_trace: true,
            ..KeyRange::prefix(prefix)
        }
    }
}

/// A cursor over a [`KeyRange`], in either direction; unpositioned until a
/// seek. Errors stop it (no item) and are reported by [`EngineIter::status`].
pub(crate) trait EngineIter {
    /// To the range's first key.
    fn seek_to_first(&mut self);
    /// To the range's last key.
    fn seek_to_last(&mut self);
    /// To the first key at or after `key`.
    fn seek(&mut self, key: &[u8]);
    /// To the last key at or before `key`.
    fn seek_for_prev(&mut self, key: &[u8]);
    /// To the next key.
    fn next(&mut self);
    /// To the previous key.
    fn prev(&mut self);
    /// The key and value here, `None` past either end or after an error.
    fn item(&self) -> Option<(&[u8], &[u8])>;
    /// The key here.
    fn key(&self) -> Option<&[u8]> {
        self.item().map(|(key, _)| key)
    }
    /// Whether the cursor stopped on an error rather than at an end.
    fn status(&self) -> Result<(), EngineError>;
}

/// Reads: of the engine's latest state, or of a snapshot.
pub(crate) trait EngineRead {
    /// The value of `key`.
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, EngineError>;
    /// Whether `key` has a value (no copy of it).
    fn contains(&self, key: &[u8]) -> Result<bool, EngineError> {
        self.get(key).map(|value| value.is_some())
    }
    /// A cursor over `range`.
    fn iter(&self, range: KeyRange) -> Box<dyn EngineIter + '_>;
}

/// Writes gathered for one atomic [`EngineBatch::write`].
pub(crate) trait EngineBatch {
    /// Sets `key` to `value`.
    fn put(&mut self, key: &[u8], value: &[u8]);
    /// Merges `value` into `key` ([`crate::term_set::union`]).
    fn merge(&mut self, key: &[u8], value: &[u8]);
    /// Removes `key`.
    fn delete(&mut self, key: &[u8]);
    /// Removes every key in `[from, to)`; the range may span tags.
    fn delete_range(&mut self, from: &[u8], to: &[u8]);
    /// Applies the batch atomically to the engine it came from: readers see
    /// it when this returns. Durable then (`sync`: on the disk, past power
    /// loss), or once [`Written::Pending`] reports it.
    fn write(self: Box<Self>, sync: bool) -> Result<Written, EngineError>;
}

/// Called once a pending write is durable, or with why it cannot be.
pub(crate) type OnDurable = Box<dyn FnOnce(Result<(), EngineError>) + Send>;

/// How far a batch got when [`EngineBatch::write`] returned.
pub(crate) enum Written {
    /// Durable already (RocksDB: in its write-ahead log).
    Durable,
    /// Applied, and on its way to durable storage (a bucket engine: in the
    /// next log object it uploads). The function takes the callback to run
    /// once it is durable; callers acknowledge nothing before that. Later
    /// writes may go ahead meanwhile: that is how commits overlap the
    /// bucket's latency.
    Pending(Box<dyn FnOnce(OnDurable) + Send>),
}

impl Written {
    /// Waits on this thread until the write is durable.
    pub(crate) fn wait(self) -> Result<(), EngineError> {
        match self {
            Written::Durable => Ok(()),
            Written::Pending(then) => {
                let (sender, done) = std::sync::mpsc::sync_channel(1);
                then(Box::new(move |result| {
                    let _ = sender.send(result);
                }));
                done.recv().unwrap_or_else(|_| {
                    Err(EngineError {
                        corruption: false,
                        message: "the engine dropped a write before it was durable".into(),
                    })
                })
            }
        }
    }
}

/// An ordered key-value engine holding one store.
pub(crate) trait Engine: EngineRead + Send + Sync {
    /// A consistent view as of now.
    fn snapshot(&self) -> Box<dyn EngineRead + '_>;
    /// An empty batch with room for about `capacity` bytes.
    fn batch(&self, capacity: usize) -> Result<Box<dyn EngineBatch + '_>, EngineError>;
    /// Commits and reads wait at most for the local disk, never for the
    /// network: a caller's thread may commit its own small append, or make
    /// a small read.
    fn is_local(&self) -> bool;
    /// The engine is holding writes back (RocksDB's delayed or stopped
    /// writes): callers should not wait on a write where they must not block.
    fn writes_slowing(&self) -> bool;
    /// Another process opened the engine's storage for writing since this
    /// one did, and fenced it off: no write of this one succeeds again.
    fn fenced(&self) -> bool {
        false
    }
    /// Why the engine cannot make writes durable now (its last write to
    /// remote storage failed), `None` when it can.
    fn trouble(&self) -> Option<String> {
        None
    }
    /// Bytes the engine's data takes where it is kept, when that is not the
    /// data directory (a bucket: every object under its prefix).
    fn remote_bytes(&self) -> Option<Result<u64, EngineError>> {
        None
    }
    /// The engine's own figures, for operators.
    fn figures(&self) -> EngineFigures;
    /// The engine's estimate of the keys it holds (progress totals).
    fn estimated_keys(&self) -> u64;
    /// Writes in-memory data out to files (not needed for durability).
    fn flush(&self) -> Result<(), EngineError>;
    /// Rewrites everything, so deleted data frees its space now (on a
    /// bucket: once SlateDB's compactor took the compaction up, which then
    /// runs beside ingest).
    fn compact_all(&self);
    /// A consistent copy of the store, as of now, into `dir` (which must not
    /// exist), openable as a store of its own.
    fn checkpoint(&self, dir: &Path) -> Result<(), EngineError>;
    /// The files holding events, oldest first: what tests damage to prove
    /// damage to events is caught.
    #[cfg(feature = "fault-injection")]
    fn event_files(&self) -> Result<Vec<std::path::PathBuf>, EngineError>;
}
