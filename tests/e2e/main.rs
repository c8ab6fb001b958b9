//! End-to-end tests: the real `tracekeep-server` binary on `127.0.0.1:0`,
//! driven over real sockets (tonic for gRPC, a raw HTTP/1.1 client for HTTP).
//!
//! The binaries are found next to this test's own executable (cargo puts
//! them in the same target directory); `scripts/test.sh` builds them first.
#![allow(clippy::unwrap_used, missing_docs)]

mod access;
mod bucket_faults;
mod client;
mod cluster;
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

/// `options` for a store a test opens in-process in `data_dir`, on the
/// bucket a server of that directory would use when the suite runs on one.
fn store_options(data_dir: &std::path::Path, options: tracekeep_store::StoreOptions) -> tracekeep_store::StoreOptions {
    tracekeep_store::StoreOptions {
        bucket: tracekeep_e2e::harness::bucket_for(data_dir),
        ..options
    }
}
