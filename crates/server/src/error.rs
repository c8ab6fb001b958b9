//! [`ApiError`]: how store and request errors reach clients, over HTTP and gRPC.

use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use tracekeep_store::{Store, StoreError};

/// A request failed; carries the HTTP status and the text every client sees.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request is malformed (400).
    #[error("{0}")]
    BadRequest(String),
    /// What was asked for does not exist (404).
    #[error("{0}")]
    NotFound(String),
    /// The request needs a valid bearer token (401).
    #[error("{0}")]
    Unauthorized(String),
    /// What the request would create exists already (409).
    #[error("{0}")]
    Conflict(String),
    /// The request body did not arrive in time (408).
    #[error("{0}")]
    RequestTimeout(String),
    /// The request body is larger than allowed (413).
    #[error("{0}")]
    PayloadTooLarge(String),
    /// The request body's content type is not one the endpoint reads (415).
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// The server cannot take the request now, e.g. the disk reserve is reached (503).
    #[error("{0}")]
    Unavailable(String),
    /// The server failed, or found damaged data (500).
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    /// The HTTP status for this error.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::RequestTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl ApiError {
    /// The gRPC code for this error, as OTLP/gRPC expects it: a full disk is
    /// `UNAVAILABLE` (clients retry), a bad request `INVALID_ARGUMENT` (not retried).
    pub fn grpc_code(&self) -> tonic::Code {
        match self {
            ApiError::BadRequest(_) | ApiError::UnsupportedMediaType(_) => tonic::Code::InvalidArgument,
            ApiError::NotFound(_) => tonic::Code::NotFound,
            ApiError::Conflict(_) => tonic::Code::AlreadyExists,
            ApiError::Unauthorized(_) => tonic::Code::Unauthenticated,
            ApiError::RequestTimeout(_) => tonic::Code::DeadlineExceeded,
            ApiError::PayloadTooLarge(_) => tonic::Code::ResourceExhausted,
            ApiError::Unavailable(_) => tonic::Code::Unavailable,
            ApiError::Internal(_) => tonic::Code::Internal,
        }
    }
}

impl From<ApiError> for tonic::Status {
    fn from(error: ApiError) -> tonic::Status {
        tonic::Status::new(error.grpc_code(), error.to_string())
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            // dm-tracer's text (`errors.NotFoundf("trace event %s", id)`); DM tooling matches on it.
            StoreError::TraceNotFound { trace_id } => ApiError::NotFound(format!("trace event {trace_id} not found")),
            StoreError::OffsetPastEnd { .. } | StoreError::InvalidEvent { .. } => {
                ApiError::BadRequest(error.to_string())
            }
            // A bucket that stopped answering: the client should retry.
            StoreError::Unavailable { .. } => ApiError::Unavailable(error.to_string()),
            StoreError::Corrupted { .. } => {
                tracing::error!(%error, "damaged data found while serving a request");
                ApiError::Internal(format!("stored data is damaged: {error}"))
            }
            other => {
                tracing::error!(error = %other, "store operation failed");
                ApiError::Internal(other.to_string())
            }
        }
    }
}

/// Seconds a client is asked to wait before retrying a `503`.
pub const RETRY_AFTER_SECONDS: &str = "30";

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let mut response = (
            status,
            [("content-type", "text/plain; charset=utf-8")],
            self.to_string(),
        )
            .into_response();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from_static(RETRY_AFTER_SECONDS),
            );
        }
        response
    }
}

/// What a client is told when a store call panicked; the details stay on
/// the server.
const STORE_TASK_FAILED: &str = "internal error: a store task failed";

/// A blocking store call from async code, run on the blocking pool; the
/// store's own error is left for the caller to inspect.
pub async fn blocking_raw<T: Send + 'static>(
    call: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<Result<T, StoreError>, ApiError> {
    tokio::task::spawn_blocking(call).await.map_err(|join_error| {
        tracing::error!(error = %join_error, "a store task failed");
        ApiError::Internal(STORE_TASK_FAILED.into())
    })
}

/// A read of one trace from async code. When the store's reads are local
/// it runs here, on the calling worker: a hop to the blocking pool and back
/// costs two thread wake-ups, and while ingest keeps the cores busy each
/// waited for a core often enough that 2-4% of queries took over 2 ms in
/// the server (docs/design.md, "Reads before uploads"). Such a read costs
/// about what encoding its answer, which runs here anyway, does. On a
/// bucket a block may come from the network: the blocking pool, as
/// [`blocking`].
pub async fn trace_read<T: Send + 'static>(
    store: &Arc<Store>,
    call: impl FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
) -> Result<T, ApiError> {
    if !store.reads_are_local() {
        let store = Arc::clone(store);
        return blocking(move || call(&store)).await;
    }
    // As the blocking pool would, a panic answers 500 and the server goes on.
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| call(store))) {
        Ok(result) => result.map_err(ApiError::from),
        Err(_) => {
            tracing::error!("a store read panicked");
            Err(ApiError::Internal(STORE_TASK_FAILED.into()))
        }
    }
}

/// A blocking store call from async code, run on the blocking pool.
pub async fn blocking<T: Send + 'static>(
    call: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, ApiError> {
    blocking_raw(call).await?.map_err(ApiError::from)
}

#[cfg(test)]
#[path = "error_tests.rs"]
mod tests;
