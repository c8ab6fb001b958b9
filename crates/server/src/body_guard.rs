//! Every request body is read under a deadline and a size bound, and a unary
//! gRPC call carries exactly one message.
//!
//! `header-read-timeout-secs` bounds a request's head; without a bound on its
//! body, a client that declares a body and then stalls holds a connection
//! (and one of `max-connections`) for ever. The guard here gives every body
//! `body-read-timeout-secs` from the moment the server starts reading it
//! (Go's `http.Server.ReadTimeout`), refuses a form route's declared
//! `Content-Length` over [`FORM_BODY_LIMIT`] before reading a byte (ingest
//! routes do so themselves, in their protocol's error format), and counts
//! gRPC messages as they stream past: tonic would otherwise decode
//! the first message of a unary call and drop the rest unread, acknowledging
//! data it never stored.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body::{Body as HttpBody, Frame, SizeHint};
use tokio::time::Sleep;

use crate::error::ApiError;
use crate::routes::{self, Access};

/// Largest body of a form endpoint (`/events/query`, `/events/scan`,
/// `/events/delete`, checkpoints, ...): room for a 64 KiB trace ID escaped
/// three times over.
pub(crate) const FORM_BODY_LIMIT: usize = 1 << 20;

/// What the guard enforces.
#[derive(Clone, Copy, Debug)]
pub(crate) struct BodyGuard {
    /// How long a body may take to arrive once the server reads it.
    pub timeout: Duration,
}

/// The body did not arrive within `body-read-timeout-secs`.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive within body-read-timeout-secs ({0:?})")]
pub(crate) struct BodyTimedOut(Duration);

/// True for a gRPC request (`application/grpc`, `application/grpc+proto`, ...).
pub(crate) fn is_grpc(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/grpc"))
}

/// The `Content-Length` a request declares, if any.
pub(crate) fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().parse::<u64>().ok())
}

/// The middleware: refuses an over-long declared body, and wraps the body so
/// that its reads time out and a gRPC call's second message is refused.
pub(crate) async fn guard_bodies(State(guard): State<BodyGuard>, request: Request, next: Next) -> Response {
    let grpc = is_grpc(request.headers());
    // Ingest routes refuse an over-long declared body themselves, in their
    // protocol's error format (`ingest::read_body`); gRPC's limit is per message.
    let form_route = routes::classify(request.uri().path()).kind != Access::Ingest;
    if form_route && !grpc && declared_length(request.headers()).is_some_and(|length| length > FORM_BODY_LIMIT as u64) {
        return too_large(FORM_BODY_LIMIT, FORM_LIMIT_NAME).into_response();
    }
    let (parts, body) = request.into_parts();
    let guarded = GuardedBody {
        inner: body,
        timeout: guard.timeout,
        deadline: None,
        messages: grpc.then(GrpcMessages::default),
        done: false,
    };
    next.run(Request::from_parts(parts, Body::new(guarded))).await
}

/// What the 413 of an ingest route names.
pub(crate) const INGEST_LIMIT_NAME: &str = "max-request-size";
/// What the 413 of a form route names.
pub(crate) const FORM_LIMIT_NAME: &str = "the form endpoints' limit";

/// The 413 answer for a body past `limit` bytes, naming the limit.
pub(crate) fn too_large(limit: usize, limit_name: &str) -> ApiError {
    ApiError::PayloadTooLarge(format!("request body is larger than {limit_name} ({limit} bytes)"))
}

/// Reads a whole body of at most `limit` bytes: 413 past it, 408 when it
/// does not arrive in time, 400 when the connection fails.
pub(crate) async fn collect(body: Body, limit: usize, limit_name: &str) -> Result<Bytes, ApiError> {
    axum::body::to_bytes(body, limit).await.map_err(|error| {
        let mut source = std::error::Error::source(&error);
        while let Some(cause) = source {
            if cause.is::<http_body_util::LengthLimitError>() {
                return too_large(limit, limit_name);
            }
            if let Some(timed_out) = cause.downcast_ref::<BodyTimedOut>() {
                return ApiError::RequestTimeout(timed_out.to_string());
            }
            source = cause.source();
        }
        ApiError::BadRequest(format!("reading the request body failed: {error}"))
    })
}

