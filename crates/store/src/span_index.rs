//! The span index: entries that lead from what a trace search asks (service,
//! span name, remote service, tags and annotations, a time window) to trace
//! IDs, written in the same batch as the spans and removed with their trace.
//!
//! Every entry is `tag component... second trace` (see [`crate::keys`]). The
//! second is the span's start, truncated and inverted so a forward walk goes
//! newest first. An entry's key is a function of one span and its trace
//! alone, so writing it again is harmless, a trace's entries can be
//! recomputed from its spans (delete removes exactly them; verify compares
//! them), and the spans of one trace that start in the same second share
//! their entries.
//!
//! Search terms (tag keys, `key=value`, annotation and log text) get no keys
//! of their own: a trace makes dozens of distinct terms, and every key costs
//! the single writer, the memtable and compaction. Instead the time entry and
//! each service entry hold, as their value, the set of 32-bit hashes
//! ([`term_hash`]) of the terms of their spans. Spans of one entry that
//! arrive in different commits each add their set through a RocksDB merge
//! (union), so the stored set is the union over all of them, whatever the
//! order. A search checks its terms against these sets before it loads a
//! trace; a hash match is a candidate, confirmed on the trace itself.
//!
//! The store knows no protocol: it indexes its own span type, `pb.Span`, by
//! the rules in [`tracekeep_proto::span`], with names lowercased as Zipkin
//! compares them and terms kept exact.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

use rocksdb::MergeOperands;
use tracekeep_proto::{pb, span};

use crate::error::{Result, StoreError};
use crate::keys::{
    self, TAG_SPAN_NAME, TAG_SPAN_REMOTE, TAG_SPAN_SERVICE, TAG_SPAN_TIME, TAG_TAG_VALUE, past_component,
    span_index_key, span_index_prefix,
};
use crate::store::Store;

/// The first byte of a term set value: its encoding (sorted little-endian u32s).
const TERM_SET_V1: u8 = 1;

/// The name RocksDB records for the term-set merge; never change it.
pub(crate) const TERM_SET_MERGE: &str = "tracekeep.term-set-union.v1";

/// The hash a search term is indexed by: 32-bit FNV-1a of its UTF-8 bytes.
/// Persisted in every store: never change it.
pub(crate) fn term_hash(term: &str) -> u32 {
    fnv_extend(FNV_OFFSET, term.as_bytes())
}

/// FNV-1a's starting value (32-bit).
const FNV_OFFSET: u32 = 0x811c_9dc5;

/// FNV-1a (32-bit) of what `hash` covered followed by `bytes`.
fn fnv_extend(hash: u32, bytes: &[u8]) -> u32 {
    bytes
        .iter()
        .fold(hash, |hash, &byte| (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193))
}

/// The hashes of a span's terms: each tag key, each `key=value`, each
/// annotation value and each span-tracer log line (as the Zipkin API shows it).
fn span_terms(span: &pb::Span, terms: &mut Vec<u32>) {
    for (key, value) in &span.tags {
        // FNV-1a runs byte by byte, so `key=value` carries on from `key`.
        let key_hash = fnv_extend(FNV_OFFSET, key.as_bytes());
        terms.push(key_hash);
        terms.push(fnv_extend(fnv_extend(key_hash, b"="), value.as_bytes()));
    }
    for annotation in &span.annotations {
        terms.push(term_hash(&annotation.value));
    }
    for log in &span.logs {
        terms.push(term_hash(&span::log_text(log)));
    }
}

/// A term set as stored: the version byte, then the hashes in ascending
/// order, each once (`terms` must be sorted and free of repeats).
fn encode_term_set(terms: &[u32]) -> Vec<u8> {
    let mut value = Vec::with_capacity(1 + 4 * terms.len());
    value.push(TERM_SET_V1);
    for term in terms {
        value.extend_from_slice(&term.to_le_bytes());
    }
    value
}

/// The hash bytes of a stored term set (4 little-endian bytes each); `None`
/// if it is not one.
fn term_set_hashes(value: &[u8]) -> Option<&[u8]> {
    let (&version, hashes) = value.split_first()?;
    (version == TERM_SET_V1 && hashes.len() % 4 == 0).then_some(hashes)
}

