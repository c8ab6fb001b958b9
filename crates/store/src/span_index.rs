//! The span index: entries that lead from what a trace search asks (service,
//! span name, remote service, a tag or annotation, a time window) to trace IDs,
//! written in the same batch as the spans and removed with their trace.
//!
//! Every entry is `tag component... second trace` (see [`crate::keys`]) with
//! an empty value: the index is derived data, and verify recomputes it from
//! the spans, so a damaged entry shows up as one missing and one stray. The second is
//! the span's start, truncated and inverted so a forward walk goes newest
//! first. An entry's key is a function of one span and its trace alone, so
//! writing it again is harmless, a trace's entries can be recomputed from its
//! spans (delete removes exactly them; verify compares them), and the spans of
//! one trace that start in the same second share their entries: a trace of ten
//! spans costs about one entry per distinct service, name and term, not per span.
//!
//! The store knows no protocol: it indexes its own span type, `pb.Span`, by
//! the rules in [`tracekeep_proto::span`], with names lowercased as Zipkin
//! compares them and terms (tag keys, `key=value`, annotation and log text)
//! kept exact. Terms longer than [`MAX_INDEXED_TERM_LEN`] are not indexed (a
//! search can still ask for them; it then walks a broader entry).

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

use rocksdb::ReadOptions;
use tracekeep_proto::{pb, span};

use crate::error::{Result, StoreError};
use crate::keys::{
    self, TAG_SPAN_NAME, TAG_SPAN_REMOTE, TAG_SPAN_SERVICE, TAG_SPAN_TERM, TAG_SPAN_TIME, past_component,
    span_index_key, span_index_prefix,
};
use crate::store::Store;

/// The longest search term (tag key, `key=value`, annotation) indexed, in bytes.
pub const MAX_INDEXED_TERM_LEN: usize = 256;

/// The second a span started in, as the index keys it (0 when unknown).
fn span_second(span: &pb::Span) -> u64 {
    let nanos = span.base.as_ref().map_or(0, |base| base.tso);
    u64::try_from(nanos).unwrap_or(0) / 1_000_000_000
}

/// Builds each index key of `span` (of trace `trace_id`) in `key`, one after
/// the other, and hands it to `visit`. Writes, deletes, the format-3 upgrade
/// and verify all derive the keys here. No allocation per key: a span costs
/// about twenty keys, and this runs for every span ingested.
fn for_each_key(span: &pb::Span, trace_id: &str, key: &mut Vec<u8>, mut visit: impl FnMut(&[u8])) {
    let second = span_second(span);
    let service = span::service_name(span).to_lowercase();
    let name = span.operation.to_lowercase();
    let mut emit = |key: &mut Vec<u8>, prefix_len: usize| {
        keys::push_span_second(key, second);
        keys::push_trace(key, trace_id);
        visit(key);
        key.truncate(prefix_len);
    };
    key.clear();
    key.push(TAG_SPAN_TIME);
    emit(key, 0);
    key.clear();
    key.push(TAG_SPAN_SERVICE);
    keys::push_component(key, service.as_bytes());
    emit(key, 0);
    key.clear();
    key.push(TAG_SPAN_NAME);
    keys::push_component(key, service.as_bytes());
    keys::push_component(key, name.as_bytes());
    emit(key, 0);
    if let Some(remote) = span::remote_service_name(span) {
        key.clear();
        key.push(TAG_SPAN_REMOTE);
        keys::push_component(key, service.as_bytes());
        keys::push_component(key, remote.to_lowercase().as_bytes());
        emit(key, 0);
    }
    let mut term = |key: &mut Vec<u8>, parts: &[&[u8]]| {
        if parts.iter().map(|part| part.len()).sum::<usize>() > MAX_INDEXED_TERM_LEN {
            return;
        }
        key.clear();
        key.push(TAG_SPAN_TERM);
        for part in parts {
            keys::push_escaped(key, part);
        }
        key.extend_from_slice(&[0, 1]);
        emit(key, 0);
    };
    for (tag, value) in &span.tags {
        term(key, &[tag.as_bytes()]);
        term(key, &[tag.as_bytes(), b"=", value.as_bytes()]);
    }
    for annotation in &span.annotations {
        term(key, &[annotation.value.as_bytes()]);
    }
    for log in &span.logs {
        term(key, &[span::log_text(log).as_bytes()]);
    }
}

/// Adds the index keys of `span` (of trace `trace_id`) to `keys`.
pub(crate) fn add_keys(span: &pb::Span, trace_id: &str, keys: &mut HashSet<Vec<u8>>) {
    let mut key = Vec::with_capacity(96);
    for_each_key(span, trace_id, &mut key, |key| {
        if !keys.contains(key) {
            keys.insert(key.to_vec());
        }
    });
}

/// FNV-1a: a fast hash for deduplicating keys in memory (never persisted).
#[derive(Clone, Copy, Debug)]
struct FnvHasher(u64);

