//! Reads the writer and the store's queries share, over any engine view
//! (the engine's latest state or a snapshot).

use crate::engine::{EngineIter, EngineRead, KeyRange};
use crate::error::{Result, StoreError};
use crate::keys;

/// The arrival number of the event key `key` read under its trace's
/// `prefix` (as [`trace_events`] yields them); a key that does not end in
/// one is corruption.
pub(crate) fn event_seq(prefix: &[u8], key: &[u8]) -> Result<u64> {
    keys::seq_after(prefix, key).ok_or_else(|| StoreError::corrupted(key, "malformed event key"))
}

/// A cursor over one trace's events (`prefix` is its
/// [`keys::event_prefix`], or [`keys::legacy_event_prefix`] in a store older
/// than format 5), positioned at the first.
pub(crate) fn trace_events<'v>(view: &'v dyn EngineRead, prefix: &[u8]) -> Box<dyn EngineIter + 'v> {
    let mut iter = view.iter(KeyRange::trace_events(prefix));
    iter.seek(prefix);
    iter
}

/// A cursor over the clock marks (`meta clock/<minute>`), unpositioned.
pub(crate) fn clock_marks(view: &dyn EngineRead) -> Box<dyn EngineIter + '_> {
    view.iter(KeyRange::prefix(keys::META_CLOCK_PREFIX))
}

/// The first-seen number in the start entry of `trace_id`, if it has one
/// (it has one exactly while the trace has events).
pub(crate) fn read_start(view: &dyn EngineRead, trace_id: &str) -> Result<Option<u64>> {
    let key = keys::trace_start_key(trace_id);
    let value = view
        .get(&key)
        .map_err(|error| StoreError::engine_at(&key, "looking up a trace", error))?;
    value
        .map(|value| crate::records::decode_trace_start(&key, &value))
        .transpose()
}
