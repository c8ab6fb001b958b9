//! Batch-upload plumbing shared by the DM worker and the span exporter:
//! retries with backoff until the server answers, and drop accounting for
//! the bounded queues in front of them.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tonic::transport::{Channel, Endpoint};
use tracekeep_proto::pb::CommonUploadResponse;
use tracekeep_proto::pb::tracer_client::TracerClient;

use crate::dm::ClientError;

/// The outcome of one upload attempt.
pub(crate) enum Attempt {
    /// `result = true`.
    Acknowledged,
    /// `result = false`, with the server's message: retrying would not help.
    Refused(String),
    /// The RPC failed in transport: worth retrying.
    Failed(tonic::Status),
}

impl Attempt {
    /// Classifies an upload RPC's result.
    pub(crate) fn from_reply(reply: Result<tonic::Response<CommonUploadResponse>, tonic::Status>) -> Attempt {
        match reply {
            Ok(reply) if reply.get_ref().result => Attempt::Acknowledged,
            Ok(reply) => Attempt::Refused(reply.into_inner().msg),
            Err(status) => Attempt::Failed(status),
        }
    }
}

/// A lazily connecting client for `endpoint`: an absent server is not an
/// error here; the channel connects (and reconnects) when it is used.
pub(crate) fn connect_lazy(endpoint: &str) -> Result<TracerClient<Channel>, ClientError> {
    let endpoint = Endpoint::from_shared(endpoint.to_owned()).map_err(|error| ClientError::InvalidEndpoint {
        endpoint: endpoint.to_owned(),
        reason: error.to_string(),
    })?;
    Ok(TracerClient::new(
        endpoint
            .connect_timeout(Duration::from_secs(5))
            .tcp_nodelay(true)
            .connect_lazy(),
    ))
}

/// Counts an item dropped because a queue was full, logging the first drop
/// and every 1000th after it rather than each one.
pub(crate) fn count_drop(dropped: &AtomicU64, what: &'static str) {
    let dropped = dropped.fetch_add(1, Ordering::Relaxed) + 1;
    if dropped == 1 || dropped.is_multiple_of(1000) {
        tracing::warn!(dropped, "{what} queue full: dropping");
    }
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
