//! `GET /api/v2/traces`: Zipkin's trace search, with its parameters, defaults
//! and checks, answered from the store's span index.
//!
//! The index offers candidate traces newest first (to the second); each is
//! loaded, merged and tested here against the whole request, so the index only
//! has to be complete, never exact.

use tracekeep_store::{SpanSearch, Store, StoreError};

use super::model::ZipkinSpan;
use super::query::load_trace;
use crate::error::ApiError;
use crate::params::Params;

/// Zipkin's default `lookback` (`QUERY_LOOKBACK`): one day, in milliseconds.
pub const DEFAULT_LOOKBACK_MS: u64 = 86_400_000;
/// Zipkin's default `limit`.
pub const DEFAULT_LIMIT: usize = 10;

/// One `annotationQuery` condition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Condition {
    /// A bare word: an annotation's value or a tag's key.
    Word(String),
    /// `key=value`: a tag with exactly this value.
    Tag(String, String),
}

/// A parsed `/api/v2/traces` request (names lowercase, as Zipkin compares them).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceQuery {
    /// `serviceName`.
    pub service: Option<String>,
    /// `remoteServiceName`.
    pub remote_service: Option<String>,
    /// `spanName` (`all` means none).
    pub span_name: Option<String>,
    /// `annotationQuery`, split on ` and `.
    pub conditions: Vec<Condition>,
    /// `minDuration`, microseconds.
    pub min_duration: Option<u64>,
    /// `maxDuration`, microseconds.
    pub max_duration: Option<u64>,
    /// `endTs`, epoch milliseconds.
    pub end_ts: u64,
    /// `lookback`, milliseconds.
    pub lookback: u64,
    /// `limit`.
    pub limit: usize,
}

/// A positive integer parameter; `None` when absent or empty.
pub(super) fn positive(params: &Params, name: &str) -> Result<Option<u64>, ApiError> {
    match params.get(name).map(str::trim) {
        None | Some("") => Ok(None),
        Some(text) => match text.parse::<i128>() {
            Ok(value) if value <= 0 => Err(ApiError::BadRequest(format!("{name} <= 0"))),
            Ok(value) => u64::try_from(value)
                .map(Some)
                .map_err(|_| ApiError::BadRequest(format!("{name}: {text} is out of range"))),
            Err(_) => Err(ApiError::BadRequest(format!("{name}: {text:?} is not a number"))),
        },
    }
}

fn name(params: &Params, key: &str) -> Option<String> {
    params
        .get(key)
        .map(|value| value.trim().to_lowercase())
        .filter(|value| !value.is_empty())
}

/// Zipkin's `annotationQuery` grammar: conditions joined by ` and `; a
/// condition with `=` is a tag and its value, one without is a word.
pub fn parse_annotation_query(text: &str) -> Vec<Condition> {
    let mut conditions = Vec::new();
    for part in text.split(" and ") {
        let condition = match part.split_once('=') {
            Some((key, value)) => Condition::Tag(key.trim().to_owned(), value.trim().to_owned()),
            None => Condition::Word(part.trim().to_owned()),
        };
        let key = match &condition {
            Condition::Word(word) | Condition::Tag(word, _) => word,
        };
        if !key.is_empty() && !conditions.contains(&condition) {
            conditions.push(condition);
        }
    }
    conditions
}

impl TraceQuery {
    /// Reads and checks the request's parameters; `now_ms` is the default `endTs`.
    pub fn parse(params: &Params, now_ms: u64) -> Result<TraceQuery, ApiError> {
        let limit =
            positive(params, "limit")?.map_or(DEFAULT_LIMIT, |limit| usize::try_from(limit).unwrap_or(usize::MAX));
        let min_duration = positive(params, "minDuration")?;
        let max_duration = positive(params, "maxDuration")?;
        match (min_duration, max_duration) {
            (None, Some(_)) => {
                return Err(ApiError::BadRequest(
                    "maxDuration is only valid with minDuration".into(),
                ));
            }
            (Some(min), Some(max)) if max < min => {
                return Err(ApiError::BadRequest("maxDuration < minDuration".into()));
            }
            _ => {}
        }
        let span_name = name(params, "spanName").filter(|name| name != "all");
        Ok(TraceQuery {
            service: name(params, "serviceName"),
            remote_service: name(params, "remoteServiceName"),
            span_name,
            conditions: parse_annotation_query(params.get("annotationQuery").unwrap_or_default()),
            min_duration,
            max_duration,
            end_ts: positive(params, "endTs")?.unwrap_or(now_ms),
            lookback: positive(params, "lookback")?.unwrap_or(DEFAULT_LOOKBACK_MS),
            limit,
        })
    }

