//! [`StoreError`]: every way a store operation can fail, told apart by kind.

use std::path::PathBuf;

/// A store operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The trace has no events (it never existed, or it was deleted).
    #[error("trace {trace_id:?} not found")]
    TraceNotFound {
        /// The trace asked for.
        trace_id: String,
    },

    /// `scan` was given an offset beyond the number of traces stored.
    #[error("offset {offset} is past the end: the store holds {traces} traces")]
    OffsetPastEnd {
        /// The offset asked for.
        offset: u64,
        /// How many traces exist now.
        traces: u64,
    },

    /// The storage is unreachable now (a bucket that does not answer); the
    /// request was not stored as far as anyone can tell, and may be retried.
    #[error("storage unavailable: {reason}")]
    Unavailable {
        /// What failed.
        reason: String,
    },

    /// The `bucket` setting names no bucket this build can reach.
    #[error("bucket {url:?}: {reason}")]
    InvalidBucket {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },

    /// The `node-id` setting cannot name a node.
    #[error("node ID {node_id:?}: {reason}")]
    InvalidNodeId {
        /// The ID as given.
        node_id: String,
        /// What is wrong with it.
        reason: String,
    },

    /// An event of an appended batch is not acceptable; nothing of the batch was stored.
    #[error("event {index}: {reason}")]
    InvalidEvent {
        /// The position of the offending event in the batch.
        index: usize,
        /// What is wrong with it.
        reason: String,
    },

    /// A stored record failed its checks (bad magic, CRC mismatch, undecodable payload).
    #[error("corrupted record at {key}: {reason}")]
    Corrupted {
        /// The record's key, readable (see [`crate::describe_key`]).
        key: String,
        /// What check failed.
        reason: String,
    },

    /// Another process (or another `Store` in this one) has the directory open.
    #[error("data directory {} is in use by another process (RocksDB LOCK is held)", path.display())]
    DirectoryInUse {
        /// The data directory.
        path: PathBuf,
    },

    /// The directory was written by a newer tracekeep; this build must not touch it.
    #[error(
        "data directory {} has on-disk format version {found}, newer than the {supported} this build supports; upgrade tracekeep",
        path.display()
    )]
    NewerFormat {
        /// The data directory.
        path: PathBuf,
        /// The version found on disk.
        found: u8,
        /// The newest version this build reads.
        supported: u8,
    },

    /// The directory does not exist or does not hold a tracekeep store.
    #[error("{} is not a tracekeep data directory: {reason}", path.display())]
    NotAStore {
        /// The directory.
        path: PathBuf,
        /// Why it is not one.
        reason: String,
    },

    /// Appends are refused because the data directory's filesystem is below
    /// its free-space reserve; deletes and truncates still work.
    #[error(
        "not enough disk space for {}: {available} bytes free, below the {reserve}-byte reserve (min-free-disk-bytes); free space or delete traces",
        path.display()
    )]
    DiskFull {
        /// The data directory.
        path: PathBuf,
        /// Bytes available to the store's user.
        available: u64,
        /// The reserve that must stay free.
        reserve: u64,
    },

    /// A write was attempted on a store opened read-only.
    #[error("the store is open read-only")]
    ReadOnly,

    /// The store is shutting down and takes no more writes.
    #[error("the store is closed")]
    Closed,

    /// The timestamp allocator cannot go further (the clock or the mark is at `i64::MAX`).
    #[error("the TSO space is exhausted")]
    TsoExhausted,

    /// A filesystem operation on the data directory failed.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        /// What was being done, as a short verb phrase.
        action: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// The storage engine reported an error (I/O, disk full, corruption it detected).
    #[error("storage engine error while {action}: {message}")]
    Engine {
        /// What the store was doing, as a short verb phrase.
        action: &'static str,
        /// The engine's message.
        message: String,
    },
}

/// Results of store operations.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

impl StoreError {
    pub(crate) fn engine(action: &'static str, error: EngineError) -> StoreError {
        StoreError::Engine {
            action,
            message: error.message,
        }
    }

    /// Like [`StoreError::engine`], but corruption the engine detected (a bad
    /// block checksum, a missing file) becomes [`StoreError::Corrupted`] naming
    /// `key`, the record or range being read.
    pub(crate) fn engine_at(key: &[u8], action: &'static str, error: EngineError) -> StoreError {
        if error.corruption {
            StoreError::Corrupted {
                key: crate::keys::describe_key(key),
                reason: format!("storage engine reported corruption while {action}: {}", error.message),
            }
        } else {
            StoreError::engine(action, error)
        }
    }

    pub(crate) fn corrupted(key: &[u8], reason: impl Into<String>) -> StoreError {
        StoreError::Corrupted {
            key: crate::keys::describe_key(key),
            reason: reason.into(),
        }
    }
}

/// An engine's failure, as the engine worded it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct EngineError {
    /// The engine found stored data damaged (a bad block checksum, a missing
    /// file), as opposed to failing to do its work.
    pub corruption: bool,
    /// The engine's message.
    pub message: String,
}