/// The hash at `index` of a term set's hash bytes.
fn hash_at(hashes: &[u8], index: usize) -> u32 {
    let bytes = &hashes[index * 4..index * 4 + 4];
    u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])
}

/// The hashes of a stored term set; `None` if it is not one.
fn decode_term_set(value: &[u8]) -> Option<impl Iterator<Item = u32> + '_> {
    let hashes = term_set_hashes(value)?;
    Some((0..hashes.len() / 4).map(|index| hash_at(hashes, index)))
}

/// Whether a stored term set holds every one of `wanted`.
fn term_set_holds(value: &[u8], wanted: &[u32]) -> bool {
    let Some(hashes) = term_set_hashes(value) else {
        return false;
    };
    let count = hashes.len() / 4;
    let at = |index: usize| hash_at(hashes, index);
    wanted.iter().all(|want| {
        // The set is sorted: a binary search over its hashes.
        let (mut low, mut high) = (0, count);
        while low < high {
            let middle = low + (high - low) / 2;
            match at(middle).cmp(want) {
                std::cmp::Ordering::Less => low = middle + 1,
                std::cmp::Ordering::Greater => high = middle,
                std::cmp::Ordering::Equal => return true,
            }
        }
        false
    })
}

/// RocksDB's merge of term sets: the union of the stored set and every
/// operand. An operand that is not a term set (damage) is skipped, never a
/// panic; verify reports the entry.
pub(crate) fn merge_term_sets(_key: &[u8], existing: Option<&[u8]>, operands: &MergeOperands) -> Option<Vec<u8>> {
    let mut union = Vec::new();
    for value in existing.into_iter().chain(operands.iter()) {
        if let Some(hashes) = decode_term_set(value) {
            union.extend(hashes);
        }
    }
    union.sort_unstable();
    union.dedup();
    Some(encode_term_set(&union))
}

/// The trace a span names (`base.traceID`; empty without a base, which the
/// store refuses before indexing).
pub(crate) fn trace_id_of(span: &pb::Span) -> &str {
    span.base.as_ref().map_or("", |base| base.trace_id.as_str())
}

/// The second a span started in, as the index keys it (0 when unknown).
fn span_second(span: &pb::Span) -> u64 {
    let nanos = span.base.as_ref().map_or(0, |base| base.tso);
    u64::try_from(nanos).unwrap_or(0) / 1_000_000_000
}

/// The hasher of [`IndexEntries`]' map: its keys are our own (no attacker
/// chooses how they collide beyond what a trace ID allows, and a batch holds
/// at most a few thousand), and SipHash, the standard map's, cost more than
/// the lookups it served. Eight bytes per step, a multiply-rotate mix
/// (the one rustc's own `FxHasher` uses).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct KeyHasher(u64);

impl KeyHasher {
    const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

    fn mix(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(Self::SEED);
    }
}

