//! `GET /metrics`: Prometheus's text format through `prometheus-client`.
//!
//! Request counts and latencies come from one middleware around every route;
//! ingested and refused counts from the ingest paths, which know the kinds
//! and reasons; store and RocksDB figures are read at scrape time (counters
//! kept by the store, RocksDB properties: no data is read).

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Instant;

use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::prometheus_text;
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use tracekeep_store::{BucketFigures, EventKind, ListOrder, Store};

use crate::error::ApiError;
use crate::routes::{self, Access, Route};

/// A request's protocol and route (the matched path, or an RPC's path).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    protocol: &'static str,
    route: &'static str,
}

/// A request's protocol, route and answer (HTTP status code).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    protocol: &'static str,
    route: &'static str,
    status: u16,
}

/// What was stored: by protocol and event kind.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct IngestLabels {
    protocol: &'static str,
    kind: &'static str,
}

/// An ingest request refused, and why.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RefusedLabels {
    protocol: &'static str,
    reason: &'static str,
}

/// Why an ingest request was refused (the `reason` label).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The body or its events did not decode or were invalid.
    BadRequest,
    /// Over `max-request-size`.
    TooLarge,
    /// An unknown content type.
    UnsupportedMediaType,
    /// No valid bearer token (`auth-ingest`).
    Unauthorized,
    /// The body did not arrive within `body-read-timeout-secs`.
    Timeout,
    /// The disk reserve (`min-free-disk-bytes`) was reached.
    DiskFull,
    /// The bucket did not confirm the write in time (DM's uploads; over
    /// HTTP and gRPC statuses this is a `503` / `UNAVAILABLE`, counted as
    /// `disk_full`).
    Unavailable,
    /// A failure of the server or the store.
    Internal,
}

impl Refusal {
    fn label(self) -> &'static str {
        match self {
            Refusal::BadRequest => "bad_request",
            Refusal::TooLarge => "too_large",
            Refusal::UnsupportedMediaType => "unsupported_media_type",
            Refusal::Unauthorized => "unauthorized",
            Refusal::Timeout => "timeout",
            Refusal::DiskFull => "disk_full",
            Refusal::Unavailable => "unavailable",
            Refusal::Internal => "internal",
        }
    }

    /// The reason for an HTTP status, `None` for a success.
    fn of_http(status: StatusCode) -> Option<Refusal> {
        match status.as_u16() {
            200..=399 => None,
            401 => Some(Refusal::Unauthorized),
            408 => Some(Refusal::Timeout),
            413 => Some(Refusal::TooLarge),
            415 => Some(Refusal::UnsupportedMediaType),
            503 => Some(Refusal::DiskFull),
            400..=499 => Some(Refusal::BadRequest),
            _ => Some(Refusal::Internal),
        }
    }

    /// The reason for a gRPC status code, `None` for OK.
    fn of_grpc(code: &str) -> Option<Refusal> {
        match code {
            "0" => None,
            "3" | "12" => Some(Refusal::BadRequest),
            "4" => Some(Refusal::Timeout),
            "8" | "11" => Some(Refusal::TooLarge),
            "14" => Some(Refusal::DiskFull),
            "16" => Some(Refusal::Unauthorized),
            _ => Some(Refusal::Internal),
        }
    }
}

/// The server's metrics; one per server, shared by its routes and listeners.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    durations: Family<RouteLabels, Histogram, fn() -> Histogram>,
    ingested: Family<IngestLabels, Counter>,
    refused: Family<RefusedLabels, Counter>,
    open_connections: Gauge,
    expired: Counter,
    trimmed: Counter,
    trim_passes: Counter,
    started: Instant,
}

