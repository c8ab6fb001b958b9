//! dm-tracer's HTTP API: same paths, status codes and response shapes.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use serde_json::{Value, json};
use tracekeep_proto::json::{TraceSummaryJson, events_go_string, to_go_string, trace_page_value, traces_go_string};
use tracekeep_store::{Cursor, ListOrder, Readiness, Store, StoreError, StoredEvent, TraceFilter};

use crate::error::{ApiError, blocking, blocking_raw, trace_read};
use crate::params::{FormRequest, Params};

/// The response header carrying the cursor of the next scan page.
pub const NEXT_CURSOR_HEADER: &str = "x-tracekeep-next";

/// What the HTTP handlers share.
#[derive(Clone, Debug)]
pub struct HttpState {
    /// The store.
    pub store: Arc<Store>,
    /// Most traces one scan page may ask for.
    pub max_scan_limit: u64,
    /// When the server started serving (for the uptime in the stats).
    pub started: Instant,
    /// Where checkpoints are written.
    pub backup_dir: PathBuf,
    /// Held while a checkpoint is written: one at a time.
    pub checkpoint_running: Arc<tokio::sync::Mutex<()>>,
}

/// The HTTP routes (without a fallback; the caller adds one).
pub fn router(state: HttpState) -> Router {
    Router::new()
        .route("/status", get(status))
        .route("/events/query", any(query))
        .route("/events/scan", any(scan))
        .route("/events/delete", any(delete))
        .route("/events/truncate", any(truncate))
        .route("/api/tracekeep/stats", get(stats))
        .route("/api/tracekeep/traces", get(traces))
        .route("/ready", get(ready))
        .route("/api/tracekeep/checkpoint", any(checkpoint))
        .route("/api/tracekeep/openapi.yaml", get(openapi))
        .with_state(state)
}

/// A JSON body printed as dm-tracer's `json.MarshalIndent(v, "", " ")`.
fn json_response(value: &Value) -> Response {
    json_text_response(to_go_string(value))
}

/// A JSON body printed already (events go straight to text, no `Value`).
fn json_text_response(json: String) -> Response {
    (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], json).into_response()
}

fn stored_events(events: &[StoredEvent]) -> impl Iterator<Item = &tracekeep_proto::TraceEvent> {
    events.iter().map(|stored| &stored.event)
}

fn trace_id(params: &Params) -> Result<String, ApiError> {
    match params.get("trace_id") {
        Some(id) if !id.is_empty() => Ok(id.to_owned()),
        _ => Err(ApiError::BadRequest("trace id not provided".into())),
    }
}

fn require_post(method: &Method) -> Result<(), ApiError> {
    if *method == Method::POST {
        Ok(())
    } else {
        Err(ApiError::BadRequest(format!(
            "post only: {method} is not allowed, POST is required"
        )))
    }
}

/// The OpenAPI document of the HTTP API, compiled in from `docs/openapi.yaml`.
const OPENAPI: &str = include_str!("../../../docs/openapi.yaml");

async fn openapi() -> Response {
    (StatusCode::OK, [(header::CONTENT_TYPE, "application/yaml")], OPENAPI).into_response()
}

async fn status() -> Response {
    json_response(&json!({ "version": crate::VERSION, "git_hash": crate::GIT_HASH }))
}

/// The store's figures and RocksDB's: counts, bytes, TSO mark, compaction and stalls.
async fn stats(State(state): State<HttpState>) -> Result<Response, ApiError> {
    let store = state.store.clone();
    let (stats, engine, nodes) =
        blocking(move || Ok((store.stats()?, store.engine_figures(), store.cluster_nodes()?))).await?;
    let events: serde_json::Map<String, Value> = stats
        .events_by_kind
        .iter()
        .map(|(kind, count)| (kind.name().to_owned(), Value::from(*count)))
        .collect();
    let body = json!({
        "format_version": stats.format_version,
        "traces": stats.traces,
        "events": events,
        "bytes_on_disk": stats.bytes_on_disk,
        "tso_mark": stats.tso_mark,
        "uptime_seconds": state.started.elapsed().as_secs(),
        "engine": {
            "memtable_bytes": engine.memtable_bytes,
            "block_cache_bytes": engine.block_cache_bytes,
            "pending_compaction_bytes": engine.pending_compaction_bytes,
            "running_compactions": engine.running_compactions,
            "level0_files": engine.level0_files,
            "table_bytes": engine.table_bytes,
            "write_stopped": engine.write_stopped,
            "write_delays": engine.write_delays,
            "write_stops": engine.write_stops,
        },
        "cluster": cluster_json(&nodes),
    });
    Ok(json_response(&body))
}

/// The cluster on the bucket as this node reads it: every node, its last
/// write and how long ago that was (for a node ingesting steadily, how far
/// behind this node reads it); `null` off a bucket.
fn cluster_json(nodes: &[tracekeep_store::ClusterNode]) -> Value {
    if nodes.is_empty() {
        return Value::Null;
    }
    let now_micros = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| u64::try_from(since.as_micros()).unwrap_or(u64::MAX));
    let nodes: Vec<Value> = nodes
        .iter()
        .map(|node| {
            json!({
                "node_id": node.node_id,
                "this_node": node.this_node,
                "last_write_micros": node.last_write_micros,
                "last_write_age_ms": node.last_write_micros.map(|at| now_micros.saturating_sub(at) / 1000),
                "adopted_here": node.adopted_here,
            })
        })
        .collect();
    json!({
        "node_id": nodes.iter().find(|node| node["this_node"] == true).map(|node| node["node_id"].clone()),
        "nodes": nodes,
    })
}

