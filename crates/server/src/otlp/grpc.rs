//! OTLP/gRPC's `TraceService/Export`, served with a codec of our own rather
//! than the crate's generated server: the request reaches the handler as one
//! contiguous buffer, which prost decodes without tonic's chunked
//! `DecodeBuf` and [`super::wire::raw_spans`] walks for each span's bytes, so
//! a span's stored OTLP form is copied instead of re-encoded.
//! (docs/design.md, "OTLP spans".)

use opentelemetry_proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use prost::Message as _;
use prost::bytes::Buf as _;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::codegen::{
    Body, BoxFuture, Bytes, CompressionEncoding, Context, EnabledCompressionEncodings, Poll, Service, StdError, http,
};
use tonic::server::{Grpc, NamedService, UnaryService};

use super::{EXPORT_PATH, OtlpState, export, wire};

/// OTLP's trace service: `Export`, the one method, answered from the store.
#[derive(Clone, Debug)]
pub struct TraceExportServer {
    state: OtlpState,
}

impl TraceExportServer {
    /// The service, taking gzip as OTLP exporters may send it; requests past
    /// `state.max_request_size` (after gzip is undone, too) are refused by
    /// tonic before they are read whole.
    pub fn new(state: OtlpState) -> TraceExportServer {
        TraceExportServer { state }
    }
}

impl NamedService for TraceExportServer {
    const NAME: &'static str = "opentelemetry.proto.collector.trace.v1.TraceService";
}

impl<B> Service<http::Request<B>> for TraceExportServer
where
    B: Body + Send + 'static,
    B::Error: Into<StdError> + Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = std::convert::Infallible;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        if request.uri().path() != EXPORT_PATH {
            return Box::pin(async { Ok(tonic::Status::unimplemented("no such method").into_http()) });
        }
        let state = self.state.clone();
        Box::pin(async move {
            let mut gzip = EnabledCompressionEncodings::default();
            gzip.enable(CompressionEncoding::Gzip);
            let limit = state.max_request_size;
            let mut grpc = Grpc::new(RequestBytes)
                .apply_compression_config(gzip, EnabledCompressionEncodings::default())
                .apply_max_message_size_config(Some(limit), None);
            Ok(grpc.unary(Export { state }, request).await)
        })
    }
}

/// The handler: decode, store, answer.
struct Export {
    state: OtlpState,
}

impl UnaryService<Bytes> for Export {
    type Response = ExportTraceServiceResponse;
    type Future = BoxFuture<tonic::Response<ExportTraceServiceResponse>, tonic::Status>;

    fn call(&mut self, request: tonic::Request<Bytes>) -> Self::Future {
        let state = self.state.clone();
        Box::pin(async move {
            let body = request.into_inner();
            let decoded = ExportTraceServiceRequest::decode(&body[..])
                .map_err(|error| tonic::Status::invalid_argument(format!("bad protobuf: {error}")))?;
            let raw = wire::raw_spans(&body);
            // The place among `max-concurrent-uploads` was taken before the
            // body was read (`grpc::limit_uploads`).
            match export(&state, decoded, raw.as_ref()).await {
                Ok(response) => Ok(tonic::Response::new(response)),
                Err(error) => {
                    tracing::warn!(%error, "OTLP/gRPC export refused");
                    Err(tonic::Status::from(error))
                }
            }
        })
    }
}

/// Requests in as their bytes; responses out through prost.
#[derive(Clone, Copy, Debug, Default)]
struct RequestBytes;

impl Codec for RequestBytes {
    type Encode = ExportTraceServiceResponse;
    type Decode = Bytes;
    type Encoder = RequestBytes;
    type Decoder = RequestBytes;

    fn encoder(&mut self) -> Self::Encoder {
        RequestBytes
    }

    fn decoder(&mut self) -> Self::Decoder {
        RequestBytes
    }
}

impl Encoder for RequestBytes {
    type Item = ExportTraceServiceResponse;
    type Error = tonic::Status;

    fn encode(&mut self, item: ExportTraceServiceResponse, dst: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
        item.encode(dst)
            .map_err(|error| tonic::Status::internal(format!("encoding the answer: {error}")))
    }
}

impl Decoder for RequestBytes {
    type Item = Bytes;
    type Error = tonic::Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, tonic::Status> {
        // One message's bytes, contiguous (tonic buffers a whole message
        // before decoding it, so this is a copy at most, often none).
        Ok(Some(src.copy_to_bytes(src.remaining())))
    }
}
