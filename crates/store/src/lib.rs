//! tracekeep's durable event store.
//!
//! A [`Store`] keeps DM trace events in a RocksDB data directory so that every
//! acknowledged append survives a crash or restart:
//!
//! - events are checksummed records ([`records`](crate#record-format)) under
//!   keys that begin with their trace's first-seen number and ID, so one
//!   prefix seek returns a trace in arrival order, and new events land at the
//!   end of the key space (compaction rewrites little);
//! - traces are indexed in first-seen order for dm-tracer's `scan`, with a
//!   cursor form whose cost does not grow with the page's depth;
//! - spans are indexed for search (service, span name, remote service, tags and
//!   annotations, time) in the same atomic batch as the spans;
//! - appends from many threads are group-committed by one committer at a
//!   time (the writer thread, or the caller's own on a quiet store);
//! - [`Store::next_tso`] never goes backwards, across restarts included;
//! - [`Store::verify`] checks everything, for the offline dump tool.
//!
//! No RocksDB type appears in this API. The design and its reasons are in
//! `docs/design.md`.
//!
//! # Record format
//! See `docs/design.md`: an 8-byte header (magic `TK`, format version, kind,
//! CRC32) before a protobuf payload.

// Layers, each using only those above it in this list: keys and records;
// the engine seam and its engines; the reads, writer and indexes over any
// engine; the `Store` API and what hangs off it.
mod error;
mod keys;
mod options;
mod order;
mod priority;
mod progress_log;
mod records;
mod term_set;
mod trace_filter;
mod trace_set;
mod tso;

mod engine;

mod cluster;
mod doomed;
mod format;
mod reads;
mod span_index;
mod writer;

#[cfg(feature = "fault-injection")]
mod fault;
mod search;
mod store;
mod verify;

pub use engine::{BucketFigures, EngineFigures};
pub use error::{Result, StoreError};
pub use keys::{MAX_TRACE_ID_LEN, describe_key};
pub use options::{MAX_NODE_ID_LEN, StoreOptions, check_node_id, default_node_id};
pub use priority::lower_this_thread;
pub use records::FORMAT_VERSION;
pub use search::SpanSearch;
pub use store::{
    ClusterNode, Cursor, Expiry, LIST_SKIP_LIMIT, ListOrder, Readiness, ScanPage, Stats, Store, StoredEvent,
    TraceEvents, TraceFilter, TraceSummary, Trim,
};
pub use tracekeep_proto::{EventKind, TraceEvent, pb};
pub use tso::{Clock, SystemClock, TSO_SLOTS, TSO_WINDOW_NANOS};
pub use verify::{Problem, VerifyReport};
