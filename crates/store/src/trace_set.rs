//! Trace IDs hashed once, on the caller's thread, and the writer's sets of them.
//!
//! With small traces the writer asks several questions per trace (seen in this
//! request? started in this commit? committed lately? maybe stored at all?).
//! Answering each from a `HashSet<String>` hashed the ID again every time, on
//! the one thread every append waits for: about a tenth of the writer's time at
//! 2 events per trace. Now each event's trace ID is hashed once where the event
//! is prepared, in parallel on the callers' threads, and every set and the
//! [`crate::trace_filter::TraceFilter`] take that hash.
//!
//! Lookups take the ID as bytes: the writer holds each event's ID as a range
//! of the event's payload, checked to be UTF-8 once where the event was
//! prepared, and comparing bytes spares it checking them again at every
//! lookup (8% of the writer's samples at 2 events per trace).
//!
//! The hash is SipHash with keys drawn once per process, so trace IDs sent by
//! a client cannot be chosen to collide in these tables. Nothing hashed is
//! persisted: the filter is rebuilt from the first-seen order at every open.

use std::hash::BuildHasher;
use std::sync::OnceLock;

use hashbrown::HashTable;
use hashbrown::hash_table::Entry;

/// The hash of a trace ID, the same for the whole life of the process.
pub(crate) fn trace_hash(trace_id: &[u8]) -> u64 {
    static KEYS: OnceLock<std::collections::hash_map::RandomState> = OnceLock::new();
    KEYS.get_or_init(Default::default).hash_one(trace_id)
}

/// Owned trace IDs, each stored with its [`trace_hash`] and its first-seen
/// number (which says where its events are).
#[derive(Default)]
pub(crate) struct TraceSet {
    table: HashTable<(u64, String, u64)>,
}

impl TraceSet {
    /// An empty set with room for `capacity` IDs before it grows.
    pub(crate) fn with_capacity(capacity: usize) -> TraceSet {
        TraceSet {
            table: HashTable::with_capacity(capacity),
        }
    }

    /// The first-seen number stored with `trace_id` (whose hash is `hash`),
    /// if the set holds it.
    pub(crate) fn get(&self, hash: u64, trace_id: &[u8]) -> Option<u64> {
        self.table
            .find(hash, |(_, held, _)| held.as_bytes() == trace_id)
            .map(|&(_, _, first_seq)| first_seq)
    }

    /// Whether the set holds `trace_id`, whose hash is `hash`.
    pub(crate) fn contains(&self, hash: u64, trace_id: &[u8]) -> bool {
        self.get(hash, trace_id).is_some()
    }

    /// Adds `trace_id` with its first-seen number unless the set holds it already.
    pub(crate) fn insert(&mut self, hash: u64, trace_id: String, first_seq: u64) {
        let entry = self
            .table
            .entry(hash, |(_, held, _)| *held == trace_id, |(hash, _, _)| *hash);
        if let Entry::Vacant(vacant) = entry {
            vacant.insert((hash, trace_id, first_seq));
        }
    }

    /// Takes `trace_id` out, if the set holds it.
    pub(crate) fn remove(&mut self, hash: u64, trace_id: &[u8]) {
        if let Ok(entry) = self.table.find_entry(hash, |(_, held, _)| held.as_bytes() == trace_id) {
            entry.remove();
        }
    }

    /// How many IDs the set holds.
    pub(crate) fn len(&self) -> usize {
        self.table.len()
    }

    /// Empties the set, keeping its room.
    pub(crate) fn clear(&mut self) {
        self.table.clear();
    }
}

/// Positions in a list of trace IDs, found by ID: the list holds the IDs, the
/// table only their hashes and positions, so adding one allocates nothing.
/// Every lookup names the list through `id_at` (the ID at a position).
#[derive(Default)]
pub(crate) struct TracePositions {
    table: HashTable<(u64, usize)>,
}

impl TracePositions {
    /// Forgets every position, keeping the room.
    pub(crate) fn clear(&mut self) {
        self.table.clear();
    }

    /// The added position holding `trace_id` (hash `hash`), if any.
    pub(crate) fn find<'a>(&self, hash: u64, trace_id: &[u8], id_at: impl Fn(usize) -> &'a [u8]) -> Option<usize> {
        self.table
            .find(hash, |&(held_hash, at)| held_hash == hash && id_at(at) == trace_id)
            .map(|&(_, at)| at)
    }

    /// Adds position `at` for an ID that no added position holds (the caller
    /// has just found it absent with [`TracePositions::find`]): no second
    /// lookup.
    pub(crate) fn add_absent(&mut self, hash: u64, at: usize) {
        self.table.insert_unique(hash, (hash, at), |&(held_hash, _)| held_hash);
    }

    /// Adds position `at`, holding `trace_id` (hash `hash`), unless a position
    /// holding the same ID was added: then returns that position, adding nothing.
    pub(crate) fn find_or_add<'a>(
        &mut self,
        hash: u64,
        at: usize,
        trace_id: &[u8],
        id_at: impl Fn(usize) -> &'a [u8],
    ) -> Option<usize> {
        match self.table.entry(
            hash,
            |&(held_hash, held)| held_hash == hash && id_at(held) == trace_id,
            |&(held_hash, _)| held_hash,
        ) {
            Entry::Occupied(occupied) => Some(occupied.get().1),
            Entry::Vacant(vacant) => {
                vacant.insert((hash, at));
                None
            }
        }
    }
}

#[cfg(test)]
#[path = "trace_set_tests.rs"]
mod tests;
