//! What the background jobs (retention's sweep, the disk bound) share: a
//! store call run off the async workers, and a pause the server's stop cuts
//! short.

use std::future::Future;

use tokio::sync::watch;

/// Runs `pass` on the blocking pool. A failure or a panic is logged as
/// `what` and gives `None`: the job tries again at its next turn.
pub(crate) async fn blocking_pass<T: Send + 'static>(
    what: &'static str,
    pass: impl FnOnce() -> tracekeep_store::Result<T> + Send + 'static,
) -> Option<T> {
    match tokio::task::spawn_blocking(pass).await {
        Ok(Ok(value)) => Some(value),
        Ok(Err(error)) => {
            tracing::warn!(%error, "{what} failed; retrying at the next turn");
            None
        }
        Err(error) => {
            tracing::error!(%error, "{what} panicked; retrying at the next turn");
            None
        }
    }
}

/// Waits for `pause` to end, unless `stop` turns true first: then `false`.
pub(crate) async fn unless_stopped(stop: &mut watch::Receiver<bool>, pause: impl Future) -> bool {
    tokio::select! {
        _ = pause => true,
        // The watch's guard is dropped inside: it must not live across an await.
        () = async { let _ = stop.wait_for(|stop| *stop).await; } => false,
    }
}
