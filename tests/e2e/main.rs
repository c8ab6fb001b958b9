//! End-to-end tests: the real `tracekeep-server` binary on `127.0.0.1:0`,
//! driven over real sockets (tonic for gRPC, a raw HTTP/1.1 client for HTTP).
//!
//! The binaries are found next to this test's own executable (cargo puts
//! them in the same target directory); `scripts/test.sh` builds them first.
#![allow(clippy::unwrap_used, missing_docs)]

mod access;
mod client;
mod corruption;
mod crash;
mod disk;
mod dump;
mod hostile;
mod hostile_inputs;
mod limits;
mod operations;
mod otlp;
mod properties;
mod server_api;
mod server_lifecycle;
mod soak;
mod spans;
mod ui;
mod zipkin;
mod zipkin_contract;
mod zipkin_search;