impl Default for FnvHasher {
    fn default() -> Self {
        FnvHasher(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for FnvHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = (self.0 ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// The index keys of a batch's spans in one buffer, sorted, each once.
///
/// Sorted because RocksDB's memtable inserts a run of ascending keys far
/// faster than scattered ones (it reuses the previous insert's position), and
/// the index keys outnumber the spans.
#[derive(Debug, Default)]
pub(crate) struct IndexKeys {
    bytes: Vec<u8>,
    ranges: Vec<(u32, u32)>,
}

impl IndexKeys {
    /// The keys of `spans` (each with its trace ID).
    pub(crate) fn of<'s>(spans: impl IntoIterator<Item = (&'s pb::Span, &'s str)>) -> IndexKeys {
        let mut keys = IndexKeys::default();
        let mut key = Vec::with_capacity(96);
        // Most keys repeat (the spans of a trace share services and terms):
        // drop repeats by hash before sorting. A hash seen before whose key
        // differs is kept; the sort below removes any repeat that remains.
        let mut seen: HashMap<u64, (u32, u32), BuildHasherDefault<FnvHasher>> = HashMap::default();
        for (span, trace_id) in spans {
            for_each_key(span, trace_id, &mut key, |key| {
                let mut hasher = FnvHasher::default();
                hasher.write(key);
                let hash = hasher.finish();
                if let Some(&(start, end)) = seen.get(&hash)
                    && &keys.bytes[start as usize..end as usize] == key
                {
                    return;
                }
                let start = keys.bytes.len();
                keys.bytes.extend_from_slice(key);
                // Batches are bounded by max-request-size, far below 4 GiB.
                let at = |offset: usize| u32::try_from(offset).unwrap_or(u32::MAX);
                let range = (at(start), at(keys.bytes.len()));
                seen.entry(hash).or_insert(range);
                keys.ranges.push(range);
            });
        }
        let bytes = &keys.bytes;
        let slice = |&(start, end): &(u32, u32)| &bytes[start as usize..end as usize];
        keys.ranges.sort_unstable_by(|a, b| slice(a).cmp(slice(b)));
        keys.ranges.dedup_by(|a, b| slice(a) == slice(b));
        keys
    }

    /// The keys, in order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &[u8]> {
        self.ranges
            .iter()
            .map(|&(start, end)| &self.bytes[start as usize..end as usize])
    }

    /// How many keys.
    pub(crate) fn len(&self) -> usize {
        self.ranges.len()
    }

    /// Their bytes, for sizing a commit.
    pub(crate) fn size(&self) -> usize {
        self.bytes.len()
    }
}

/// What a trace search asks of the span index. Names are compared lowercase.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SpanSearch {
    /// Only spans recorded by this service.
    pub service: Option<String>,
    /// Only spans of this name (of `service`, when given).
    pub span_name: Option<String>,
    /// Only spans calling this remote service (of `service`, when given).
    pub remote_service: Option<String>,
    /// Terms a span must carry: a tag key or annotation value, or `key=value`.
    pub terms: Vec<String>,
    /// The oldest span start wanted, Unix nanoseconds.
    pub start_nanos: i64,
    /// The newest span start wanted, Unix nanoseconds.
    pub end_nanos: i64,
}

impl SpanSearch {
    /// The index entries a matching span must have, most selective first:
    /// service and span name, indexed terms, service and remote service,
    /// service alone (when nothing narrower names it); the time entries when
    /// the search names nothing indexed. One span writes all of its entries
    /// under the same second, so a matching span has every one of them at
    /// the second of the first.
    fn required_prefixes(&self) -> Vec<Vec<u8>> {
        let lower = |name: &Option<String>| name.as_deref().map(str::to_lowercase);
        let (service, span_name, remote) = (
            lower(&self.service),
            lower(&self.span_name),
            lower(&self.remote_service),
        );
        let mut prefixes = Vec::new();
        if let (Some(service), Some(name)) = (&service, &span_name) {
            prefixes.push(span_index_prefix(TAG_SPAN_NAME, &[service, name]));
        }
        for term in self.terms.iter().filter(|term| term.len() <= MAX_INDEXED_TERM_LEN) {
            prefixes.push(span_index_prefix(TAG_SPAN_TERM, &[term]));
        }
        if let (Some(service), Some(remote)) = (&service, &remote) {
            prefixes.push(span_index_prefix(TAG_SPAN_REMOTE, &[service, remote]));
        }
        if let Some(service) = &service
            && span_name.is_none()
            && remote.is_none()
        {
            prefixes.push(span_index_prefix(TAG_SPAN_SERVICE, &[service]));
        }
        if prefixes.is_empty() {
            prefixes.push(span_index_prefix(TAG_SPAN_TIME, &[]));
        }
        prefixes
    }
}

fn nanos_to_second(nanos: i64) -> u64 {
    u64::try_from(nanos).unwrap_or(0) / 1_000_000_000
}

impl Store {
    /// Candidate traces for `search`, newest first (to the second), each once:
    /// every trace with a span that starts inside the window and has the
    /// index entries of every indexed condition (service, span name, remote
    /// service, terms). The walk follows the most selective condition's
    /// entries and checks the others with point reads at the same second. The
    /// caller checks the rest (durations, long terms, the trace's own
    /// timestamp) against the trace itself. `visit` returns `false` to stop.
    /// Deleted traces are never offered.
    pub fn span_search_candidates(
        &self,
        search: &SpanSearch,
        mut visit: impl FnMut(&str) -> Result<bool>,
    ) -> Result<()> {
        if search.end_nanos < search.start_nanos {
            return Ok(());
        }
        let mut required = search.required_prefixes();
        let prefix = required.remove(0);
        let (newest, oldest) = (nanos_to_second(search.end_nanos), nanos_to_second(search.start_nanos));
        let mut lower = prefix.clone();
        keys::push_span_second(&mut lower, newest);
        let upper = match oldest.checked_sub(1) {
            Some(before) => {
                let mut upper = prefix.clone();
                keys::push_span_second(&mut upper, before);
                upper
            }
            None => keys::prefix_end(&prefix),
        };
        let mut options = Store::read_options(None);
        options.set_iterate_upper_bound(upper);
        let mut iter = self.db().raw_iterator_opt(options);
        iter.seek(&lower);
        let mut offered = HashSet::new();
        while let Some(key) = iter.key() {
            let (second, trace_id) = keys::take_span_second_and_trace(key.get(prefix.len()..).unwrap_or_default())
                .map_err(|error| StoreError::corrupted(key, error.to_string()))?;
            if !offered.contains(&trace_id) && self.has_span_entries(&required, second, &trace_id)? {
                if !visit(&trace_id)? {
                    return Ok(());
                }
                offered.insert(trace_id);
            }
            iter.next();
        }
        iter.status()
            .map_err(|error| StoreError::engine_at(&prefix, "walking the span index", error))
    }

