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

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use tracekeep_proto::{pb, span};

use crate::engine::EngineBatch;
use crate::keys::{self, TAG_SPAN_NAME, TAG_SPAN_REMOTE, TAG_SPAN_SERVICE, TAG_SPAN_TIME, TAG_TAG_VALUE};
use crate::term_set::encode as encode_term_set;

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
pub(crate) fn write_entries(batch: &mut dyn EngineBatch, index: &IndexEntries) {
    for (key, terms) in index.iter() {
        match terms {
            Some(terms) => batch.merge(key, &terms),
            None => batch.put(key, &[]),
        }
    }
}
