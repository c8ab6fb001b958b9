//! Trace search over the span index (`crate::span_index`): candidate traces
//! for a search, and the lists of services, span names, remote services and
//! tag values.

use std::collections::HashSet;

use crate::engine::KeyRange;
use crate::error::{Result, StoreError};
use crate::keys::{
    self, TAG_SPAN_NAME, TAG_SPAN_REMOTE, TAG_SPAN_SERVICE, TAG_SPAN_TIME, TAG_TAG_VALUE, past_component,
    span_index_key, span_index_prefix,
};
use crate::span_index::term_hash;
use crate::store::Store;
use crate::term_set::holds as term_set_holds;

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
    ///
    /// On a bucket shared by several nodes, every node's index is walked at
    /// once, newest second first across them all.
    pub fn span_search_candidates(
        &self,
        search: &SpanSearch,
        mut visit: impl FnMut(&str) -> Result<bool>,
    ) -> Result<()> {
        if search.end_nanos < search.start_nanos {
            return Ok(());
        }
        let cluster = self.cluster_peers();
        let stores: Vec<&Store> = match &cluster {
            Some((own_id, peers)) => crate::store::members(own_id, self, peers)
                .into_iter()
                .map(|(_, store)| store)
                .collect(),
            None => vec![self],
        };
        let mut walks: Vec<CandidateWalk<'_>> = stores.iter().map(|store| CandidateWalk::new(store, search)).collect();
        let mut heads = Vec::with_capacity(walks.len());
        let mut offered = HashSet::new();
        for walk in &mut walks {
            heads.push(walk.next(&offered)?);
        }
        loop {
            // The newest head; on a tie the first node's.
            let newest = heads
                .iter()
                .enumerate()
                .filter_map(|(at, head)| head.as_ref().map(|(second, _)| (*second, at)))
                .max_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
            let Some((_, at)) = newest else {
                return Ok(());
            };
            let head = match (heads.get_mut(at), walks.get_mut(at)) {
                (Some(head), Some(walk)) => std::mem::replace(head, walk.next(&offered)?),
                _ => None,
            };
            let Some((_, trace_id)) = head else {
                continue;
            };
            // Another node may have offered it since this head was read.
            if offered.contains(&trace_id) {
                continue;
            }
            if !visit(&trace_id)? {
                return Ok(());
            }
            offered.insert(trace_id);
        }
    }

    /// The term set stored under `prefix second trace`, if that entry exists.
    fn term_set_at(&self, prefix: &[u8], second: u64, trace_id: &str) -> Result<Option<Vec<u8>>> {
        let key = span_index_key(prefix, second, trace_id);
        self.engine()
            .get(&key)
            .map_err(|error| StoreError::engine_at(&key, "reading the span index", error))
    }

    /// Whether `trace` has an entry under each of `prefixes` at `second`: one
    /// point read each, far cheaper than loading a trace that cannot match.
    fn has_span_entries(&self, prefixes: &[Vec<u8>], second: u64, trace_id: &str) -> Result<bool> {
        for prefix in prefixes {
            let key = span_index_key(prefix, second, trace_id);
            let found = self
                .engine()
                .contains(&key)
                .map_err(|error| StoreError::engine_at(&key, "reading the span index", error))?;
            if !found {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Every service that recorded a stored span, lowercase, sorted (on a
    /// cluster, on any node; so are the lists below).
    pub fn span_services(&self) -> Result<Vec<String>> {
        self.distinct_components_everywhere(&[TAG_SPAN_SERVICE])
    }

    /// The span names `service` recorded, lowercase, sorted.
    pub fn span_names(&self, service: &str) -> Result<Vec<String>> {
        let prefix = span_index_prefix(TAG_SPAN_NAME, &[&service.to_lowercase()]);
        self.distinct_components_everywhere(&prefix)
    }

    /// The remote services `service` called, lowercase, sorted.
    pub fn span_remote_services(&self, service: &str) -> Result<Vec<String>> {
        let prefix = span_index_prefix(TAG_SPAN_REMOTE, &[&service.to_lowercase()]);
        self.distinct_components_everywhere(&prefix)
    }

    /// The values stored spans carried for tag `key`, sorted, when `key` is
    /// one of [`crate::StoreOptions::autocomplete_keys`] (a value is recorded
    /// when a span with it is stored, and stays after its traces are deleted,
    /// until a truncate).
    pub fn span_tag_values(&self, key: &str) -> Result<Vec<String>> {
        let mut prefix = vec![TAG_TAG_VALUE];
        keys::push_component(&mut prefix, key.as_bytes());
        self.distinct_components_everywhere(&prefix)
    }

    /// [`Store::distinct_components`] of this store and every other node of
    /// its cluster, sorted, each once.
    fn distinct_components_everywhere(&self, prefix: &[u8]) -> Result<Vec<String>> {
        let mut found = self.distinct_components(prefix)?;
        if let Some((_, peers)) = self.cluster_peers() {
            for peer in peers {
                found.extend(peer.store.distinct_components(prefix)?);
            }
            found.sort();
            found.dedup();
        }
        Ok(found)
    }

    /// The distinct components right after `prefix`, in key order: one seek
    /// per distinct value, however many entries each has.
    fn distinct_components(&self, prefix: &[u8]) -> Result<Vec<String>> {
        let mut iter = self.engine().iter(KeyRange::prefix(prefix));
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

/// One store's walk of the span index for a search: its candidates, newest
/// second first ([`Store::span_search_candidates`]).
struct CandidateWalk<'s> {
    store: &'s Store,
    iter: Box<dyn crate::engine::EngineIter + 's>,
    /// The entries walked, and the others a candidate must have.
    prefix: Vec<u8>,
    required: Vec<Vec<u8>>,
    /// Where the search's terms are checked, and their hashes.
    term_set_prefix: Vec<u8>,
    terms: Vec<u32>,
}

impl<'s> CandidateWalk<'s> {
    fn new(store: &'s Store, search: &SpanSearch) -> CandidateWalk<'s> {
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
        let mut iter = store.engine().iter(KeyRange::between(lower.clone(), upper));
        iter.seek(&lower);
        CandidateWalk {
            store,
            iter,
            prefix,
            required,
            term_set_prefix,
            terms,
        }
    }

    /// The next candidate not in `offered`, with its second; `None` at the
    /// end of the window.
    fn next(&mut self, offered: &HashSet<String>) -> Result<Option<(u64, String)>> {
        while let Some((key, value)) = self.iter.item() {
            let (second, trace_id) = keys::take_span_second_and_trace(key.get(self.prefix.len()..).unwrap_or_default())
                .map_err(|error| StoreError::corrupted(key, error.to_string()))?;
            let candidate = !offered.contains(&trace_id)
                && self.store.has_span_entries(&self.required, second, &trace_id)?
                && (self.terms.is_empty()
                    || if self.prefix == self.term_set_prefix {
                        term_set_holds(value, &self.terms)
                    } else {
                        self.store
                            .term_set_at(&self.term_set_prefix, second, &trace_id)?
                            .is_some_and(|set| term_set_holds(&set, &self.terms))
                    });
            self.iter.next();
            if candidate {
                return Ok(Some((second, trace_id)));
            }
        }
        self.iter
            .status()
            .map_err(|error| StoreError::engine_at(&self.prefix, "walking the span index", error))?;
        Ok(None)
    }
}
