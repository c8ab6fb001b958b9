//! Zipkin's v2 query API: the same paths, parameters, JSON and status codes.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tracekeep_proto::TraceEvent;
use tracekeep_store::Store;

use super::ZipkinState;
use super::merge::merge;
use super::model::{ZipkinSpan, normalize_trace_id};
use crate::error::{ApiError, blocking};
use crate::params::Params;

/// The query routes.
pub(super) fn routes() -> Router<ZipkinState> {
    Router::new()
        .route("/api/v2/trace/{trace_id}", get(trace))
        .route("/api/v2/traceMany", get(trace_many))
        .route("/health", get(health))
}

fn json(body: &impl serde::Serialize) -> Result<Response, ApiError> {
    let bytes =
        serde_json::to_vec(body).map_err(|error| ApiError::Internal(format!("rendering JSON failed: {error}")))?;
    Ok((StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], bytes).into_response())
}

fn params(query: Option<&str>) -> Result<Params, ApiError> {
    let mut params = Params::default();
    params.add(query.unwrap_or_default().as_bytes())?;
    Ok(params)
}

fn trace_id(text: &str) -> Result<String, ApiError> {
    normalize_trace_id(text).map_err(|error| ApiError::BadRequest(format!("traceId {text:?} {error}")))
}

/// One trace's spans as Zipkin returns them, merged; empty when unknown.
pub(super) fn load_trace(store: &Store, trace_id: &str) -> Result<Vec<ZipkinSpan>, tracekeep_store::StoreError> {
    let events = match store.query(trace_id) {
        Ok(events) => events,
        Err(tracekeep_store::StoreError::TraceNotFound { .. }) => return Ok(Vec::new()),
        Err(error) => return Err(error),
    };
    let spans = events
        .iter()
        .filter_map(|stored| match &stored.event {
            TraceEvent::Span(span) => Some(ZipkinSpan::from_pb(span)),
            _ => None,
        })
        .collect();
    Ok(merge(spans))
}

async fn trace(State(state): State<ZipkinState>, Path(text): Path<String>) -> Result<Response, ApiError> {
    let trace_id = trace_id(&text)?;
    let store = Arc::clone(&state.store);
    let id = trace_id.clone();
    let spans = blocking(move || load_trace(&store, &id)).await?;
    if spans.is_empty() {
        return Err(ApiError::NotFound(format!("trace {trace_id} not found")));
    }
    json(&spans)
}

async fn trace_many(State(state): State<ZipkinState>, RawQuery(query): RawQuery) -> Result<Response, ApiError> {
    let params = params(query.as_deref())?;
    let ids = params.get("traceIds").unwrap_or_default();
    let ids = ids
        .split(',')
        .map(str::trim)
        .filter(|id| !id.is_empty())
        .map(trace_id)
        .collect::<Result<Vec<_>, _>>()?;
    if ids.is_empty() {
        return Err(ApiError::BadRequest(
            "traceIds: at least one trace ID is required".into(),
        ));
    }
    let store = Arc::clone(&state.store);
    let traces = blocking(move || {
        let mut traces = Vec::with_capacity(ids.len());
        for id in &ids {
            let spans = load_trace(&store, id)?;
            if !spans.is_empty() {
                traces.push(spans);
            }
        }
        Ok(traces)
    })
    .await?;
    json(&traces)
}

/// Zipkin's health document: UP while the store answers.
async fn health(State(state): State<ZipkinState>) -> Result<Response, ApiError> {
    let store = Arc::clone(&state.store);
    let status = match blocking(move || store.stats()).await {
        Ok(_) => "UP",
        Err(_) => "DOWN",
    };
    let body = serde_json::json!({
        "status": status,
        "zipkin": {
            "status": status,
            "details": { "tracekeep": { "status": status } }
        }
    });
    let code = if status == "UP" {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let bytes = serde_json::to_vec(&body).map_err(|error| ApiError::Internal(error.to_string()))?;
    Ok((code, [(header::CONTENT_TYPE, "application/json")], bytes).into_response())
}
