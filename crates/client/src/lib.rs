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
