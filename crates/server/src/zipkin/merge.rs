//! Assembling a trace as Zipkin does (`zipkin2.internal.Trace.merge`): spans
//! sent in pieces are merged, a server span sharing its client's ID keeps its
//! own entry and gets `shared` and its parent filled in, and every span takes
//! the trace's longest (128-bit) trace ID.

use std::cmp::Ordering;

use super::model::{Endpoint, Kind, ZipkinSpan};

/// Zipkin's order for merging: by span ID, then unshared before shared (and
/// clients first among unshared), then spans without an endpoint first.
fn cleanup_order(left: &ZipkinSpan, right: &ZipkinSpan) -> Ordering {
    left.id
        .cmp(&right.id)
        .then_with(|| shared_order(left, right))
        .then_with(|| endpoint_order(left.local_endpoint.as_ref(), right.local_endpoint.as_ref()))
}

fn shared_order(left: &ZipkinSpan, right: &ZipkinSpan) -> Ordering {
    match (left.shared, right.shared) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        (false, false) => {
            let left_client = left.kind == Some(Kind::Client);
            let right_client = right.kind == Some(Kind::Client);
            right_client.cmp(&left_client)
        }
    }
}

/// Absent values sort last within a present endpoint, as Zipkin's null-safe compare.
fn text_order(left: &str, right: &str) -> Ordering {
    match (left.is_empty(), right.is_empty()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        (false, false) => left.cmp(right),
    }
}

fn endpoint_order(left: Option<&Endpoint>, right: Option<&Endpoint>) -> Ordering {
    match (left, right) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
        (Some(left), Some(right)) => text_order(&left.service_name, &right.service_name)
            .then_with(|| text_order(&left.ipv4, &right.ipv4))
            .then_with(|| text_order(&left.ipv6, &right.ipv6)),
    }
}

/// Whether endpoints seen so far for one span ID could all be the same host.
#[derive(Default)]
struct EndpointTracker {
    endpoint: Endpoint,
}

impl EndpointTracker {
    fn try_merge(&mut self, endpoint: Option<&Endpoint>) -> bool {
        let Some(endpoint) = endpoint else { return true };
        let mine = &mut self.endpoint;
        let clash = |a: &str, b: &str| !a.is_empty() && !b.is_empty() && a != b;
        if clash(&mine.service_name, &endpoint.service_name)
            || clash(&mine.ipv4, &endpoint.ipv4)
            || clash(&mine.ipv6, &endpoint.ipv6)
            || (mine.port != 0 && endpoint.port != 0 && mine.port != endpoint.port)
        {
            return false;
        }
        if mine.service_name.is_empty() {
            mine.service_name.clone_from(&endpoint.service_name);
        }
        if mine.ipv4.is_empty() {
            mine.ipv4.clone_from(&endpoint.ipv4);
        }
        if mine.ipv6.is_empty() {
            mine.ipv6.clone_from(&endpoint.ipv6);
        }
        if mine.port == 0 {
            mine.port = endpoint.port;
        }
        true
    }
}

/// Merges the spans of one trace, as Zipkin's query API returns them.
pub fn merge(mut spans: Vec<ZipkinSpan>) -> Vec<ZipkinSpan> {
    if spans.len() <= 1 {
        return spans;
    }
    spans.sort_by(cleanup_order);
    let trace_id = spans
        .iter()
        .map(|span| &span.trace_id)
        .find(|id| id.len() == 32)
        .unwrap_or(&spans[0].trace_id)
        .clone();

    let mut merged: Vec<ZipkinSpan> = Vec::with_capacity(spans.len());
    let mut pending = spans.into_iter().peekable();
    while let Some(mut span) = pending.next() {
        span.trace_id.clone_from(&trace_id);
        let mut tracker: Option<EndpointTracker> = None;
        while let Some(next) = pending.peek() {
            if next.id != span.id {
                break;
            }
            let tracker = tracker.get_or_insert_with(|| {
                let mut tracker = EndpointTracker::default();
                tracker.try_merge(span.local_endpoint.as_ref());
                tracker
            });
            // Merge only what looks like one span sent in pieces.
            if next.shared == span.shared && tracker.try_merge(next.local_endpoint.as_ref()) {
                if let Some(next) = pending.next() {
                    span.merge(&next);
                }
                continue;
            }
            break;
        }
        if let Some(last) = merged.last()
            && last.id == span.id
        {
            // Some instrumentation leaves `shared` off a server span that reuses its client's ID.
            if last.kind == Some(Kind::Client) && span.kind == Some(Kind::Server) {
                span.shared = true;
            }
            // A shared server span that was not told its parent takes the client's.
            if span.shared && span.parent_id.is_none() && last.parent_id.is_some() {
                span.parent_id.clone_from(&last.parent_id);
            }
        }
        merged.push(span);
    }
    merged
}