/// A readiness probe: 200 while the store takes writes, 503 (with the reason)
/// while it refuses them, e.g. with the disk below `min-free-disk-bytes`.
/// `/health` is the liveness probe.
async fn ready(State(state): State<HttpState>) -> Response {
    let store = state.store.clone();
    let readiness = match tokio::task::spawn_blocking(move || store.readiness()).await {
        Ok(readiness) => readiness,
        Err(error) => {
            return ApiError::Internal(format!("checking readiness: {error}")).into_response();
        }
    };
    let (status, body) = match readiness {
        Readiness::Ready => (StatusCode::OK, json!({ "status": "READY" })),
        Readiness::ReadOnly => (
            StatusCode::SERVICE_UNAVAILABLE,
            json!({ "status": "NOT_READY", "reason": "the store is open read-only" }),
        ),
        Readiness::DiskReserve { available, reserve } => (
            StatusCode::SERVICE_UNAVAILABLE,
            json!({
                "status": "NOT_READY",
                "reason": format!("{available} bytes free on the data directory's filesystem, below min-free-disk-bytes ({reserve}): uploads are refused"),
            }),
        ),
        Readiness::Fenced => (
            StatusCode::SERVICE_UNAVAILABLE,
            json!({ "status": "NOT_READY", "reason": "another server opened this node's database in the bucket (the same node-id): this one is fenced off and stops" }),
        ),
        Readiness::Unavailable { reason } => (
            StatusCode::SERVICE_UNAVAILABLE,
            json!({ "status": "NOT_READY", "reason": format!("the bucket does not confirm writes: {reason}") }),
        ),
    };
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        to_go_string(&body),
    )
        .into_response()
}

/// Trace summaries in first-seen order, newest first by default: what the
/// web UI lists, without reading the traces' events into the response.
async fn traces(State(state): State<HttpState>, request: FormRequest) -> Result<Response, ApiError> {
    let params = request.params()?;
    let limit = params.count("limit", 50)?;
    if limit == 0 || limit > state.max_scan_limit {
        return Err(ApiError::BadRequest(format!(
            "limit: {limit} not valid: 1 to {} traces per page",
            state.max_scan_limit
        )));
    }
    let order = match params.get("order") {
        None | Some("") | Some("newest") => ListOrder::NewestFirst,
        Some("oldest") => ListOrder::OldestFirst,
        Some(other) => {
            return Err(ApiError::BadRequest(format!(
                "order: {other} not valid: newest or oldest is required"
            )));
        }
    };
    let from = match params.get("cursor") {
        None | Some("") => None,
        Some(text) => Some(text.trim().parse::<Cursor>().map_err(|_| {
            ApiError::BadRequest(format!(
                "cursor: {text} not valid: the next cursor of a previous page is required"
            ))
        })?),
    };
    let dm_only = match params.get("kind") {
        None | Some("") | Some("all") => false,
        Some("dm") => true,
        Some(other) => {
            return Err(ApiError::BadRequest(format!(
                "kind: {other} not valid: all or dm is required"
            )));
        }
    };
    let filter = TraceFilter {
        prefix: params.get("prefix").unwrap_or_default().to_owned(),
        dm_only,
    };
    let store = state.store.clone();
    let (summaries, next) = blocking(move || store.list_traces_filtered(order, from, limit, &filter)).await?;
    let page = trace_page_value(
        summaries.iter().map(TraceSummaryJson::from),
        next.map(|next| next.to_string()),
    );
    Ok(json_response(&page))
}

async fn query(State(state): State<HttpState>, request: FormRequest) -> Result<Response, ApiError> {
    let trace_id = trace_id(&request.params()?)?;
    let events = trace_read(&state.store, move |store| store.query(&trace_id)).await?;
    Ok(json_text_response(events_go_string(stored_events(&events))))
}