    /// The window, as epoch microseconds (inclusive).
    fn window_micros(&self) -> (u64, u64) {
        let end = self.end_ts.saturating_mul(1000);
        let start = self.end_ts.saturating_sub(self.lookback).saturating_mul(1000);
        (start, end)
    }

    /// What the store's index is asked.
    pub fn to_search(&self) -> SpanSearch {
        let (start, end) = self.window_micros();
        let nanos = |micros: u64| i64::try_from(micros.saturating_mul(1000)).unwrap_or(i64::MAX);
        SpanSearch {
            service: self.service.clone(),
            span_name: self.span_name.clone(),
            remote_service: self.remote_service.clone(),
            terms: self
                .conditions
                .iter()
                .map(|condition| match condition {
                    Condition::Word(word) => word.clone(),
                    Condition::Tag(key, value) => format!("{key}={value}"),
                })
                .collect(),
            start_nanos: nanos(start),
            end_nanos: nanos(end),
        }
    }

    fn span_matches(&self, span: &ZipkinSpan) -> bool {
        let service = span.local_service().unwrap_or_default();
        let remote = span.remote_service().unwrap_or_default();
        self.service.as_deref().is_none_or(|wanted| wanted == service)
            && self.remote_service.as_deref().is_none_or(|wanted| wanted == remote)
            && self.span_name.as_deref().is_none_or(|wanted| wanted == span.name)
            && self.min_duration.is_none_or(|min| span.duration >= min)
            && self.max_duration.is_none_or(|max| span.duration <= max)
            && self.conditions.iter().all(|condition| match condition {
                Condition::Word(word) => {
                    span.tags.contains_key(word) || span.annotations.iter().any(|a| &a.value == word)
                }
                Condition::Tag(key, value) => span.tags.get(key) == Some(value),
            })
    }

    /// Whether a trace (merged, names lowercase) matches: its timestamp (its
    /// root's, else its earliest) lies in the window, and one of its spans
    /// meets every condition of the request.
    pub fn matches(&self, spans: &[ZipkinSpan]) -> bool {
        let (start, end) = self.window_micros();
        let timestamp = trace_timestamp(spans);
        timestamp != 0 && (start..=end).contains(&timestamp) && spans.iter().any(|span| self.span_matches(span))
    }
}

/// A trace's timestamp as Zipkin takes it: its root span's, else its earliest.
pub fn trace_timestamp(spans: &[ZipkinSpan]) -> u64 {
    let timed = spans.iter().filter(|span| span.timestamp != 0);
    match timed.clone().find(|span| span.parent_id.is_none()) {
        Some(root) => root.timestamp,
        None => timed.map(|span| span.timestamp).min().unwrap_or(0),
    }
}

/// The traces matching `query`, newest first, at most `query.limit`.
pub fn find_traces(store: &Store, query: &TraceQuery) -> Result<Vec<Vec<ZipkinSpan>>, StoreError> {
    let mut found = Vec::new();
    store.span_search_candidates(&query.to_search(), |trace_id| {
        let spans = load_trace(store, trace_id)?;
        if query.matches(&spans) {
            found.push(spans);
        }
        Ok(found.len() < query.limit)
    })?;
    found.sort_by_key(|spans| std::cmp::Reverse(trace_timestamp(spans)));
    Ok(found)
}

/// Every trace whose timestamp lies in `[end_ts - lookback, end_ts]` (epoch
/// milliseconds), for the dependency links: a search with no condition and
/// no limit.
pub fn traces_in_window(store: &Store, end_ts: u64, lookback: u64) -> Result<Vec<Vec<ZipkinSpan>>, StoreError> {
    let query = TraceQuery {
        service: None,
        remote_service: None,
        span_name: None,
        conditions: Vec::new(),
        min_duration: None,
        max_duration: None,
        end_ts,
        lookback,
        limit: usize::MAX,
    };
    find_traces(store, &query)
}

#[cfg(test)]
#[path = "search_tests.rs"]
mod tests;
