//! Compiles `proto/*.proto` with protox (pure Rust), so no system `protoc` is needed.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Read at run time, not with `env!`: cargo reuses a compiled build script
    // across clones of the workspace in one target directory, and a path baked
    // in at compile time would point at whichever clone built it first.
    let proto_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?).join("../../proto");
    let tracer = proto_dir.join("tracer.proto");
    println!("cargo:rerun-if-changed={}", proto_dir.display());

    let descriptors = protox::compile([&tracer], [&proto_dir])?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        // Maps in sorted order, as Go's encoding/json prints them.
        .btree_map(".")
        .compile_fds(descriptors.clone())?;

    // The ingest server again, with the upload requests read as raw event bytes
    // (`crate::ingest::EncodedEvents`, the same wire format) so the server can
    // store each event as it arrived. Every other type is the one generated above.
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?).join("ingest");
    std::fs::create_dir_all(&out_dir)?;
    let mut ingest = tonic_prost_build::configure()
        .build_client(false)
        .build_server(true)
        .out_dir(&out_dir)
        .extern_path(".pb", "crate::pb");
    for request in [
        ".pb.UploadSyncerBinlogEventRequest",
        ".pb.UploadSyncerJobEventRequest",
        ".pb.UploadSpansRequest",
    ] {
        ingest = ingest.extern_path(request, "crate::ingest::EncodedEvents");
    }
    ingest.compile_fds(descriptors)?;

    // Zipkin's proto3 span list, decoded by the server's Zipkin ingest.
    let zipkin = protox::compile([proto_dir.join("zipkin.proto")], [&proto_dir])?;
    tonic_prost_build::configure()
        .build_client(false)
        .build_server(false)
        .btree_map(".")
        .compile_fds(zipkin)?;
    Ok(())
}
