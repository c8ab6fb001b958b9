//! Zipkin: span ingest (v1 Thrift and JSON, v2 JSON and proto3) and the v2
//! query API, over the same store as DM's events.
//!
//! Every decoder yields [`model::ZipkinSpan`]s, stored as `pb.Span` events
//! under their trace ID (lowercase hex), so Zipkin spans also show in
//! `/events/query` and the dump tool, and spans from `UploadSpans` show in
//! the Zipkin API.

pub mod dependencies;
pub mod merge;
pub mod model;
pub mod proto3;
pub mod query;
pub mod search;
pub mod thrift;
pub mod v1;
pub mod v1_json;
pub mod v2_json;

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use tokio::sync::Semaphore;
use tracekeep_proto::TraceEvent;
use tracekeep_store::Store;

use crate::error::ApiError;
use crate::ingest;
use crate::metrics::Metrics;
use model::ZipkinSpan;

/// Why a request body is refused; the text names the span when one is at fault.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DecodeError(String);

impl DecodeError {
    /// An error about the body as a whole.
    pub fn new(reason: impl Into<String>) -> DecodeError {
        DecodeError(reason.into())
    }

    /// An error about the span at `index` of the list.
    pub fn span(index: usize, reason: impl std::fmt::Display) -> DecodeError {
        DecodeError(format!("span {index}: {reason}"))
    }
}

/// What the Zipkin handlers share.
#[derive(Clone, Debug)]
pub struct ZipkinState {
    /// The store.
    pub store: Arc<Store>,
    /// Largest request body accepted (after gzip is undone, too), in bytes.
    pub max_request_size: usize,
    /// Places for uploads, shared with DM's gRPC ingest.
    pub uploads: Arc<Semaphore>,
    /// Tag keys whose values `/api/v2/autocompleteValues` lists.
    pub autocomplete_keys: Arc<Vec<String>>,
    /// Where ingest is counted.
    pub metrics: Arc<Metrics>,
}

/// Zipkin's routes: ingest and the v2 query API.
pub fn router(state: ZipkinState) -> Router {
    Router::new()
        .route("/api/v2/spans", post(ingest_v2))
        .route("/api/v1/spans", post(ingest_v1))
        .merge(query::routes())
        .with_state(state)
}

/// The wire formats a span list can arrive in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    Json,
    Proto3,
    Thrift,
}

fn format(headers: &HeaderMap, version: u8) -> Result<Format, ApiError> {
    let (content_type, media_type) = ingest::content_type(headers, "application/json");
    match (media_type.as_str(), version) {
        // Zipkin reads a body without a content type as JSON.
        ("application/json" | "", _) => Ok(Format::Json),
        ("application/x-protobuf" | "application/protobuf", 2) => Ok(Format::Proto3),
        ("application/x-thrift" | "application/vnd.apache.thrift.binary", 1) => Ok(Format::Thrift),
        _ => Err(ApiError::BadRequest(format!(
            "unsupported content type {content_type:?} for /api/v{version}/spans: use {}",
            if version == 2 {
                "application/json or application/x-protobuf"
            } else {
                "application/json or application/x-thrift"
            }
        ))),
    }
}

async fn ingest_v2(State(state): State<ZipkinState>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let result = async {
        let format = format(&parts.headers, 2)?;
        let _place = state.uploads.acquire().await.ok();
        let body = ingest::read_body(&parts.headers, body, state.max_request_size).await?;
        let spans = match format {
            Format::Proto3 => proto3::decode(&body),
            _ => v2_json::decode(&body),
        }
        .map_err(|error| ApiError::BadRequest(error.to_string()))?;
        store_spans(&state.store, &state.metrics, spans).await
    }
    .await;
    accepted(result, "v2")
}

async fn ingest_v1(State(state): State<ZipkinState>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let result = async {
        let format = format(&parts.headers, 1)?;
        let _place = state.uploads.acquire().await.ok();
        let body = ingest::read_body(&parts.headers, body, state.max_request_size).await?;
        let spans = match format {
            Format::Thrift => thrift::decode(&body),
            _ => v1_json::decode(&body),
        }
        .map_err(|error| ApiError::BadRequest(error.to_string()))?;
        let spans = spans.iter().flat_map(v1::to_v2).collect();
        store_spans(&state.store, &state.metrics, spans).await
    }
    .await;
    accepted(result, "v1")
}

/// Zipkin's answers: `202 Accepted` once stored, the error's status otherwise.
fn accepted(result: Result<usize, ApiError>, version: &str) -> Response {
    match result {
        Ok(count) => {
            tracing::debug!(count, version, "stored Zipkin spans");
            StatusCode::ACCEPTED.into_response()
        }
        Err(error) => {
            tracing::warn!(%error, version, "Zipkin spans refused");
            error.into_response()
        }
    }
}

/// Stores the spans in one commit; answers once they are durable.
async fn store_spans(store: &Arc<Store>, metrics: &Metrics, spans: Vec<ZipkinSpan>) -> Result<usize, ApiError> {
    let count = spans.len();
    let events = spans.into_iter().map(|span| TraceEvent::Span(span.into_pb())).collect();
    ingest::store_events(store, metrics, "zipkin", events).await?;
    Ok(count)
}

#[cfg(test)]
#[path = "zipkin/decode_tests.rs"]
mod decode_tests;
