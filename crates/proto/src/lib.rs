//! DM's `pb.Tracer` wire contract and the event types built on it.
//!
//! - [`pb`]: the code generated from `proto/tracer.proto` (messages, the tonic
//!   client and server for `pb.Tracer`).
//! - [`TraceEvent`]: one stored event of any kind, the unit the store appends
//!   and returns.
//! - [`json`]: the JSON dm-tracer printed for events, byte for byte.
//! - [`ingest`]: the server side of `pb.Tracer` with uploads left encoded.
//! - [`otlp_form`]: a stored OTLP span's form, each string attribute kept once.
//! - [`span`]: the service and log rules every reader of a stored span shares.
//! - [`wire`]: validating an event's protobuf bytes without decoding them.
//! - [`zipkin_proto3`]: Zipkin's v2 proto3 span list, for Zipkin ingest.

pub mod dm_names;
pub mod event;
mod go_json;
pub mod ingest;
pub mod json;
pub mod otlp_form;
pub mod span;
pub mod wire;

pub use event::{EventKind, TraceEvent};

/// Code generated from `proto/tracer.proto` (package `pb`).
#[allow(missing_docs, clippy::all, clippy::pedantic)]
pub mod pb {
    tonic::include_proto!("pb");
}

/// Zipkin's v2 proto3 messages (package `zipkin.proto3`, from `proto/zipkin.proto`),
/// as `POST /api/v2/spans` receives them with `application/x-protobuf`.
#[allow(missing_docs, clippy::all, clippy::pedantic)]
pub mod zipkin_proto3 {
    tonic::include_proto!("zipkin.proto3");
}
