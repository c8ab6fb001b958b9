//! What the span protocols' HTTP ingest shares: reading a request body
//! (size limit, gzip) and storing a decoded batch durably.

use std::io::Read as _;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, header};
use tracekeep_proto::TraceEvent;
use tracekeep_store::{EventKind, Store, StoreError};

use crate::body_guard::{self, INGEST_LIMIT_NAME};
use crate::error::ApiError;
use crate::metrics::Metrics;

/// The request's `Content-Type` as sent (`absent` when there is none), and
/// its media type lowercased without parameters (`application/json` from
/// `Application/JSON; charset=utf-8`).
pub(crate) fn content_type<'a>(headers: &'a HeaderMap, absent: &'a str) -> (&'a str, String) {
    let sent = headers
        .get(header::CONTENT_TYPE)
        .map(|value| value.to_str().unwrap_or("(not text)"))
        .unwrap_or(absent);
    let media_type = sent.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    (sent, media_type)
}

/// The request body, gunzipped when sent with `Content-Encoding: gzip`,
/// refused with 413 past `limit` bytes either way, a declared length over it
/// before a byte is read.
pub(crate) async fn read_body(headers: &HeaderMap, body: Body, limit: usize) -> Result<Bytes, ApiError> {
    if body_guard::declared_length(headers).is_some_and(|length| length > limit as u64) {
        return Err(body_guard::too_large(limit, INGEST_LIMIT_NAME));
    }
    let bytes = body_guard::collect(body, limit, INGEST_LIMIT_NAME).await?;
    let encoding = headers
        .get(header::CONTENT_ENCODING)
        .map(|value| value.to_str().unwrap_or("(not text)").trim().to_ascii_lowercase());
    match encoding.as_deref() {
        None | Some("" | "identity") => Ok(bytes),
        Some("gzip") => {
            let mut plain = Vec::with_capacity(bytes.len() * 4);
            let read = flate2::read::GzDecoder::new(bytes.as_ref())
                .take(limit as u64 + 1)
                .read_to_end(&mut plain);
            match read {
                Err(error) => Err(ApiError::BadRequest(format!("bad gzip body: {error}"))),
                Ok(_) if plain.len() > limit => Err(body_guard::too_large(limit, INGEST_LIMIT_NAME)),
                Ok(_) => Ok(Bytes::from(plain)),
            }
        }
        Some(other) => Err(ApiError::BadRequest(format!(
            "unsupported content encoding {other:?}: use gzip or none"
        ))),
    }
}

/// Stores `events` in one commit and returns once they are durable. A full
/// disk (the store's reserve reached) is [`ApiError::Unavailable`], which
/// clients retry.
pub(crate) async fn store_events(
    store: &Arc<Store>,
    metrics: &Metrics,
    protocol: &'static str,
    events: Vec<TraceEvent>,
) -> Result<(), ApiError> {
    if events.is_empty() {
        return Ok(());
    }
    let mut kinds: Vec<(EventKind, u64)> = Vec::new();
    for event in &events {
        match kinds.iter_mut().find(|(kind, _)| *kind == event.kind()) {
            Some((_, count)) => *count += 1,
            None => kinds.push((event.kind(), 1)),
        }
    }
    let (done, outcome) = tokio::sync::oneshot::channel();
    store.append_then(events, move |result| {
        let _ = done.send(result);
    });
    match outcome.await {
        Ok(Ok(())) => {
            for (kind, count) in kinds {
                metrics.count_ingested_n(protocol, kind, count);
            }
            Ok(())
        }
        Ok(Err(error @ (StoreError::DiskFull { .. } | StoreError::Unavailable { .. }))) => {
            Err(ApiError::Unavailable(error.to_string()))
        }
        Ok(Err(error)) => Err(ApiError::from(error)),
        Err(_) => Err(ApiError::Internal("the store stopped before answering".into())),
    }
}