impl Hasher for KeyHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.mix(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.mix(u64::from_le_bytes(word));
        }
    }

    fn write_usize(&mut self, value: usize) {
        self.mix(value as u64);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// A trace's (or batch's) span index entries: each key once, with the term
/// set it merges in (time and service entries) or none (plain entries).
/// Writes, deletes, the format-3 upgrade and verify all derive them here.
#[derive(Debug, Default)]
pub(crate) struct IndexEntries {
    entries: HashMap<Vec<u8>, Option<Vec<u32>>, BuildHasherDefault<KeyHasher>>,
    /// Scratch space for a key.
    key: Vec<u8>,
    /// Scratch space for a span's terms.
    terms: Vec<u32>,
}

impl IndexEntries {
    /// The entries of `spans` (each under its own `base.traceID`), plus one
    /// tag-value entry per value of the `autocomplete` keys.
    pub(crate) fn of<'s>(spans: impl IntoIterator<Item = &'s pb::Span>, autocomplete: &[String]) -> IndexEntries {
        let mut entries = IndexEntries::default();
        for span in spans {
            entries.add_span(span, trace_id_of(span));
            for key in autocomplete {
                if let Some(value) = span.tags.get(key) {
                    let mut entry = vec![TAG_TAG_VALUE];
                    keys::push_component(&mut entry, key.as_bytes());
                    keys::push_component(&mut entry, value.as_bytes());
                    entries.entries.entry(entry).or_insert(None);
                }
            }
        }
        entries
    }

    /// Adds the entries of one span of trace `trace_id`.
    pub(crate) fn add_span(&mut self, span: &pb::Span, trace_id: &str) {
        let second = span_second(span);
        let mut terms = std::mem::take(&mut self.terms);
        terms.clear();
        span_terms(span, &mut terms);
        self.add(TAG_SPAN_TIME, &[], second, trace_id, Some(&terms));
        // A span without a service (a Zipkin span sent without a local
        // endpoint) is found by time and terms only, as in Zipkin.
        if let Some(service) = span::indexed_service(span) {
            let service = service.to_lowercase();
            let name = span.operation.to_lowercase();
            let remote = span::remote_service_name(span).map(str::to_lowercase);
            self.add(TAG_SPAN_SERVICE, &[&service], second, trace_id, Some(&terms));
            self.add(TAG_SPAN_NAME, &[&service, &name], second, trace_id, None);
            if let Some(remote) = remote {
                self.add(TAG_SPAN_REMOTE, &[&service, &remote], second, trace_id, None);
            }
        }
        self.terms = terms;
    }

    /// Adds one entry (built in the scratch key: no allocation when it is
    /// already there), merging `terms` into its set.
    fn add(&mut self, tag: u8, components: &[&str], second: u64, trace_id: &str, terms: Option<&[u32]>) {
        self.key.clear();
        keys::push_span_index_prefix(&mut self.key, tag, components);
        keys::push_span_second(&mut self.key, second);
        keys::push_trace(&mut self.key, trace_id);
        let slot = match self.entries.get_mut(self.key.as_slice()) {
            Some(slot) => slot,
            None => self
                .entries
                .entry(self.key.clone())
                .or_insert_with(|| terms.map(|_| Vec::new())),
        };
        if let (Some(slot), Some(terms)) = (slot, terms) {
            slot.extend_from_slice(terms);
        }
    }

    /// Every entry in key order: its key and, for a term-set entry, the
    /// encoded set to merge in.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&[u8], Option<Vec<u8>>)> {
        let mut sorted: Vec<_> = self.entries.iter().collect();
        sorted.sort_unstable_by(|a, b| a.0.cmp(b.0));
        sorted
            .into_iter()
            .map(|(key, terms)| (key.as_slice(), terms.as_ref().map(|terms| term_set(terms))))
    }

    /// The keys alone (the tag values are left out: they outlive traces).
    pub(crate) fn span_keys(&self) -> impl Iterator<Item = &[u8]> {
        self.entries
            .keys()
            .filter(|key| key.first() != Some(&TAG_TAG_VALUE))
            .map(Vec::as_slice)
    }

    /// How many entries.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Their bytes, roughly, for sizing a commit.
    pub(crate) fn size(&self) -> usize {
        self.entries
            .iter()
            .map(|(key, terms)| key.len() + terms.as_ref().map_or(0, |terms| 1 + 4 * terms.len()))
            .sum()
    }

    /// Takes the entries out, for verify's comparison: key and stored value.
    pub(crate) fn into_stored(self) -> impl Iterator<Item = (Vec<u8>, Vec<u8>)> {
        self.entries
            .into_iter()
            .map(|(key, terms)| (key, terms.as_ref().map(|terms| term_set(terms)).unwrap_or_default()))
    }
}

/// `terms` (in any order, repeats allowed) as a stored term set.
fn term_set(terms: &[u32]) -> Vec<u8> {
    let mut sorted = terms.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    encode_term_set(&sorted)
}

