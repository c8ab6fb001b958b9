//! tracekeep-server: dm-tracer's gRPC ingest and HTTP API, Zipkin's API
//! and OTLP ingest on one port, served from the durable store.
//!
//! The library entry point is [`run`]: give it a bound listener, an open
//! store and a shutdown future. `main.rs` only parses the command line, sets
//! up logging, opens the store, binds and calls it; tests bind port 0.

pub mod addr;
pub mod auth;
mod background;
mod body_guard;
pub mod cluster;
pub mod config;
pub mod disk_bound;
pub mod error;
pub mod grpc;
pub mod http;
mod ingest;
pub mod listener;
pub mod logging;
pub mod metrics;
pub mod otlp;
mod params;
pub mod retention;
mod routes;
mod serve;
pub mod tls;
pub mod ui;
pub mod zipkin;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tracekeep_proto::ingest::tracer_server::TracerServer;
use tracekeep_store::Store;

/// The crate version, as `/status` reports it.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// The git commit the binary was built from, or `unknown`.
pub const GIT_HASH: &str = env!("TRACEKEEP_GIT_HASH");
/// What `-V` prints after the program name.
pub const VERSION_LINE: &str = concat!(env!("CARGO_PKG_VERSION"), " (git ", env!("TRACEKEEP_GIT_HASH"), ")");

/// Serving settings that are not the store's.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Largest gRPC request accepted, in bytes.
    pub max_request_size: usize,
    /// Most traces one scan page may ask for.
    pub max_scan_limit: u64,
    /// Uploads processed at once.
    pub max_concurrent_uploads: usize,
    /// How long in-flight requests may take to finish after shutdown starts.
    pub shutdown_timeout: Duration,
    /// How long a new connection may take to show its opening bytes.
    pub handshake_timeout: Duration,
    /// Tag keys whose values Zipkin's autocomplete lists.
    pub autocomplete_keys: Vec<String>,
    /// What this server counts and `/metrics` reports, shared by its routes
    /// and listeners.
    pub metrics: Arc<metrics::Metrics>,
    /// Where checkpoints (backups) are written.
    pub backup_dir: std::path::PathBuf,
    /// Which requests need a bearer token, and the tokens.
    pub auth: auth::Auth,
    /// Places for open connections (`max-connections`), shared by every listener.
    pub connection_slots: Arc<tokio::sync::Semaphore>,
    /// How long an HTTP/1 client may take to send a request's head.
    pub header_read_timeout: Duration,
    /// How long a request body may take to arrive once it is being read.
    pub body_read_timeout: Duration,
    /// TLS for every listener, when `tls-cert-file` and `tls-key-file` are set.
    pub tls: Option<tls::Tls>,
    /// Where connections speaking HTTP/2 (gRPC: DM's and OTLP's uploads)
    /// are served, apart from HTTP/1.1 ones (queries, the UI), so that
    /// upload work never queues ahead of a query on the same workers; its
    /// threads may also run at a lower priority (`ingest-nice`). None: every
    /// connection is served on the runtime that runs [`serve`].
    pub ingest_runtime: Option<tokio::runtime::Handle>,
}

impl Settings {
    /// The serving settings of a configuration; reads the token file and
    /// the TLS certificate and key.
    pub fn from_config(config: &config::Config) -> anyhow::Result<Settings> {
        Ok(Settings {
            max_request_size: config.max_request_size,
            max_scan_limit: config.max_scan_limit,
            max_concurrent_uploads: config.max_concurrent_uploads,
            shutdown_timeout: Duration::from_secs(config.shutdown_timeout_secs),
            handshake_timeout: Duration::from_secs(config.handshake_timeout_secs),
            autocomplete_keys: config.autocomplete_keys.clone(),
            metrics: Arc::new(metrics::Metrics::new()),
            backup_dir: config.backup_dir(),
            auth: auth::Auth {
                tokens: config.tokens()?.map(Arc::new),
                ingest: config.auth_ingest,
            },
            connection_slots: Arc::new(tokio::sync::Semaphore::new(config.max_connections)),
            header_read_timeout: Duration::from_secs(config.header_read_timeout_secs),
            body_read_timeout: Duration::from_secs(config.body_read_timeout_secs),
            tls: config.tls()?,
            ingest_runtime: None,
        })
    }
}

/// One router for every protocol: gRPC `pb.Tracer` and OTLP, dm-tracer's
/// HTTP API, Zipkin's and OTLP/HTTP.
pub fn app(store: Arc<Store>, settings: &Settings) -> axum::Router {
    routers(store, settings).main
}