fn latency_histogram() -> Histogram {
    // 0.25 ms to about 8 s.
    Histogram::new(exponential_buckets(0.000_25, 2.0, 16))
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// Registers every family; all start empty.
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("tracekeep");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "requests",
            "Requests answered, by protocol, route and HTTP status",
            requests.clone(),
        );
        let durations = Family::<RouteLabels, Histogram, fn() -> Histogram>::new_with_constructor(latency_histogram);
        registry.register(
            "request_duration_seconds",
            "Time from a request's arrival to its answer's headers, by protocol and route",
            durations.clone(),
        );
        let ingested = Family::<IngestLabels, Counter>::default();
        registry.register(
            "ingested",
            "Events and spans stored (acknowledged durable), by protocol and kind",
            ingested.clone(),
        );
        let refused = Family::<RefusedLabels, Counter>::default();
        registry.register(
            "refused_requests",
            "Ingest requests refused, by protocol and reason",
            refused.clone(),
        );
        let open_connections = Gauge::default();
        registry.register(
            "open_connections",
            "Client connections open now (all listeners)",
            open_connections.clone(),
        );
        let expired = Counter::default();
        registry.register(
            "retention_deleted_traces",
            "Traces deleted by retention (their newest event older than `retention`)",
            expired.clone(),
        );
        let trimmed = Counter::default();
        registry.register(
            "disk_bound_deleted_traces",
            "Traces deleted, oldest first, to keep the data directory under `max-disk-bytes`",
            trimmed.clone(),
        );
        let trim_passes = Counter::default();
        registry.register(
            "disk_bound_passes",
            "Passes that found the data directory over `max-disk-bytes` and deleted and compacted",
            trim_passes.clone(),
        );
        Metrics {
            registry,
            requests,
            durations,
            ingested,
            refused,
            open_connections,
            expired,
            trimmed,
            trim_passes,
            started: Instant::now(),
        }
    }

    /// Counts `count` events of one `kind` stored through `protocol`.
    pub fn count_ingested_n(&self, protocol: &'static str, kind: EventKind, count: u64) {
        self.ingested
            .get_or_create(&IngestLabels {
                protocol,
                kind: kind.name(),
            })
            .inc_by(count);
    }

    /// Counts an ingest request refused (DM's uploads, answered
    /// `result=false` in a successful gRPC response, are counted here; the
    /// others by their HTTP or gRPC status).
    pub fn count_refused(&self, protocol: &'static str, reason: Refusal) {
        self.refused
            .get_or_create(&RefusedLabels {
                protocol,
                reason: reason.label(),
            })
            .inc();
    }

    /// Counts traces deleted by retention.
    pub fn count_expired(&self, traces: u64) {
        self.expired.inc_by(traces);
    }

    /// Counts a disk bound pass that deleted `traces`.
    pub fn count_trimmed(&self, traces: u64) {
        self.trim_passes.inc();
        self.trimmed.inc_by(traces);
    }

    /// The gauge of open connections, moved by the listeners.
    pub fn open_connections(&self) -> Gauge {
        self.open_connections.clone()
    }

    fn observe(&self, protocol: &'static str, route: &'static str, status: StatusCode, seconds: f64) {
        self.durations
            .get_or_create(&RouteLabels { protocol, route })
            .observe(seconds);
        self.requests
            .get_or_create(&RequestLabels {
                protocol,
                route,
                status: status.as_u16(),
            })
            .inc();
    }

    /// The whole text: the families above, then the store's and RocksDB's
    /// figures as gauges read now.
    fn render(&self, store: &Store) -> Result<String, ApiError> {
        let mut text = String::new();
        prometheus_text::encode(&mut text, &self.registry)
            .map_err(|error| ApiError::Internal(format!("encoding metrics: {error}")))?;
        let figures = store_registry(store, self.started)?;
        prometheus_text::encode(&mut text, &figures)
            .map_err(|error| ApiError::Internal(format!("encoding store metrics: {error}")))?;
        Ok(text)
    }
}

/// One gauge with a value (store figures are read, not kept, by the server).
fn gauge(registry: &mut Registry, name: &str, help: &str, value: i64) {
    let gauge: Gauge = Gauge::default();
    gauge.set(value);
    registry.register(name, help, gauge);
}

fn clamp(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

fn store_registry(store: &Store, started: Instant) -> Result<Registry, ApiError> {
    let stats = store.stats()?;
    let engine = store.engine_figures();
    let mut registry = Registry::with_prefix("tracekeep");
    gauge(&mut registry, "traces", "Traces stored", clamp(stats.traces));
    let events = Family::<IngestKindLabels, Gauge>::default();
    for (kind, count) in &stats.events_by_kind {
        events
            .get_or_create(&IngestKindLabels { kind: kind.name() })
            .set(clamp(*count));
    }
    registry.register("events", "Events stored, by kind", events);
    gauge(
        &mut registry,
        "disk_bytes",
        "Bytes of the data directory's files",
        clamp(stats.bytes_on_disk),
    );
    gauge(
        &mut registry,
        "tso_mark",
        "The persisted TSO mark (nanoseconds)",
        stats.tso_mark,
    );
    // The oldest trace in first-seen order: one trace's events are read.
    let (oldest, _) = store.list_traces_in(ListOrder::OldestFirst, None, 1, "")?;
    if let Some(oldest) = oldest.first().filter(|oldest| oldest.min_tso > 0) {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |now| i64::try_from(now.as_nanos()).unwrap_or(i64::MAX));
        gauge(
            &mut registry,
            "oldest_trace_age_seconds",
            "Seconds since the first event (TSO) of the oldest trace in first-seen order",
            now.saturating_sub(oldest.min_tso) / 1_000_000_000,
        );
    }
    gauge(
        &mut registry,
        "uptime_seconds",
        "Seconds since the server started",
        clamp(started.elapsed().as_secs()),
    );
    let rocksdb = registry.sub_registry_with_prefix("rocksdb");
    gauge(
        rocksdb,
        "memtable_bytes",
        "Bytes in RocksDB's memtables",
        clamp(engine.memtable_bytes),
    );
    gauge(
        rocksdb,
        "block_cache_bytes",
        "Bytes in RocksDB's block cache",
        clamp(engine.block_cache_bytes),
    );
    gauge(
        rocksdb,
        "pending_compaction_bytes",
        "RocksDB's estimate of the bytes compaction still has to rewrite",
        clamp(engine.pending_compaction_bytes),
    );
    gauge(
        rocksdb,
        "running_compactions",
        "Compactions running now",
        clamp(engine.running_compactions),
    );
    gauge(
        rocksdb,
        "level0_files",
        "Table files in level 0",
        clamp(engine.level0_files),
    );
    gauge(
        rocksdb,
        "write_stopped",
        "1 while RocksDB stops writes",
        i64::from(engine.write_stopped),
    );
    gauge(
        rocksdb,
        "write_delays",
        "Times RocksDB slowed writes down since the server started",
        clamp(engine.write_delays),
    );
    gauge(
        rocksdb,
        "write_stops",
        "Times RocksDB stopped writes since the server started",
        clamp(engine.write_stops),
    );
    rocksdb.register(
        "compaction_seconds",
        "Time RocksDB's compaction jobs took since the server started, summed over jobs",
        ConstCounter::new(engine.compaction_millis as f64 / 1000.0),
    );
    if let Some(bucket) = &engine.bucket {
        register_bucket(registry.sub_registry_with_prefix("bucket"), bucket);
    }
    let nodes = store.cluster_nodes()?;
    if !nodes.is_empty() {
        register_cluster(registry.sub_registry_with_prefix("cluster"), &nodes);
    }
    Ok(registry)
}