/// Adds `index` to `batch`: term sets as merges, the other entries as puts
/// of an empty value.
pub(crate) fn write_entries(batch: &mut rocksdb::WriteBatch, index: &IndexEntries) {
    for (key, terms) in index.iter() {
        match terms {
            Some(terms) => batch.merge(key, terms),
            None => batch.put(key, []),
        }
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
    /// The keyed entries a matching span must have, most selective first:
    /// service and span name, service and remote service, the service alone
    /// (when nothing narrower names it), the time entries when the search
    /// names no service. One span writes all of its entries under the same
    /// second, so a matching span has every one of them at that second.
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

    /// The entries whose term sets the search's terms are checked against:
    /// the service's when it names one (its spans' terms), else the time entries.
    fn term_set_prefix(&self) -> Vec<u8> {
        match &self.service {
            Some(service) => span_index_prefix(TAG_SPAN_SERVICE, &[&service.to_lowercase()]),
            None => span_index_prefix(TAG_SPAN_TIME, &[]),
        }
    }
}

fn nanos_to_second(nanos: i64) -> u64 {
    u64::try_from(nanos).unwrap_or(0) / 1_000_000_000
}

impl Store {
    /// Candidate traces for `search`, newest first (to the second), each once:
    /// every trace with a span that starts inside the window and whose entries
    /// at that second name its service, span name and remote service, and
    /// hold the hash of each of its terms (in the service's term set, or the
    /// time entry's without a service). The walk follows the most selective
    /// entries and checks the others with point reads at the same second. The
    /// caller checks the search against the trace itself (one span must meet
    /// every condition; durations; the trace's own timestamp). `visit`
    /// returns `false` to stop. Deleted traces are never offered.
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
        let term_set_prefix = search.term_set_prefix();
        let mut terms: Vec<u32> = search.terms.iter().map(|term| term_hash(term)).collect();
        terms.sort_unstable();
        terms.dedup();
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
        while let Some((key, value)) = iter.item() {
            let (second, trace_id) = keys::take_span_second_and_trace(key.get(prefix.len()..).unwrap_or_default())
                .map_err(|error| StoreError::corrupted(key, error.to_string()))?;
            if !offered.contains(&trace_id)
                && self.has_span_entries(&required, second, &trace_id)?
                && (terms.is_empty()
                    || if prefix == term_set_prefix {
                        term_set_holds(value, &terms)
                    } else {
                        self.term_set_at(&term_set_prefix, second, &trace_id)?
                            .is_some_and(|set| term_set_holds(&set, &terms))
                    })
            {
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

    /// The term set stored under `prefix second trace`, if that entry exists.
    fn term_set_at(&self, prefix: &[u8], second: u64, trace_id: &str) -> Result<Option<Vec<u8>>> {
        let key = span_index_key(prefix, second, trace_id);
        self.db()
            .get_opt(&key, &Store::read_options(None))
            .map_err(|error| StoreError::engine_at(&key, "reading the span index", error))
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
        self.distinct_components(&[TAG_SPAN_SERVICE])
    }

    /// The span names `service` recorded, lowercase, sorted.
    pub fn span_names(&self, service: &str) -> Result<Vec<String>> {
        let prefix = span_index_prefix(TAG_SPAN_NAME, &[&service.to_lowercase()]);
        self.distinct_components(&prefix)
    }

    /// The remote services `service` called, lowercase, sorted.
    pub fn span_remote_services(&self, service: &str) -> Result<Vec<String>> {
        let prefix = span_index_prefix(TAG_SPAN_REMOTE, &[&service.to_lowercase()]);
        self.distinct_components(&prefix)
    }

    /// The values stored spans carried for tag `key`, sorted, when `key` is
    /// one of [`crate::StoreOptions::autocomplete_keys`] (a value is recorded
    /// when a span with it is stored, and stays after its traces are deleted,
    /// until a truncate).
    pub fn span_tag_values(&self, key: &str) -> Result<Vec<String>> {
        let mut prefix = vec![TAG_TAG_VALUE];
        keys::push_component(&mut prefix, key.as_bytes());
        self.distinct_components(&prefix)
    }

    /// The distinct components right after `prefix`, in key order: one seek
    /// per distinct value, however many entries each has.
    fn distinct_components(&self, prefix: &[u8]) -> Result<Vec<String>> {
        let mut options = Store::read_options(None);
        options.set_iterate_upper_bound(keys::prefix_end(prefix));
        let mut iter = self.db().raw_iterator_opt(options);
        iter.seek(prefix);
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