/// A request body under the guard.
struct GuardedBody {
    inner: Body,
    timeout: Duration,
    /// Armed at the first read: a request waiting for an upload place has
    /// not started its body yet.
    deadline: Option<Pin<Box<Sleep>>>,
    /// For gRPC requests: where the message boundaries are.
    messages: Option<GrpcMessages>,
    /// An error was returned; the body ends there.
    done: bool,
}

impl GuardedBody {
    fn fail(&mut self, error: axum::BoxError) -> Poll<Option<Result<Frame<Bytes>, axum::BoxError>>> {
        self.done = true;
        Poll::Ready(Some(Err(error)))
    }
}

impl HttpBody for GuardedBody {
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(None);
        }
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let (Some(messages), Some(data)) = (this.messages.as_mut(), frame.data_ref())
                    && messages.feed(data).is_err()
                {
                    // tonic keeps the code of a `Status` found in a body error.
                    return this.fail(Box::new(tonic::Status::unimplemented(
                        "a unary call must carry exactly one message; this request carried more, and nothing of it was stored",
                    )));
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(error))) => this.fail(error.into()),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => {
                let timeout = this.timeout;
                let deadline = this
                    .deadline
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
                if deadline.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                let timed_out = BodyTimedOut(timeout);
                if this.messages.is_some() {
                    // Not CANCELLED: tonic reads that as the end of the stream.
                    return this.fail(Box::new(tonic::Status::deadline_exceeded(timed_out.to_string())));
                }
                this.fail(Box::new(timed_out))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Counts gRPC's length-prefixed messages (a flag byte, a 4-byte big-endian
/// length, the message) in a body that arrives in arbitrary pieces.
#[derive(Debug, Default)]
struct GrpcMessages {
    /// The prefix being read, and how much of it has arrived.
    prefix: [u8; 5],
    filled: usize,
    /// Bytes of the current message still to come.
    remaining: u64,
    /// Messages begun so far.
    begun: u32,
}

/// A second message began.
#[derive(Debug)]
struct SecondMessage;

impl GrpcMessages {
    fn feed(&mut self, mut data: &[u8]) -> Result<(), SecondMessage> {
        while !data.is_empty() {
            if self.remaining > 0 {
                let skip = usize::try_from(self.remaining).unwrap_or(usize::MAX).min(data.len());
                data = &data[skip..];
                self.remaining -= skip as u64;
                continue;
            }
            if self.filled == 0 {
                self.begun += 1;
                if self.begun > 1 {
                    return Err(SecondMessage);
                }
            }
            let take = (self.prefix.len() - self.filled).min(data.len());
            self.prefix[self.filled..self.filled + take].copy_from_slice(&data[..take]);
            self.filled += take;
            data = &data[take..];
            if self.filled == self.prefix.len() {
                let [_, a, b, c, d] = self.prefix;
                self.remaining = u64::from(u32::from_be_bytes([a, b, c, d]));
                self.filled = 0;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn framed(messages: &[&[u8]]) -> Vec<u8> {
        let mut body = Vec::new();
        for message in messages {
            body.push(0);
            body.extend_from_slice(&u32::try_from(message.len()).unwrap_or(u32::MAX).to_be_bytes());
            body.extend_from_slice(message);
        }
        body
    }

    /// Feeds `body` in pieces of `size` bytes; true when a second message was seen.
    fn second_seen(body: &[u8], size: usize) -> bool {
        let mut messages = GrpcMessages::default();
        body.chunks(size).any(|piece| messages.feed(piece).is_err())
    }

    #[test]
    fn one_message_passes_in_any_split() {
        let body = framed(&[b"hello, world"]);
        for size in 1..=body.len() {
            assert!(!second_seen(&body, size), "pieces of {size}");
        }
        assert!(!second_seen(&framed(&[b""]), 1), "an empty message");
    }

    #[test]
    fn a_second_message_is_seen_in_any_split() {
        for body in [
            framed(&[b"first", b"second"]),
            framed(&[b"", b""]),
            framed(&[b"x", b""]),
        ] {
            for size in 1..=body.len() {
                assert!(second_seen(&body, size), "pieces of {size}: {body:?}");
            }
        }
    }
}
