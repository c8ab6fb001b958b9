//! The span index: entries that lead from what a trace search asks (service,
//! span name, remote service, a tag or annotation, a time window) to trace IDs,
//! written in the same batch as the spans and removed with their trace.
//!
//! Every entry is `tag component... second trace` (see [`crate::keys`]), with
//! an 8-byte record as its value (header and CRC, no payload). The second is
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

use std::collections::HashSet;

use rocksdb::ReadOptions;
use tracekeep_proto::{pb, span};

use crate::error::{Result, StoreError};
use crate::keys::{
    self, TAG_SPAN_NAME, TAG_SPAN_REMOTE, TAG_SPAN_SERVICE, TAG_SPAN_TERM, TAG_SPAN_TIME, past_component,
    span_index_key, span_index_prefix,
};
use crate::records;
use crate::store::Store;

/// The longest search term (tag key, `key=value`, annotation) indexed, in bytes.
pub const MAX_INDEXED_TERM_LEN: usize = 256;

/// The second a span started in, as the index keeps it (0 when unknown).
fn span_second(span: &pb::Span) -> u64 {
    let nanos = span.base.as_ref().map_or(0, |base| base.tso);
    u64::try_from(nanos).unwrap_or(0) / 1_000_000_000
}

/// Adds the index keys of `span` (of trace `trace_id`) to `keys`.
/// Writes, deletes, the format-3 upgrade and verify all derive them here.
pub(crate) fn add_keys(span: &pb::Span, trace_id: &str, keys: &mut HashSet<Vec<u8>>) {
    let second = span_second(span);
    let service = span::service_name(span).to_lowercase();
    let name = span.operation.to_lowercase();
    let mut add = |tag: u8, components: &[&str]| {
        keys.insert(span_index_key(&span_index_prefix(tag, components), second, trace_id));
    };
    add(TAG_SPAN_TIME, &[]);
    add(TAG_SPAN_SERVICE, &[&service]);
    add(TAG_SPAN_NAME, &[&service, &name]);
    if let Some(remote) = span::remote_service_name(span) {
        add(TAG_SPAN_REMOTE, &[&service, &remote.to_lowercase()]);
    }
    let mut add_term = |term: &str| {
        if term.len() <= MAX_INDEXED_TERM_LEN {
            add(TAG_SPAN_TERM, &[term]);
        }
    };
    let mut pair = String::new();
    for (key, value) in &span.tags {
        add_term(key);
        pair.clear();
        pair.push_str(key);
        pair.push('=');
        pair.push_str(value);
        add_term(&pair);
    }
    for annotation in &span.annotations {
        add_term(&annotation.value);
    }
    for log in &span.logs {
        add_term(&span::log_text(log));
    }
}

/// The index entries (key and record) of a batch's spans, each once.
pub(crate) fn entries<'s>(spans: impl IntoIterator<Item = (&'s pb::Span, &'s str)>) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut keys = HashSet::new();
    for (span, trace_id) in spans {
        add_keys(span, trace_id, &mut keys);
    }
    keys.into_iter()
        .map(|key| {
            let value = records::encode(&key, records::KIND_SPAN_INDEX, &[]);
            (key, value)
        })
        .collect()
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
