//! `pb.Tracer` over gRPC: DM workers' ingest and timestamp service.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::middleware::Next;
use axum::response::Response as HttpResponse;
use tokio::sync::Semaphore;
use tonic::{Request, Response, Status};
use tracekeep_proto::ingest::EncodedEvents;
use tracekeep_proto::ingest::tracer_server::Tracer;
use tracekeep_store::pb::{CommonUploadResponse, GetTsoRequest, GetTsoResponse};
use tracekeep_store::{EventKind, Store, StoreError};

use crate::error::{ApiError, blocking};
use crate::metrics::{Metrics, Refusal};

/// Holds each upload until a place among `max-concurrent-uploads` is free,
/// before its body is read: waiting uploads cost no memory beyond what their
/// connections' flow-control windows buffer, and the writer sets the pace.
/// OTLP's `Export` waits the same way; other calls (`GetTSO`) pass straight through.
pub async fn limit_uploads(
    State(places): State<Arc<Semaphore>>,
    request: axum::http::Request<Body>,
    next: Next,
) -> HttpResponse {
    let path = request.uri().path();
    if !(path.starts_with("/pb.Tracer/Upload") || path == crate::otlp::EXPORT_PATH) {
        return next.run(request).await;
    }
    // The semaphore is never closed; if it were, serving unlimited beats refusing.
    let _place = places.acquire().await.ok();
    next.run(request).await
}

/// The `pb.Tracer` implementation over a [`Store`]. Uploads arrive as each
/// event's protobuf bytes ([`EncodedEvents`]); the store validates them as
/// decoding would and keeps them as they are.
#[derive(Clone, Debug)]
pub struct TracerService {
    store: Arc<Store>,
    metrics: Arc<Metrics>,
}

impl TracerService {
    /// Serves from `store`, counting into `metrics`.
    pub fn new(store: Arc<Store>, metrics: Arc<Metrics>) -> TracerService {
        TracerService { store, metrics }
    }

    /// Stores a batch; the reply comes only once it is durable. Errors are
    /// answered as `result = false` with the message, as dm-tracer did.
    async fn upload(
        &self,
        rpc: &'static str,
        kind: EventKind,
        request: Request<EncodedEvents>,
    ) -> CommonUploadResponse {
        let events = request.into_inner().events;
        let count = events.len();
        if kind == EventKind::Span
            && let Err(reason) = refuse_internal_span_fields(&events)
        {
            self.metrics.count_refused("dm", Refusal::BadRequest);
            tracing::warn!(rpc, count, %reason, "upload refused");
            return CommonUploadResponse {
                result: false,
                msg: reason,
            };
        }
        // The store answers through the channel once the batch is durable; no
        // thread waits for it meanwhile.
        let (done, outcome) = tokio::sync::oneshot::channel();
        self.store.append_encoded_then(kind, &events, move |result| {
            let _ = done.send(result);
        });
        let result = match outcome.await {
            Ok(result) => result.map_err(|error| {
                let reason = match error {
                    StoreError::DiskFull { .. } => Refusal::DiskFull,
                    StoreError::Unavailable { .. } => Refusal::Unavailable,
                    StoreError::InvalidEvent { .. } => Refusal::BadRequest,
                    _ => Refusal::Internal,
                };
                (reason, ApiError::from(error))
            }),
            Err(_) => Err((
                Refusal::Internal,
                ApiError::Internal("the store stopped before answering".into()),
            )),
        };
        match result {
            Ok(()) => {
                self.metrics.count_ingested_n("dm", kind, count as u64);
                tracing::debug!(rpc, count, "stored events");
                CommonUploadResponse {
                    result: true,
                    msg: String::new(),
                }
            }
            Err((reason, error)) => {
                self.metrics.count_refused("dm", reason);
                tracing::warn!(rpc, count, %error, "upload refused");
                CommonUploadResponse {
                    result: false,
                    msg: error.to_string(),
                }
            }
        }
    }
}

/// `pb.Span`'s `otlp` (15) and `otlpFromTags` (16): tracekeep's OTLP ingest
/// writes them, and readers trust them to restore the span that arrived. A
/// client setting them by hand could store a span that export cannot read.
const INTERNAL_SPAN_FIELDS: [u32; 2] = [15, 16];

/// Refuses a batch in which any span sets [`INTERNAL_SPAN_FIELDS`].
fn refuse_internal_span_fields(events: &[prost::bytes::Bytes]) -> Result<(), String> {
    for (index, event) in events.iter().enumerate() {
        let mut rest = event.as_ref();
        while let Some(field) = tracekeep_proto::otlp_form::next_field(&mut rest) {
            if INTERNAL_SPAN_FIELDS.contains(&field.number) {
                return Err(format!(
                    "span {index}: otlp and otlpFromTags are written by tracekeep's OTLP ingest, not by clients; \
                     send OpenTelemetry spans to OTLP (/v1/traces or TraceService/Export); nothing of this request was stored"
                ));
            }
        }
    }
    Ok(())
}

#[tonic::async_trait]
impl Tracer for TracerService {
    async fn get_tso(&self, request: Request<GetTsoRequest>) -> Result<Response<GetTsoResponse>, Status> {
        let id = request.into_inner().id;
        // Almost every call is answered from memory; only raising the
        // persisted mark (once per 3 s of issued time) is a synced write,
        // done off the async workers.
        let issued = match self.store.next_tso_if_quick() {
            Some(ts) => Ok(ts),
            None => {
                let store = self.store.clone();
                blocking(move || store.next_tso()).await
            }
        };
        let reply = match issued {
            Ok(ts) => GetTsoResponse {
                result: true,
                msg: String::new(),
                ts,
            },
            Err(error) => {
                tracing::error!(%id, %error, "GetTSO failed");
                GetTsoResponse {
                    result: false,
                    msg: error.to_string(),
                    ts: 0,
                }
            }
        };
        Ok(Response::new(reply))
    }

    async fn upload_syncer_binlog_event(
        &self,
        request: Request<EncodedEvents>,
    ) -> Result<Response<CommonUploadResponse>, Status> {
        Ok(Response::new(
            self.upload("UploadSyncerBinlogEvent", EventKind::Binlog, request).await,
        ))
    }

    async fn upload_syncer_job_event(
        &self,
        request: Request<EncodedEvents>,
    ) -> Result<Response<CommonUploadResponse>, Status> {
        Ok(Response::new(
            self.upload("UploadSyncerJobEvent", EventKind::Job, request).await,
        ))
    }

    async fn upload_spans(&self, request: Request<EncodedEvents>) -> Result<Response<CommonUploadResponse>, Status> {
        Ok(Response::new(
            self.upload("UploadSpans", EventKind::Span, request).await,
        ))
    }
}
