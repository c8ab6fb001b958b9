//! Client libraries for tracekeep.
//!
//! - [`dm`]: what DM workers do in Go, for Rust services: send DM-style
//!   binlog and job events to a tracekeep (or dm-tracer) server, batched, with
//!   a TSO synced from the server, never blocking the caller.
//! - [`span`]: the CockroachDB/KaiwuDB span tracer: spans, baggage,
//!   recording (single node and snowball), inject/extract, renderings, the
//!   exporter to tracekeep and KaiwuDB's Zipkin shadow tracer.

pub mod dm;
pub mod span;
mod upload;

/// The examples in `docs/client.md`, compiled as doc tests so the page cannot
/// drift from the API it describes.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/client.md")]
pub struct ClientGuideExamples;