    /// Whether `trace` has an entry under each of `prefixes` at `second`: one
    /// point read each, far cheaper than loading a trace that cannot match.
    fn has_span_entries(&self, prefixes: &[Vec<u8>], second: u64, trace_id: &str) -> Result<bool> {
        for prefix in prefixes {
            let key = span_index_key(prefix, second, trace_id);
            let found = self
                .db()
                .get_pinned_opt(&key, &Store::read_options(None))
                .map_err(|error| StoreError::engine_at(&key, "reading the span index", error))?;
            if found.is_none() {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Every service that recorded a stored span, lowercase, sorted.
    pub fn span_services(&self) -> Result<Vec<String>> {
        self.distinct_components(&[TAG_SPAN_SERVICE], None)
    }

    /// The span names `service` recorded, lowercase, sorted.
    pub fn span_names(&self, service: &str) -> Result<Vec<String>> {
        let prefix = span_index_prefix(TAG_SPAN_NAME, &[&service.to_lowercase()]);
        self.distinct_components(&prefix, None)
    }

    /// The remote services `service` called, lowercase, sorted.
    pub fn span_remote_services(&self, service: &str) -> Result<Vec<String>> {
        let prefix = span_index_prefix(TAG_SPAN_REMOTE, &[&service.to_lowercase()]);
        self.distinct_components(&prefix, None)
    }

    /// The values stored spans carry for tag `key` (those short enough to be
    /// indexed), sorted.
    pub fn span_tag_values(&self, key: &str) -> Result<Vec<String>> {
        let head = format!("{key}=");
        let mut prefix = vec![TAG_SPAN_TERM];
        keys::push_escaped(&mut prefix, head.as_bytes());
        let values = self.distinct_components(&[TAG_SPAN_TERM], Some(&prefix))?;
        Ok(values
            .into_iter()
            .filter_map(|term| term.strip_prefix(&head).map(str::to_owned))
            .collect())
    }

    /// The distinct components right after `prefix`, in key order: one seek
    /// per distinct value, however many entries each has. With `within`, only
    /// keys starting with it (a longer prefix ending inside the component).
    fn distinct_components(&self, prefix: &[u8], within: Option<&[u8]>) -> Result<Vec<String>> {
        let start = within.unwrap_or(prefix);
        let mut options = ReadOptions::default();
        options.set_total_order_seek(true);
        options.set_iterate_upper_bound(keys::prefix_end(start));
        let mut iter = self.db().raw_iterator_opt(options);
        iter.seek(start);
        let mut found = Vec::new();
        while let Some(key) = iter.key() {
            let rest = key.get(prefix.len()..).unwrap_or_default();
            let (component, after) =
                keys::take_component(rest).map_err(|error| StoreError::corrupted(key, error.to_string()))?;
            let end = key.len() - after.len();
            let next = past_component(&key[..end]);
            found.push(component);
            iter.seek(&next);
        }
        iter.status()
            .map_err(|error| StoreError::engine_at(prefix, "listing the span index", error))?;
        Ok(found)
    }
}
