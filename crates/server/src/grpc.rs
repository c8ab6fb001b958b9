//! `pb.Tracer` over gRPC: DM workers' ingest and timestamp service.

use std::sync::Arc;

use tonic::{Request, Response, Status};
use tracekeep_store::pb::tracer_server::Tracer;
use tracekeep_store::pb::{
    CommonUploadResponse, GetTsoRequest, GetTsoResponse, UploadSpansRequest, UploadSyncerBinlogEventRequest,
    UploadSyncerJobEventRequest,
};
use tracekeep_store::{Store, TraceEvent};

use crate::error::{ApiError, blocking};

/// The `pb.Tracer` implementation over a [`Store`].
#[derive(Clone, Debug)]
pub struct TracerService {
    store: Arc<Store>,
}

impl TracerService {
    /// Serves from `store`.
    pub fn new(store: Arc<Store>) -> TracerService {
        TracerService { store }
    }

    /// Stores a batch; the reply comes only once it is durable. Errors are
    /// answered as `result = false` with the message, as dm-tracer did.
    async fn upload(&self, rpc: &'static str, events: Vec<TraceEvent>) -> CommonUploadResponse {
        let count = events.len();
        // The store answers through the channel once the batch is durable; no
        // thread waits for it meanwhile.
        let (done, outcome) = tokio::sync::oneshot::channel();
        self.store.append_then(events, move |result| {
            let _ = done.send(result);
        });
        let result = match outcome.await {
            Ok(result) => result.map_err(ApiError::from),
            Err(_) => Err(ApiError::Internal("the store stopped before answering".into())),
        };
        match result {
            Ok(()) => {
                tracing::debug!(rpc, count, "stored events");
                CommonUploadResponse {
                    result: true,
                    msg: String::new(),
                }
            }
            Err(error) => {
                tracing::warn!(rpc, count, %error, "upload refused");
                CommonUploadResponse {
                    result: false,
                    msg: error.to_string(),
                }
            }
        }
    }
}

#[tonic::async_trait]
impl Tracer for TracerService {
    async fn get_tso(&self, request: Request<GetTsoRequest>) -> Result<Response<GetTsoResponse>, Status> {
        let id = request.into_inner().id;
        let store = self.store.clone();
        let reply = match blocking(move || store.next_tso()).await {
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
        request: Request<UploadSyncerBinlogEventRequest>,
    ) -> Result<Response<CommonUploadResponse>, Status> {
        let events = request
            .into_inner()
            .events
            .into_iter()
            .map(TraceEvent::Binlog)
            .collect();
        Ok(Response::new(self.upload("UploadSyncerBinlogEvent", events).await))
    }

    async fn upload_syncer_job_event(
        &self,
        request: Request<UploadSyncerJobEventRequest>,
    ) -> Result<Response<CommonUploadResponse>, Status> {
        let events = request.into_inner().events.into_iter().map(TraceEvent::Job).collect();
        Ok(Response::new(self.upload("UploadSyncerJobEvent", events).await))
    }

    async fn upload_spans(
        &self,
        request: Request<UploadSpansRequest>,
    ) -> Result<Response<CommonUploadResponse>, Status> {
        let events = request.into_inner().spans.into_iter().map(TraceEvent::Span).collect();
        Ok(Response::new(self.upload("UploadSpans", events).await))
    }
}
