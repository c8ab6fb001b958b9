//! Uploading with retries: transport failures are retried with exponential
//! backoff until the server answers; what it answers is final.

use std::future::Future;
use std::time::Duration;

/// The outcome of one upload attempt.
pub(crate) enum Attempt {
    /// `result = true`.
    Acknowledged,
    /// `result = false`, with the server's message: retrying would not help.
    Refused(String),
    /// The RPC failed in transport: worth retrying.
    Failed(tonic::Status),
}

/// What the server finally answered.
pub(crate) enum Answer {
    Acknowledged,
    Refused(String),
}

/// Retries `attempt` until the server answers, calling `on_failure` for each
/// transport failure. Backoff starts at `min` and doubles up to `max`.
pub(crate) async fn until_answered<F, Fut>(
    min: Duration,
    max: Duration,
    mut on_failure: impl FnMut(&tonic::Status),
    mut attempt: F,
) -> Answer
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Attempt>,
{
    let mut backoff = min.max(Duration::from_millis(1));
    loop {
        match attempt().await {
            Attempt::Acknowledged => return Answer::Acknowledged,
            Attempt::Refused(message) => return Answer::Refused(message),
            Attempt::Failed(status) => {
                on_failure(&status);
                tracing::debug!(%status, ?backoff, "upload failed; retrying");
                // Backoff between retries of an unreachable server.
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(max.max(Duration::from_millis(1)));
            }
        }
    }
}