/// The routers of the main port and of the protocols' own listeners.
#[derive(Debug)]
pub struct Routers {
    /// Everything: the main port's.
    pub main: axum::Router,
    /// Zipkin's API alone (`zipkin-addr`).
    pub zipkin: axum::Router,
    /// OTLP/gRPC alone (`otlp-grpc-addr`).
    pub otlp_grpc: axum::Router,
    /// OTLP/HTTP alone (`otlp-http-addr`).
    pub otlp_http: axum::Router,
}

/// Builds every router; all share one limit on concurrent uploads.
pub fn routers(store: Arc<Store>, settings: &Settings) -> Routers {
    let metrics = settings.metrics.clone();
    let tracer = TracerServer::new(grpc::TracerService::new(store.clone(), metrics.clone()))
        .max_decoding_message_size(settings.max_request_size);
    let uploads = Arc::new(tokio::sync::Semaphore::new(settings.max_concurrent_uploads));
    let otlp_state = otlp::OtlpState {
        store: store.clone(),
        max_request_size: settings.max_request_size,
        uploads: uploads.clone(),
        metrics: metrics.clone(),
    };
    let grpc_layers =
        |router: axum::Router| {
            router.layer(axum::middleware::from_fn(otlp::grpc_status_codes)).layer(
                axum::middleware::from_fn_with_state(uploads.clone(), grpc::limit_uploads),
            )
        };
    let grpc = grpc_layers(
        tonic::service::Routes::new(tracer)
            .add_service(otlp::TraceExportServer::new(otlp_state.clone()))
            .into_axum_router(),
    );
    let otlp_grpc =
        grpc_layers(tonic::service::Routes::new(otlp::TraceExportServer::new(otlp_state.clone())).into_axum_router());
    let otlp_http = otlp::http_router(otlp_state);
    let zipkin = zipkin::router(zipkin::ZipkinState {
        store: store.clone(),
        max_request_size: settings.max_request_size,
        uploads,
        autocomplete_keys: Arc::new(settings.autocomplete_keys.clone()),
        metrics: metrics.clone(),
    });
    let http = http::router(http::HttpState {
        store: store.clone(),
        max_scan_limit: settings.max_scan_limit,
        started: std::time::Instant::now(),
        backup_dir: settings.backup_dir.clone(),
        checkpoint_running: Arc::new(tokio::sync::Mutex::new(())),
    });
    // Replacing tonic's fallback keeps `UNIMPLEMENTED` for gRPC calls and gives
    // HTTP clients dm-tracer's 404.
    let main = grpc
        .merge(http)
        .merge(zipkin.clone())
        .merge(otlp_http.clone())
        .merge(ui::router())
        .merge(metrics::router(metrics.clone(), store))
        .fallback(http::fallback);
    // Every request is timed and counted, on every listener (a layer added
    // after the fallback covers unknown paths too).
    // Tokens are checked inside the metrics layer, so refusals are counted.
    let guard = body_guard::BodyGuard {
        timeout: settings.body_read_timeout,
    };
    let tracked = |router: axum::Router| {
        router
            .layer(axum::middleware::from_fn_with_state(guard, body_guard::guard_bodies))
            .layer(axum::middleware::from_fn_with_state(
                settings.auth.clone(),
                auth::require_token,
            ))
            .layer(axum::middleware::from_fn_with_state(metrics.clone(), metrics::track))
    };
    Routers {
        main: tracked(main),
        zipkin: tracked(zipkin.fallback(http::fallback)),
        otlp_grpc: tracked(otlp_grpc.fallback(http::fallback)),
        otlp_http: tracked(otlp_http.fallback(http::fallback)),
    }
}

/// Serves gRPC (HTTP/2 with prior knowledge, as grpc-go dials) and HTTP/1.1
/// on `listener` until `shutdown` completes; then stops accepting and gives
/// in-flight requests `settings.shutdown_timeout` to finish.
pub async fn run(
    listener: TcpListener,
    store: Arc<Store>,
    settings: Settings,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = app(store, &settings);
    serve(listener, app, settings, shutdown).await
}

/// Serves `app` on `listener` until `shutdown` completes, as [`run`] does.
pub async fn serve(
    listener: TcpListener,
    app: axum::Router,
    settings: Settings,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve::serve(listener, app, settings, shutdown).await
}
