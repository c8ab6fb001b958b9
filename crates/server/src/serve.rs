//! The connection loop: screened connections served by hyper (HTTP/1.1 and
//! HTTP/2 on one port), each HTTP/1 request head read within
//! `header-read-timeout-secs` (slowloris), connections bounded by
//! `max-connections`, and a graceful stop.

use std::future::Future;
use std::pin::pin;

use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::task::JoinSet;

use crate::Settings;
use crate::listener::ScreenedListener;

/// Serves `app` on `listener` until `shutdown` completes; then stops
/// accepting, asks every connection to finish its in-flight requests, and
/// gives them `settings.shutdown_timeout`.
pub(crate) async fn serve(
    listener: TcpListener,
    app: axum::Router,
    settings: Settings,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let mut listener = ScreenedListener::new(
        listener,
        settings.handshake_timeout,
        settings.metrics.open_connections(),
        settings.connection_slots.clone(),
        settings.tls.clone(),
        settings.ingest_runtime.clone(),
    );
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut connections = JoinSet::new();
    let mut shutdown = pin!(shutdown);
    loop {
        tokio::select! {
            (stream, peer) = listener.next() => {
                let service = TowerToHyperService::new(app.clone());
                let mut stop = stop_rx.clone();
                let header_read_timeout = settings.header_read_timeout;
                let runtime = stream.runtime().cloned();
                let connection = async move {
                    let mut builder = Builder::new(TokioExecutor::new());
                    builder
                        .http1()
                        .timer(TokioTimer::new())
                        .header_read_timeout(header_read_timeout);
                    builder.http2().timer(TokioTimer::new());
                    let mut connection = pin!(builder.serve_connection_with_upgrades(TokioIo::new(stream), service));
                    tokio::select! {
                        result = connection.as_mut() => {
                            if let Err(error) = result {
                                tracing::debug!(%peer, %error, "connection ended with an error");
                            }
                        }
                        // The watch's guard is dropped inside: it must not live across an await.
                        () = async { let _ = stop.wait_for(|stop| *stop).await; } => {
                            connection.as_mut().graceful_shutdown();
                            if let Err(error) = connection.await {
                                tracing::debug!(%peer, %error, "connection ended with an error while stopping");
                            }
                        }
                    }
                };
                // A connection is served where its socket is registered.
                match runtime {
                    Some(runtime) => connections.spawn_on(connection, &runtime),
                    None => connections.spawn(connection),
                };
            }
            // Finished connections are reaped as they end, so the set holds
            // only open ones.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            () = &mut shutdown => break,
        }
    }
    tracing::info!("shutting down: no new connections, finishing in-flight requests");
    drop(listener);
    let _ = stop_tx.send(true);
    let drained = tokio::time::timeout(settings.shutdown_timeout, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(timeout = ?settings.shutdown_timeout, "in-flight requests did not finish in time; closing anyway");
        connections.abort_all();
    }
    // A cut connection is dropped where it runs, on the ingest runtime for
    // HTTP/2: wait for each, so what it holds (the store) is let go before
    // this returns. After a clean drain the set is empty already.
    while connections.join_next().await.is_some() {}
    Ok(())
}

#[cfg(test)]
#[path = "serve_tests.rs"]
mod tests;
