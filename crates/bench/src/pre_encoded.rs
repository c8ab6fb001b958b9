//! A gRPC codec for load clients that send requests already encoded.
//!
//! A real client (a DM worker, an OpenTelemetry exporter) encodes its
//! requests on its own machine. Here the load client shares the server's two
//! cores, so every microsecond it spends building and encoding messages is
//! taken from the server being measured. Sending bytes prepared the way the
//! in-process ceilings prepare theirs leaves those cores to the server; the
//! bytes on the wire are the same protobuf a real client sends.

use std::marker::PhantomData;

use bytes::{Buf as _, BufMut as _, Bytes};
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};

/// Sends [`Bytes`] as the request message, decodes replies as `R`.
#[derive(Debug)]
pub struct PreEncoded<R>(PhantomData<fn() -> R>);

impl<R> Default for PreEncoded<R> {
    fn default() -> Self {
        PreEncoded(PhantomData)
    }
}

impl<R: prost::Message + Default + 'static> Codec for PreEncoded<R> {
    type Encode = Bytes;
    type Decode = R;
    type Encoder = PreEncoded<R>;
    type Decoder = PreEncoded<R>;

    fn encoder(&mut self) -> Self::Encoder {
        PreEncoded::default()
    }

    fn decoder(&mut self) -> Self::Decoder {
        PreEncoded::default()
    }
}

impl<R> Encoder for PreEncoded<R> {
    type Item = Bytes;
    type Error = tonic::Status;

    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl<R: prost::Message + Default> Decoder for PreEncoded<R> {
    type Item = R;
    type Error = tonic::Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<R>, tonic::Status> {
        let bytes = src.copy_to_bytes(src.remaining());
        R::decode(bytes)
            .map(Some)
            .map_err(|error| tonic::Status::internal(error.to_string()))
    }
}
