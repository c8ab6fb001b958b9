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
use super::dependencies::Linker;
use super::merge::merge;
use super::model::{ZipkinSpan, normalize_trace_id};
use super::search::{self, TraceQuery};
use crate::error::{ApiError, blocking, trace_read};
use crate::params::Params;

/// The query routes.
pub(super) fn routes() -> Router<ZipkinState> {
    Router::new()
        .route("/api/v2/trace/{trace_id}", get(trace))
        .route("/api/v2/traceMany", get(trace_many))
        .route("/api/v2/traces", get(traces))
        .route("/api/v2/services", get(services))
        .route("/api/v2/spans", get(span_names))
        .route("/api/v2/remoteServices", get(remote_services))
        .route("/api/v2/dependencies", get(dependencies))
        .route("/api/v2/autocompleteKeys", get(autocomplete_keys))
        .route("/api/v2/autocompleteValues", get(autocomplete_values))
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
    let id = trace_id.clone();
    let spans = trace_read(&state.store, move |store| load_trace(store, &id)).await?;
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

fn now_millis() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX))
}

async fn traces(State(state): State<ZipkinState>, RawQuery(query): RawQuery) -> Result<Response, ApiError> {
    let query = TraceQuery::parse(&params(query.as_deref())?, now_millis())?;
    let store = Arc::clone(&state.store);
    let traces = blocking(move || search::find_traces(&store, &query)).await?;
    json(&traces)
}

async fn services(State(state): State<ZipkinState>) -> Result<Response, ApiError> {
    let store = Arc::clone(&state.store);
    json(&blocking(move || store.span_services()).await?)
}

/// The `serviceName` parameter of the name lists, which Zipkin requires;
/// `None` when it is given empty, which Zipkin answers with an empty list.
fn service_param(query: Option<&str>) -> Result<Option<String>, ApiError> {
    let params = params(query)?;
    match params.get("serviceName").map(str::trim) {
        Some("") => Ok(None),
        Some(service) => Ok(Some(service.to_lowercase())),
        None => Err(ApiError::BadRequest("serviceName is required".into())),
    }
}

async fn span_names(State(state): State<ZipkinState>, RawQuery(query): RawQuery) -> Result<Response, ApiError> {
    let Some(service) = service_param(query.as_deref())? else {
        return json(&Vec::<String>::new());
    };
    let store = Arc::clone(&state.store);
    json(&blocking(move || store.span_names(&service)).await?)
}

async fn remote_services(State(state): State<ZipkinState>, RawQuery(query): RawQuery) -> Result<Response, ApiError> {
    let Some(service) = service_param(query.as_deref())? else {
        return json(&Vec::<String>::new());
    };
    let store = Arc::clone(&state.store);
    json(&blocking(move || store.span_remote_services(&service)).await?)
}

async fn dependencies(State(state): State<ZipkinState>, RawQuery(query): RawQuery) -> Result<Response, ApiError> {
    let params = params(query.as_deref())?;
    let end_ts = search::positive(&params, "endTs")?.ok_or_else(|| ApiError::BadRequest("endTs is required".into()))?;
    let lookback = search::positive(&params, "lookback")?.unwrap_or(search::DEFAULT_LOOKBACK_MS);
    let store = Arc::clone(&state.store);
    let links = blocking(move || {
        let mut linker = Linker::default();
        for trace in search::traces_in_window(&store, end_ts, lookback)? {
            linker.put_trace(&trace);
        }
        Ok(linker.links())
    })
    .await?;
    json(&links)
}

async fn autocomplete_keys(State(state): State<ZipkinState>) -> Result<Response, ApiError> {
    json(state.autocomplete_keys.as_ref())
}

async fn autocomplete_values(
    State(state): State<ZipkinState>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let params = params(query.as_deref())?;
    let key = match params.get("key") {
        Some(key) if !key.is_empty() => key.to_owned(),
        _ => return Err(ApiError::BadRequest("key is required".into())),
    };
    // Only the configured keys, as Zipkin: other tags may hold unbounded values.
    if !state.autocomplete_keys.contains(&key) {
        return json(&Vec::<String>::new());
    }
    let store = Arc::clone(&state.store);
    json(&blocking(move || store.span_tag_values(&key)).await?)
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