/// The bucket's request counters (`bucket` set), since the server started.
fn register_bucket(registry: &mut Registry, bucket: &BucketFigures) {
    // Filled afresh on every scrape from the store's own counts.
    let requests = Family::<OperationLabels, Counter>::default();
    for (operation, count) in [
        ("get", bucket.gets),
        ("put", bucket.puts),
        ("list", bucket.lists),
        ("delete", bucket.deletes),
        ("other", bucket.others),
    ] {
        requests.get_or_create(&OperationLabels { operation }).inc_by(count);
    }
    registry.register(
        "requests",
        "Requests made of the bucket since the server started, by operation",
        requests,
    );
    registry.register(
        "request_errors",
        "Bucket requests that failed after the client's retries",
        ConstCounter::new(bucket.errors),
    );
    registry.register(
        "read_bytes",
        "Bytes read from the bucket",
        ConstCounter::new(bucket.bytes_read),
    );
    registry.register(
        "written_bytes",
        "Bytes written to the bucket",
        ConstCounter::new(bucket.bytes_written),
    );
    registry.register(
        "request_seconds",
        "Time bucket requests took, summed over requests (they overlap)",
        ConstCounter::new(bucket.request_millis as f64 / 1000.0),
    );
}

/// The cluster on the bucket (`bucket` set), as this node reads it.
fn register_cluster(registry: &mut Registry, nodes: &[tracekeep_store::ClusterNode]) {
    gauge(
        registry,
        "nodes",
        "Nodes of the cluster on the bucket this node reads, itself included",
        clamp(nodes.len() as u64),
    );
    let last_writes = Family::<NodeLabels, Gauge<f64, AtomicU64>>::default();
    for node in nodes {
        if let Some(micros) = node.last_write_micros {
            last_writes
                .get_or_create(&NodeLabels {
                    node: node.node_id.clone(),
                })
                .set(micros as f64 / 1e6);
        }
    }
    registry.register(
        "node_last_write_seconds",
        "When each node last stored something, as this node has read it (Unix seconds): time() minus it is how far behind this node reads a node that ingests steadily",
        last_writes,
    );
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct NodeLabels {
    node: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OperationLabels {
    operation: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct IngestKindLabels {
    kind: &'static str,
}

/// Times and counts every request; counts refused ingest requests by the
/// status they were answered with (for gRPC, a trailers-only `grpc-status`).
pub async fn track(State(metrics): State<Arc<Metrics>>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let Route {
        protocol,
        label: route,
        kind,
    } = routes::classify(request.uri().path());
    let ingest = kind == Access::Ingest && request.method() == axum::http::Method::POST;
    let response = next.run(request).await;
    let status = response.status();
    metrics.observe(protocol, route, status, started.elapsed().as_secs_f64());
    if ingest {
        let grpc_status = response
            .headers()
            .get("grpc-status")
            .and_then(|value| value.to_str().ok());
        let refusal = match grpc_status {
            Some(code) => Refusal::of_grpc(code),
            None => Refusal::of_http(status),
        };
        if let Some(reason) = refusal {
            metrics.count_refused(protocol, reason);
        }
    }
    response
}

/// `GET /metrics`.
pub async fn scrape(State((metrics, store)): State<(Arc<Metrics>, Arc<Store>)>) -> Result<Response, ApiError> {
    let text = tokio::task::spawn_blocking(move || metrics.render(&store))
        .await
        .map_err(|error| ApiError::Internal(format!("reading the store's figures: {error}")))??;
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, prometheus_text::CONTENT_TYPE)],
        text,
    )
        .into_response())
}

/// The `/metrics` route.
pub fn router(metrics: Arc<Metrics>, store: Arc<Store>) -> axum::Router {
    axum::Router::new()
        .route("/metrics", axum::routing::get(scrape))
        .with_state((metrics, store))
}

#[cfg(test)]
#[path = "metrics_tests.rs"]
mod tests;
