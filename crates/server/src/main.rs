//! The `tracekeep-server` binary.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use clap::Parser as _;
use tracekeep_server::config::{Args, Config};
use tracekeep_server::{Settings, addr, logging};
use tracekeep_store::{Store, StoreOptions};

/// mimalloc instead of glibc's malloc: ingest allocates a string per decoded
/// field and per index entry, and glibc's allocator (its consolidation above
/// all) took 15% of the server's CPU in a Zipkin ingest profile.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let args = Args::parse();
    let config = match Config::load(&args) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("tracekeep-server: {error:#}");
            return ExitCode::from(2);
        }
    };
    if args.check_config {
        return match config.check() {
            Ok(()) => {
                println!(
                    "tracekeep-server: the configuration is valid (tracer-addr {}, data-dir {})",
                    config.tracer_addr,
                    config.data_dir.display()
                );
                ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!("tracekeep-server: {error:#}");
                ExitCode::from(2)
            }
        };
    }
    if let Err(error) = logging::init(&config) {
        eprintln!("tracekeep-server: {error:#}");
        return ExitCode::from(2);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("tracekeep-server: start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    // gRPC connections get workers of their own, at `ingest-nice`
    // (docs/design.md, "Reads before uploads").
    let ingest_nice = config.ingest_nice;
    let ingest_runtime = match tokio::runtime::Builder::new_multi_thread()
        .thread_name("tracekeep-ingest")
        .on_thread_start(move || tracekeep_store::lower_this_thread(ingest_nice))
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("tracekeep-server: start the ingest runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let logs_to_file = !config.log_file.is_empty();
    let served = runtime.block_on(serve(config, ingest_runtime.handle().clone()));
    // Tasks left on either runtime (hyper's per-request tasks) may hold the
    // last reference to the store. Dropping a runtime drops its tasks and
    // waits for its threads, so the store closes here, before the process
    // exits: RocksDB aborts the process ("pthread lock: Invalid argument")
    // when a database is still open at exit.
    drop(ingest_runtime);
    drop(runtime);
    match served {
        Ok(()) => {
            tracing::info!("stopped");
            ExitCode::SUCCESS
        }
        Err(error) => {
            tracing::error!("{error:#}");
            if logs_to_file {
                // The log went to a file; whoever started us should see why we stopped.
                eprintln!("tracekeep-server: {error:#}");
            }
            ExitCode::FAILURE
        }
    }
}

async fn serve(config: Config, ingest_runtime: tokio::runtime::Handle) -> anyhow::Result<()> {
    // Before anything listens: a SIGHUP that came before the handler would
    // kill the process (the signal's default), and tests send one as soon as
    // the server answers.
    let hangups = hangup_signal();
    addr::check(&config.tracer_addr)?;
    let node_id = if config.node_id.is_empty() {
        tracekeep_store::default_node_id()
    } else {
        config.node_id.clone()
    };
    let options = StoreOptions {
        sync: config.sync,
        block_cache_size: config.block_cache_size,
        min_free_disk_bytes: config.min_free_disk_bytes,
        max_disk_bytes: config.max_disk_bytes,
        autocomplete_keys: config.autocomplete_keys.clone(),
        bucket: (!config.bucket.is_empty()).then(|| config.bucket.clone()),
        bucket_flush_interval: std::time::Duration::from_millis(config.bucket_flush_interval_ms),
        node_id: node_id.clone(),
        writer_nice: config.ingest_nice,
        adopt_after: (config.adopt_after_seconds > 0)
            .then(|| std::time::Duration::from_secs(config.adopt_after_seconds)),
        ..StoreOptions::default()
    };
    let data_dir = config.data_dir.clone();
    let store = tokio::task::spawn_blocking(move || Store::open(&data_dir, options))
        .await
        .context("open the store")?
        .with_context(|| format!("open data directory {}", config.data_dir.display()))?;
    let store = Arc::new(store);
    let listener = addr::bind(&config.tracer_addr).await?;
    let local = listener.local_addr().context("read the bound address")?;
    // Each protocol's own listener, when configured: (name, address, router).
    let mut extra = Vec::new();
    for (name, configured) in [
        ("Zipkin API", &config.zipkin_addr),
        ("OTLP/gRPC", &config.otlp_grpc_addr),
        ("OTLP/HTTP", &config.otlp_http_addr),
    ] {
        match configured.trim() {
            "" => extra.push(None),
            address => {
                let listener = addr::bind(address)
                    .await
                    .with_context(|| format!("bind the {name} address {address}"))?;
                extra.push(Some((name, listener)));
            }
        }
    }
    tracing::info!(
        version = tracekeep_server::VERSION_LINE,
        data_dir = %config.data_dir.display(),
        sync = config.sync,
        "listening on {local} for gRPC and HTTP"
    );
    let settings = Settings {
        ingest_runtime: Some(ingest_runtime),
        ..Settings::from_config(&config)?
    };
    if settings.tls.is_some() {
        tracing::info!("TLS on every listener (ALPN h2 and http/1.1); plain TCP is refused");
    }
    if settings.auth.tokens.is_some() {
        tracing::info!(
            ingest = settings.auth.ingest,
            "access control on: deletes, truncates and checkpoints need a bearer token"
        );
    }
    // Installed either way, so a SIGHUP (systemctl reload) never kills the server.
    tokio::spawn(reload_tokens_on_sighup(hangups, settings.auth.tokens.clone()));
    let routers = tracekeep_server::routers(store.clone(), &settings);
    // One signal stops every listener.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = |mut stop: tokio::sync::watch::Receiver<bool>| async move {
        let _ = stop.wait_for(|stop| *stop).await;
    };
    let sweeper = config.retention().map(|retention| {
        tokio::spawn(tracekeep_server::retention::run(
            store.clone(),
            retention,
            settings.metrics.clone(),
            stop_rx.clone(),
        ))
    });
    // None on a bucket, where max-disk-bytes bounds the disk cache.
    let bounder = (store.disk_bound() > 0).then(|| {
        tokio::spawn(tracekeep_server::disk_bound::run(
            store.clone(),
            store.disk_bound(),
            settings.metrics.clone(),
            stop_rx.clone(),
        ))
    });
    // On a bucket: apply the other nodes' truncates to this node's data.
    let follower = (!config.bucket.is_empty())
        .then(|| tokio::spawn(tracekeep_server::cluster::run(store.clone(), stop_rx.clone())));
    let mut serving = Vec::new();
    for (slot, app) in extra
        .into_iter()
        .zip([routers.zipkin, routers.otlp_grpc, routers.otlp_http])
    {
        let Some((name, listener)) = slot else { continue };
        let local = listener
            .local_addr()
            .with_context(|| format!("read the bound {name} address"))?;
        // Not "listening on": tools find the main address by that phrase.
        tracing::info!("{name} alone on {local}");
        let task = tokio::spawn(tracekeep_server::serve(
            listener,
            app,
            settings.clone(),
            stopped(stop_rx.clone()),
        ));
        serving.push((name, task));
    }
    let stop_tx = Arc::new(stop_tx);
    let on_signal = stop_tx.clone();
    tokio::spawn(async move {
        shutdown_signal().await;
        let _ = on_signal.send(true);
    });
    // Fenced off by another server of the same node-id on the bucket: stop,
    // and exit with the reason rather than serve refusals for good.
    let fenced = Arc::new(std::sync::atomic::AtomicBool::new(false));
    tokio::spawn(stop_when_fenced(store.clone(), fenced.clone(), stop_tx.clone()));
    tracekeep_server::serve(listener, routers.main, settings, stopped(stop_rx))
        .await
        .context("serve")?;
    for (name, task) in serving {
        task.await
            .with_context(|| format!("join the {name} listener"))?
            .with_context(|| format!("serve {name}"))?;
    }
    if let Some(sweeper) = sweeper {
        sweeper.await.context("join the retention sweeper")?;
    }
    if let Some(bounder) = bounder {
        bounder.await.context("join the disk bound")?;
    }
    if let Some(follower) = follower {
        follower.await.context("join the cluster's truncate follower")?;
    }
    // The store closes (its writer drains first) when the last reference
    // goes: here, or in `main` as the runtimes drop their last tasks.
    drop(store);
    if fenced.load(std::sync::atomic::Ordering::Relaxed) {
        anyhow::bail!(
            "stopped: another server opened this node's database in the bucket (node-id {:?}) and fenced this one off; run one server per node-id",
            node_id
        );
    }
    Ok(())
}

/// How often the server checks whether it was fenced off.
const FENCING_CHECK: std::time::Duration = std::time::Duration::from_millis(250);

/// Stops the server (through `stop`) once its store is fenced off, noting it
/// in `fenced`.
async fn stop_when_fenced(
    store: Arc<Store>,
    fenced: Arc<std::sync::atomic::AtomicBool>,
    stop: Arc<tokio::sync::watch::Sender<bool>>,
) {
    let mut ticks = tokio::time::interval(FENCING_CHECK);
    loop {
        ticks.tick().await;
        if *stop.borrow() {
            return;
        }
        if store.fenced() {
            tracing::error!(
                "another server opened this node's database in the bucket (the same node-id): this one is fenced off and stops"
            );
            fenced.store(true, std::sync::atomic::Ordering::Relaxed);
            let _ = stop.send(true);
            return;
        }
    }
}

/// SIGHUP, caught from now on; `None` where it cannot be (then the token
/// file is read at start only).
#[cfg(unix)]
fn hangup_signal() -> Option<tokio::signal::unix::Signal> {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::hangup()) {
        Ok(hangups) => Some(hangups),
        Err(error) => {
            tracing::warn!(%error, "cannot listen for SIGHUP; the token file is read at start only");
            None
        }
    }
}

#[cfg(not(unix))]
fn hangup_signal() -> Option<()> {
    None
}

/// Re-reads the token file on each SIGHUP; a file that cannot be used keeps
/// the tokens in use. Without a token file, a SIGHUP is logged and ignored.
#[cfg(unix)]
async fn reload_tokens_on_sighup(
    hangups: Option<tokio::signal::unix::Signal>,
    tokens: Option<Arc<tracekeep_server::auth::Tokens>>,
) {
    let Some(mut hangups) = hangups else { return };
    while hangups.recv().await.is_some() {
        let Some(tokens) = &tokens else {
            tracing::info!("SIGHUP: no auth-token-file to reload");
            continue;
        };
        match tokens.reload() {
            Ok(count) => tracing::info!(tokens = count, "auth tokens reloaded"),
            Err(error) => tracing::error!(%error, "auth tokens not reloaded; the previous ones stay in use"),
        }
    }
}

#[cfg(not(unix))]
async fn reload_tokens_on_sighup(_hangups: Option<()>, _tokens: Option<Arc<tracekeep_server::auth::Tokens>>) {}

/// Completes on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = interrupt => {}
                    _ = terminate.recv() => {}
                }
            }
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGTERM; only SIGINT stops the server");
                let _ = interrupt.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
}
