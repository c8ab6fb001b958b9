//! `pb.Tracer`'s server side with the uploads still encoded.
//!
//! The same service as [`crate::pb::tracer_server`], generated from the same
//! `.proto`, except that the three upload requests decode into
//! [`EncodedEvents`]: each event stays the protobuf bytes it arrived as (a
//! slice of the request buffer, not a copy). A server validates them with
//! [`crate::wire::scan_event`] and stores them without decoding them into
//! structs and encoding them again. Clients keep using [`crate::pb`].

/// An upload request (`UploadSyncerJobEventRequest`, `UploadSyncerBinlogEventRequest`
/// or `UploadSpansRequest`) as its events' bytes: all three hold their events in
/// field 1, so `repeated bytes` at field 1 reads any of them.
#[derive(Clone, PartialEq, prost::Message)]
pub struct EncodedEvents {
    /// One encoded event message per element.
    #[prost(bytes = "bytes", repeated, tag = "1")]
    pub events: Vec<prost::bytes::Bytes>,
}

#[allow(missing_docs, clippy::all, clippy::pedantic)]
mod generated {
    include!(concat!(env!("OUT_DIR"), "/ingest/pb.rs"));
}

pub use generated::tracer_server;
