//! `GET /api/v2/dependencies`: service links derived from parent/child spans,
//! by the rules of Zipkin's `DependencyLinker`.
//!
//! Links come from RPC spans: a server (or consumer) span links its remote
//! caller, else its nearest remote ancestor's service, to its own service; a
//! client (or producer) span with no children links its service to the remote
//! one (an uninstrumented callee); a span of no kind with both services named
//! counts as a client. A link is an error when the span carries an `error`
//! tag, or, for a server span whose parent is its client, when the client does.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use super::model::{Kind, ZipkinSpan};

/// One service link, as Zipkin's JSON shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DependencyLink {
    /// The calling service.
    pub parent: String,
    /// The called service.
    pub child: String,
    /// Calls seen.
    pub call_count: u64,
    /// Calls that failed; omitted when zero, as Zipkin does.
    #[serde(skip_serializing_if = "is_zero")]
    pub error_count: u64,
}

fn is_zero(count: &u64) -> bool {
    *count == 0
}

/// Counts links over many traces.
#[derive(Debug, Default)]
pub struct Linker {
    counts: BTreeMap<(String, String), (u64, u64)>,
}

impl Linker {
    fn add(&mut self, parent: &str, child: &str, is_error: bool) {
        let counts = self.counts.entry((parent.to_owned(), child.to_owned())).or_default();
        counts.0 += 1;
        if is_error {
            counts.1 += 1;
        }
    }

    /// Adds the links of one merged trace.
    pub fn put_trace(&mut self, spans: &[ZipkinSpan]) {
        let parents = parent_indexes(spans);
        let mut has_children = vec![false; spans.len()];
        for parent in parents.iter().flatten() {
            has_children[*parent] = true;
        }
        for (index, span) in spans.iter().enumerate() {
            let mut kind = span.kind;
            if kind == Some(Kind::Client) && has_children[index] {
                // The server side names the link better; it is counted there.
                continue;
            }
            let service = span.local_service();
            let remote = span.remote_service();
            if kind.is_none() {
                if service.is_some() && remote.is_some() {
                    kind = Some(Kind::Client);
                } else {
                    continue;
                }
            }
            let (mut parent, child) = match kind {
                Some(Kind::Server | Kind::Consumer) => (remote, service),
                _ => (service, remote),
            };
            let mut is_error = span.tags.contains_key("error");
            if matches!(kind, Some(Kind::Producer | Kind::Consumer)) {
                if let (Some(parent), Some(child)) = (parent, child) {
                    self.add(parent, child, is_error);
                }
                continue;
            }
            let ancestor = remote_ancestor(spans, &parents, index);
            if let Some(ancestor) = ancestor
                && let Some(ancestor_service) = ancestor.local_service()
            {
                if kind == Some(Kind::Client)
                    && let Some(service) = service
                    && ancestor_service != service
                {
                    // A client whose caller's service differs: the hop into it was not recorded.
                    self.add(ancestor_service, service, false);
                }
                if kind == Some(Kind::Server) || parent.is_none() {
                    parent = Some(ancestor_service);
                }
                if !is_error && ancestor.kind == Some(Kind::Client) && span.parent_id.as_deref() == Some(&ancestor.id) {
                    is_error = ancestor.tags.contains_key("error");
                }
            }
            if let (Some(parent), Some(child)) = (parent, child) {
                self.add(parent, child, is_error);
            }
        }
    }

    /// The links counted, sorted by parent then child.
    pub fn links(self) -> Vec<DependencyLink> {
        self.counts
            .into_iter()
            .map(|((parent, child), (call_count, error_count))| DependencyLink {
                parent,
                child,
                call_count,
                error_count,
            })
            .collect()
    }
}

/// Each span's parent in the trace tree, by index. A shared (server) span's
/// parent is the client span with its ID; other spans hang under the span
/// their `parentId` names, the server half when the ID is shared.
fn parent_indexes(spans: &[ZipkinSpan]) -> Vec<Option<usize>> {
    let mut by_id: HashMap<(&str, bool), usize> = HashMap::new();
    for (index, span) in spans.iter().enumerate() {
        by_id.entry((span.id.as_str(), span.shared)).or_insert(index);
    }
    spans
        .iter()
        .enumerate()
        .map(|(index, span)| {
            let parent = if span.shared {
                by_id.get(&(span.id.as_str(), false)).copied()
            } else {
                None
            };
            parent
                .or_else(|| {
                    let parent_id = span.parent_id.as_deref()?;
                    by_id
                        .get(&(parent_id, true))
                        .or_else(|| by_id.get(&(parent_id, false)))
                        .copied()
                })
                .filter(|&parent| parent != index)
        })
        .collect()
}

/// The nearest ancestor with a kind (an RPC or messaging span); never the
/// span itself, however its parent IDs loop.
fn remote_ancestor<'s>(spans: &'s [ZipkinSpan], parents: &[Option<usize>], index: usize) -> Option<&'s ZipkinSpan> {
    let mut current = parents[index];
    // A malformed trace may hold a cycle: never walk more steps than spans.
    for _ in 0..spans.len() {
        let at = current.filter(|&at| at != index)?;
        let ancestor = &spans[at];
        if ancestor.kind.is_some() {
            return Some(ancestor);
        }
        current = parents[at];
    }
    None
}

#[cfg(test)]
#[path = "dependencies_tests.rs"]
mod tests;
