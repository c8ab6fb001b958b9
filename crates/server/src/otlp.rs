//! OpenTelemetry's OTLP trace ingest: `TraceService/Export` over gRPC and
//! `POST /v1/traces` over HTTP (protobuf or OTLP's JSON), into the same store
//! as DM's events and Zipkin's spans.
//!
//! OTLP's rules: a span with a bad ID is refused and counted in
//! `partial_success` while the rest of its request is stored; a body that
//! does not decode is `400` / `INVALID_ARGUMENT`; one past `max-request-size`
//! is `413` / `RESOURCE_EXHAUSTED`; a full disk is `503` with `Retry-After` /
//! `UNAVAILABLE`, which SDKs retry, so nothing acknowledged is lost.

mod grpc;
pub mod mapping;
mod wire;

pub use grpc::TraceExportServer;

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use prost::Message as _;
use tokio::sync::Semaphore;
use tracekeep_proto::TraceEvent;
use tracekeep_store::Store;

use crate::error::{ApiError, RETRY_AFTER_SECONDS};
use crate::ingest;
use crate::metrics::Metrics;

/// The gRPC path of OTLP's trace export.
pub const EXPORT_PATH: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

/// What the OTLP handlers share.
#[derive(Clone, Debug)]
pub struct OtlpState {
    /// The store.
    pub store: Arc<Store>,
    /// Largest request accepted (after gzip is undone, too), in bytes.
    pub max_request_size: usize,
    /// Places for uploads, shared with the other protocols' ingest.
    pub uploads: Arc<Semaphore>,
    /// Where ingest is counted.
    pub metrics: Arc<Metrics>,
}

/// Converts and stores one export request: the valid spans in one commit,
/// answered once durable; the refused ones counted in the answer.
async fn export(
    state: &OtlpState,
    request: ExportTraceServiceRequest,
    raw: Option<&wire::RawSpans<'_>>,
) -> Result<ExportTraceServiceResponse, ApiError> {
    let converted = mapping::convert(request, raw);
    let stored = converted.spans.len();
    let events = converted.spans.into_iter().map(TraceEvent::Span).collect();
    ingest::store_events(&state.store, &state.metrics, "otlp", events).await?;
    tracing::debug!(stored, rejected = converted.rejected, "stored OTLP spans");
    if converted.rejected > 0 {
        tracing::warn!(rejected = converted.rejected, reason = %converted.error_message, "OTLP spans refused");
    }
    Ok(ExportTraceServiceResponse {
        partial_success: (converted.rejected > 0).then_some(ExportTracePartialSuccess {
            rejected_spans: converted.rejected,
            error_message: converted.error_message,
        }),
    })
}

/// tonic answers a body past the size limit with `OUT_OF_RANGE`, and one
/// it cannot decode (bad protobuf, a broken gzip stream) with `INTERNAL`,
/// before a handler runs. A message that does not decode is the client's
/// fault, and `INTERNAL` tells it to look for a bug in the server: every
/// gRPC method answers it `INVALID_ARGUMENT`. OTLP also asks for
/// `RESOURCE_EXHAUSTED` past the size limit (DM keeps tonic's code). Both
/// come back as trailers-only responses, whose status is in the headers:
/// rewritten here.
pub async fn grpc_status_codes(request: Request, next: Next) -> Response {
    let otlp = request.uri().path() == EXPORT_PATH;
    let mut response = next.run(request).await;
    let message = response
        .headers()
        .get("grpc-message")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let replacement = match response
        .headers()
        .get("grpc-status")
        .and_then(|value| value.to_str().ok())
    {
        // INTERNAL from the protobuf decoder or the decompressor.
        Some("13") if message.contains("decode") || message.contains("ecompress") => Some("3"),
        // OUT_OF_RANGE from the size limit.
        Some("11") if otlp && (message.contains("too%20large") || message.contains("too large")) => Some("8"),
        _ => None,
    };
    if let Some(code) = replacement {
        response
            .headers_mut()
            .insert("grpc-status", HeaderValue::from_static(code));
    }
    response
}