async fn scan(State(state): State<HttpState>, request: FormRequest) -> Result<Response, ApiError> {
    let params = request.params()?;
    let limit = params.count("limit", 10)?;
    if limit > state.max_scan_limit {
        return Err(ApiError::BadRequest(format!(
            "limit: {limit} not valid: at most {} traces per page",
            state.max_scan_limit
        )));
    }
    let after = match params.get("after") {
        None | Some("") => None,
        Some(text) => Some(text.trim().parse::<Cursor>().map_err(|_| {
            ApiError::BadRequest(format!(
                "after: {text} not valid: a cursor from the {NEXT_CURSOR_HEADER} header is required"
            ))
        })?),
    };
    let store = state.store.clone();
    let (traces, next) = match after {
        Some(after) => {
            if params.get("offset").is_some_and(|offset| !offset.is_empty()) {
                return Err(ApiError::BadRequest("offset and after cannot be combined".into()));
            }
            let page = blocking(move || store.scan_after(Some(after), limit)).await?;
            (page.traces, page.next)
        }
        None => {
            let offset = params.count("offset", 0)?;
            // One more than asked, to learn whether a next page exists.
            let mut traces = match blocking_raw(move || store.scan(offset, limit.saturating_add(1))).await? {
                Err(StoreError::OffsetPastEnd { .. }) => {
                    // dm-tracer's status and text for an offset past the end.
                    return Err(ApiError::NotFound(format!(
                        "offset: {offset}, limit: {limit} not found"
                    )));
                }
                other => other?,
            };
            let more = traces.len() as u64 > limit;
            traces.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
            let next = if more {
                traces.last().map(|trace| trace.cursor)
            } else {
                None
            };
            (traces, next)
        }
    };
    let body = traces_go_string(traces.iter().map(|trace| stored_events(&trace.events)));
    let mut response = json_text_response(body);
    if let Some(next) = next
        && let Ok(value) = HeaderValue::from_str(&next.to_string())
    {
        response.headers_mut().insert(NEXT_CURSOR_HEADER, value);
    }
    Ok(response)
}

async fn delete(State(state): State<HttpState>, request: FormRequest) -> Result<Response, ApiError> {
    require_post(&request.method)?;
    let trace_id = trace_id(&request.params()?)?;
    let store = state.store.clone();
    let id = trace_id.clone();
    let removed = blocking(move || store.delete(&id)).await?;
    tracing::info!(%trace_id, removed, "delete");
    Ok(json_response(&json!({ "trace_id": trace_id, "result": removed })))
}

/// A checkpoint name: a plain file name, so it stays inside `backup-dir`.
fn checkpoint_name(name: &str) -> Result<&str, ApiError> {
    let plain = !name.is_empty()
        && name.len() <= 100
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'_' | b'-'));
    if plain {
        Ok(name)
    } else {
        Err(ApiError::BadRequest(format!(
            "name: {name:?} not valid: 1 to 100 letters, digits, '.', '_' or '-', not starting with '.'"
        )))
    }
}

/// A consistent copy of the store, taken while serving, into
/// `backup-dir/NAME` (default name: `checkpoint-<unix seconds>`).
async fn checkpoint(State(state): State<HttpState>, request: FormRequest) -> Result<Response, ApiError> {
    require_post(&request.method)?;
    let params = request.params()?;
    let default_name = format!(
        "checkpoint-{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_secs())
    );
    let name = checkpoint_name(params.get("name").unwrap_or(&default_name))?.to_owned();
    // One checkpoint at a time: two writing one name (the default name is
    // the second) would share RocksDB's temporary directory and both fail.
    let Ok(running) = state.checkpoint_running.clone().try_lock_owned() else {
        return Err(ApiError::Conflict(
            "a checkpoint is being written: try again when it is done".into(),
        ));
    };
    let dir = state.backup_dir.join(&name);
    if dir.exists() {
        return Err(ApiError::Conflict(format!(
            "checkpoint {name:?} exists already in {}",
            state.backup_dir.display()
        )));
    }
    let store = state.store.clone();
    let (backup_dir, target) = (state.backup_dir.clone(), dir.clone());
    tokio::task::spawn_blocking(move || {
        let _running = running;
        std::fs::create_dir_all(&backup_dir)
            .map_err(|error| ApiError::Internal(format!("creating backup-dir {}: {error}", backup_dir.display())))?;
        // RocksDB writes into `<dir>.tmp` and renames it; one left by a
        // checkpoint cut short (the process killed) would fail every later
        // one of this name. Nothing else writes there while the lock is held.
        let mut leftover = target.clone().into_os_string();
        leftover.push(".tmp");
        let leftover = PathBuf::from(leftover);
        if leftover.exists() {
            std::fs::remove_dir_all(&leftover).map_err(|error| {
                ApiError::Internal(format!(
                    "removing the unfinished checkpoint {}: {error}",
                    leftover.display()
                ))
            })?;
        }
        store.checkpoint(&target).map_err(ApiError::from)
    })
    .await
    .map_err(|error| ApiError::Internal(format!("writing a checkpoint: {error}")))??;
    tracing::info!(path = %dir.display(), "checkpoint written");
    Ok(json_response(
        &json!({ "name": name, "path": dir.display().to_string() }),
    ))
}

async fn truncate(State(state): State<HttpState>, method: Method) -> Result<Response, ApiError> {
    require_post(&method)?;
    let store = state.store.clone();
    blocking(move || store.truncate()).await?;
    tracing::info!("truncated every trace");
    Ok(json_response(&json!({ "result": true })))
}

/// Unknown paths: Go's `404 page not found` for HTTP clients, `UNIMPLEMENTED`
/// for gRPC clients calling a method this server does not have.
pub async fn fallback(headers: HeaderMap) -> Response {
    if crate::body_guard::is_grpc(&headers) {
        return tonic::Status::unimplemented("no such method on pb.Tracer").into_http();
    }
    ApiError::NotFound("404 page not found".into()).into_response()
}