/// OTLP/HTTP's body formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Encoding {
    Protobuf,
    Json,
}

impl Encoding {
    fn of(headers: &HeaderMap) -> Result<Encoding, ApiError> {
        let (content_type, media_type) = ingest::content_type(headers, "");
        match media_type.as_str() {
            "application/x-protobuf" | "application/protobuf" => Ok(Encoding::Protobuf),
            "application/json" => Ok(Encoding::Json),
            _ => Err(ApiError::UnsupportedMediaType(format!(
                "unsupported content type {content_type:?} for /v1/traces: use application/x-protobuf or application/json"
            ))),
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            Encoding::Protobuf => "application/x-protobuf",
            Encoding::Json => "application/json",
        }
    }
}

/// google.rpc.Status, the body of an OTLP/HTTP error (details left out).
#[derive(Clone, PartialEq, prost::Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

/// An error as OTLP/HTTP answers it: the status, a `google.rpc.Status` body
/// in the request's encoding, and `Retry-After` when the client should retry.
fn error_response(error: &ApiError, encoding: Encoding) -> Response {
    let status = RpcStatus {
        code: error.grpc_code() as i32,
        message: error.to_string(),
    };
    let body = match encoding {
        Encoding::Protobuf => status.encode_to_vec(),
        Encoding::Json => serde_json::json!({"code": status.code, "message": status.message})
            .to_string()
            .into_bytes(),
    };
    let mut response = (error.status(), [(header::CONTENT_TYPE, encoding.content_type())], body).into_response();
    if matches!(error, ApiError::Unavailable(_)) {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static(RETRY_AFTER_SECONDS));
    }
    response
}

async fn export_http(State(state): State<OtlpState>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    // An unknown content type is answered in protobuf, OTLP's default.
    let encoding = match Encoding::of(&parts.headers) {
        Ok(encoding) => encoding,
        Err(error) => return error_response(&error, Encoding::Protobuf),
    };
    let result = async {
        let _place = state.uploads.acquire().await.ok();
        let body = ingest::read_body(&parts.headers, body, state.max_request_size).await?;
        match encoding {
            Encoding::Protobuf => {
                let request = ExportTraceServiceRequest::decode(&body[..])
                    .map_err(|error| ApiError::BadRequest(format!("bad protobuf: {error}")))?;
                export(&state, request, wire::raw_spans(&body).as_ref()).await
            }
            Encoding::Json => {
                let request = serde_json::from_slice::<ExportTraceServiceRequest>(&body)
                    .map_err(|error| ApiError::BadRequest(format!("bad OTLP JSON: {error}")))?;
                export(&state, request, None).await
            }
        }
    }
    .await;
    match result {
        Ok(response) => {
            let body = match encoding {
                Encoding::Protobuf => response.encode_to_vec(),
                Encoding::Json => response_json(&response).to_string().into_bytes(),
            };
            (StatusCode::OK, [(header::CONTENT_TYPE, encoding.content_type())], body).into_response()
        }
        Err(error) => {
            tracing::warn!(%error, "OTLP/HTTP export refused");
            error_response(&error, encoding)
        }
    }
}

/// An export response in OTLP's JSON: proto3's mapping writes the int64
/// `rejectedSpans` as a string (the crate's serde writes a number).
fn response_json(response: &ExportTraceServiceResponse) -> serde_json::Value {
    match &response.partial_success {
        None => serde_json::json!({}),
        Some(partial) => serde_json::json!({"partialSuccess": {
            "rejectedSpans": partial.rejected_spans.to_string(),
            "errorMessage": partial.error_message,
        }}),
    }
}

/// OTLP/HTTP's route, `POST /v1/traces`.
pub fn http_router(state: OtlpState) -> Router {
    Router::new().route("/v1/traces", post(export_http)).with_state(state)
}
